// ServerCall: one incoming RPC — request headers, when to hand it to the application, the
// response headers, messages and trailers. I/O-free: its ServerConnection feeds it, and it sends
// through StreamPort (rpc/stream_port.h) as plain header fields and Metadata.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "io/timer_queue.h"
#include "rpc/call.h"
#include "rpc/metadata_budget.h"

namespace turbogrpc::internal {

class ServerCall final : public Call {
 public:
  ServerCall(uint64_t id, uint64_t server_id, std::shared_ptr<CompletionQueue> cq,
             const ServerOptions& options, CallRegistry& registry, CodecOffload* offload,
             std::string peer, std::shared_ptr<const AuthContext> auth = nullptr);

  // Commands
  void send(SendMessageCommand&& command) override;
  void send_initial_metadata(SendInitialMetadataCommand&& command) override;
  void finish(FinishCommand&& command) override;
  void cancel(const Status& status) override;
  void on_deadline() override;

  // From the transport
  void on_header(std::string_view name, std::string_view value);
  // The request headers are complete. Returns false when the request is not gRPC (the call
  // answered it already). `preread` holds the request back until its message is in.
  bool on_request_headers(bool end_stream, bool preread);
  void on_peer_end_stream();
  void on_stream_closed(uint32_t error_code) override;
  void on_connection_lost(const Status&) override;
  // Our final frame went out; true when the peer still sends (the stream then needs a reset).
  bool ended_before_peer() const { return !peer_half_closed_; }
  std::optional<Clock::time_point> deadline() const { return deadline_; }
  const std::string& path() const { return path_; }

 protected:
  void on_receive_error(Status status) override;
  StatusCode unsupported_encoding_code() const override { return StatusCode::kUnimplemented; }
  void on_message_ready() override;
  bool ignores_data() const override { return done_; }
  void on_inbound_settled() override;
  void on_outbound_end(uint32_t* data_flags) override;

 private:
  void deliver_call();
  // Sets the response compression from the application's wish, before the headers go out.
  void choose_compression(Compression wanted);
  void send_headers(const Metadata& metadata);
  // Ends the call with `status` on the wire; `notify` pushes kServerDone to the application.
  void end_with(Status status, bool notify);
  void respond_http_error(int http_status, StatusCode code, std::string message);
  // Submits response headers, `fields` then `metadata`. A submission the session refuses
  // resets the stream, so it cannot hang open.
  void submit_headers(const HeaderFields& fields, const Metadata& metadata, ResponseBody body);

  const uint64_t server_id_;
  const std::string peer_;
  const std::shared_ptr<const AuthContext> auth_;  // the connection's; null: plaintext
  std::string path_, authority_, method_verb_, content_type_;
  Metadata request_metadata_;
  std::optional<Clock::time_point> deadline_;
  double timeout_seconds_ = -1;
  std::optional<std::string> bad_timeout_;  // a grpc-timeout value that does not parse
  std::optional<std::string> bad_binary_header_;  // the first -bin header that is not base64
  MetadataBudget budget_;
  EncodingSet peer_accepts_ = kIdentityOnly;  // from the client's grpc-accept-encoding
  const EncodingSet enabled_;  // the algorithms this server uses (ServerOptions::enabled_compression)
  std::string request_encoding_;  // the client's grpc-encoding
  bool preread_ = false;
  bool delivered_ = false;    // kServerCall was pushed
  bool headers_sent_ = false;
  bool done_ = false;         // finished by the handler, or ended by the engine
  Status final_status_;
  Metadata final_trailing_;
};

}  // namespace turbogrpc::internal
