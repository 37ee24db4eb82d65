// ClientCall: one outgoing RPC — request headers, the response headers and trailers, and the
// status it ends with. I/O-free: its ClientConnection feeds it and sends what it queues; it
// reaches its stream only through StreamPort (rpc/stream_port.h).
#pragma once

#include <optional>
#include <string>

#include "io/timer_queue.h"
#include "rpc/call.h"
#include "rpc/hedging.h"
#include "rpc/metadata_budget.h"
#include "rpc/retry.h"
#include "turbogrpc/service_config.h"

namespace turbogrpc::internal {

class ClientCall final : public Call {
 public:
  // `method_config`: the service config's entry for the call's method (may be null); its
  // timeout, wait_for_ready, message limits and retry policy apply. `throttle` and
  // `retry_buffer`: the channel's retry throttle and retry buffer (either may be null); only a
  // call with a retry policy uses them.
  ClientCall(StartCallCommand&& command, const ChannelOptions& options, const MethodConfig* method_config,
             std::shared_ptr<RetryThrottle> throttle, CallRegistry& registry, CodecOffload* offload,
             std::shared_ptr<RetryBufferBudget> retry_buffer = nullptr);
  // A later attempt of a hedged call: the first one's request, `attempt_index` as its
  // grpc-previous-rpc-attempts. Not in the registry until it is the call's front.
  ClientCall(std::shared_ptr<Hedging> hedging, int attempt_index);
  ~ClientCall() override;

  const std::string& method() const { return method_; }
  const Metadata& request_metadata() const { return metadata_; }
  bool awaits_metadata() const { return awaits_metadata_; }
  // The call credentials' metadata is in: the call may start.
  void add_metadata(Metadata&& metadata);
  const std::optional<Clock::time_point>& deadline() const { return deadline_; }
  bool wait_for_ready() const { return wait_for_ready_; }
  bool finished() const { return finished_; }

  // Commands
  void send(SendMessageCommand&& command) override {
    queue(std::move(command.message), command.end_of_stream, command.compress, command.ack_wakes);
  }
  void half_close() override;
  void cancel(const Status& status) override;
  void on_deadline() override;

  // From the transport
  void begin_headers(bool trailers_block, bool end_stream);
  void on_header(std::string_view name, std::string_view value);
  void end_headers();
  // The server ended its side (END_STREAM): the call is over, whatever we were still sending.
  void on_peer_end_stream();
  void on_stream_closed(uint32_t error_code) override;
  void on_connection_lost(const Status& reason) override;
  // Ends the call now (connection lost, connect failed, channel closed) and resets the stream.
  void fail(const Status& status, std::string debug_error);

  // Transparent retry (gRPC's A6): a stream the server refused (REFUSED_STREAM, or above a
  // GOAWAY's last stream id) never reached an application, so the call may go again, once, on
  // another stream — if no response started and what it sent is still held (the per-RPC retry
  // buffer, grpc.per_rpc_retry_buffer_size).
  bool can_retry_transparently() const { return !finished_ && !committed_ && !retried_ && retaining(); }
  // Detaches from the refused stream and rewinds what was sent; start it again with attach().
  void prepare_transparent_retry();

  // Configured retry (the method's retryPolicy): the attempt failed before the call committed
  // and another is due after retry_delay(). Whoever holds the call hands it to the channel,
  // which calls prepare_retry() and sends it again when the delay is over.
  bool retry_due() const { return retry_due_ && !finished_; }
  Clock::duration retry_delay() const { return retry_delay_; }
  void prepare_retry();
  // The attempt failed before reaching a stream (no connection, refused by the transport):
  // the call ends with `status` unless its retry policy sends it again (retry_due()).
  void fail_attempt(const Status& status, std::string debug_error);
  // Attempts before this one (sent as grpc-previous-rpc-attempts; 0 on the first).
  int previous_attempts() const {
    return hedging_ ? attempt_index_ : retry_ ? retry_->previous_attempts() : 0;
  }
  // The call's hedging (null: not hedged); the channel tells it when an attempt is sent.
  Hedging* hedging() const { return hedging_.get(); }

 protected:
  void on_receive_error(Status status) override;
  StatusCode unsupported_encoding_code() const override { return StatusCode::kInternal; }
  void on_message_ready() override { deliver_messages(); }
  // A response that is not HTTP 200 is not gRPC (a proxy's error page, say): its body is not
  // parsed as messages; the call ends by the HTTP status when the stream does.
  bool ignores_data() const override { return finished_ || (http_status_ != 0 && http_status_ != 200); }
  void on_inbound_settled() override;
  // What a call with a retry policy keeps for replay counts against the channel's retry buffer.
  bool retained_grows(size_t bytes) override { return retry_->hold_buffer(bytes); }
  void retained_dropped() override { retry_->release_buffer(); }

 private:
  friend class Hedging;  // drives its attempts' streams

  void queue(std::string&& message, bool end_of_stream, bool compress, bool ack_wakes);
  // Queues one message on this attempt's stream alone (no kWriteDone owed): hedging's fan-out.
  void queue_on_attempt(std::string&& message, bool end_of_stream, bool compress);
  Status resolve_status(uint32_t error_code);
  // The attempt is over with `status`: another attempt becomes due, or the call completes.
  void end_attempt(Status status, std::string debug_error);
  void complete(Status status, std::string debug_error);

  const std::string method_;
  Metadata metadata_;  // fixed once the call starts
  bool awaits_metadata_;
  std::optional<Clock::time_point> deadline_;
  const CallShape shape_;
  const bool wait_for_ready_;
  // Set when the method has a retry policy (and retries are on); a pointer, so calls without
  // one stay as small as before.
  std::unique_ptr<RetryState> retry_;
  bool retry_due_ = false;
  Clock::duration retry_delay_{};
  // Set when the method has a hedging policy (and retries are on), shared by its attempts.
  std::shared_ptr<Hedging> hedging_;
  // grpc-retry-pushback-ms of the current attempt (rare: a pointer keeps the call small).
  std::unique_ptr<std::string> pushback_;
  bool pushback_repeated_ = false;
  bool hedge_submitted_ = false;  // this attempt was sent (Hedging::on_attempt_submitted)
  int attempt_index_ = 0;  // hedged: this attempt's grpc-previous-rpc-attempts

  // Response state
  bool in_trailers_ = false;        // the header block being read goes to trailing metadata
  bool trailers_seen_ = false;      // trailers (or a trailers-only response) arrived
  bool initial_sent_ = false;       // kInitialMetadata was pushed
  int http_status_ = 0;
  std::string content_type_;
  std::optional<StatusCode> grpc_status_;
  bool grpc_status_malformed_ = false;
  std::string grpc_message_;
  Metadata initial_metadata_;
  Metadata trailing_metadata_;
  MetadataBudget budget_;
  std::optional<std::string> bad_binary_header_;  // the first -bin header that is not base64
  bool finished_ = false;
  bool committed_ = false;  // response headers (not trailers-only) arrived: no retry from here on
  bool retried_ = false;    // already retried transparently once
  // The server ended the call while received messages were still being decompressed: the
  // status is reported once they are all in (on_inbound_settled).
  bool end_deferred_ = false;
};

}  // namespace turbogrpc::internal
