#include "rpc/server_call.h"

#include <nghttp2/nghttp2.h>

#include "codec/base64.h"
#include "codec/compression.h"
#include "codec/metadata_rules.h"
#include "codec/percent_encoding.h"
#include "codec/timeout_codec.h"
#include "rpc/deadline.h"

namespace turbogrpc::internal {
namespace {

// grpc-status and grpc-message (percent-encoded, left out when empty) for a status, kept alive
// until the header list holding them is submitted.
class StatusHeaders {
 public:
  explicit StatusHeaders(const Status& status)
      : code_(std::to_string(static_cast<int>(status.code))), message_(percent_encode(status.details)) {}
  void append_to(HeaderFields& fields) const {
    fields.emplace_back("grpc-status", code_);
    if (!message_.empty()) fields.emplace_back("grpc-message", message_);
  }

 private:
  std::string code_, message_;
};

}  // namespace

ServerCall::ServerCall(uint64_t id, uint64_t server_id, std::shared_ptr<CompletionQueue> cq,
                       const ServerOptions& options, CallRegistry& registry,
                       CodecOffload* offload, std::string peer,
                       std::shared_ptr<const AuthContext> auth)
    : Call(id, std::move(cq), options.max_receive_message_length, options.max_send_message_length,
           registry, offload),
      server_id_(server_id),
      peer_(std::move(peer)),
      auth_(std::move(auth)),
      budget_(options.max_metadata_size, options.absolute_max_metadata_size),
      enabled_(static_cast<EncodingSet>(options.enabled_compression | kIdentityOnly)) {}

void ServerCall::on_header(std::string_view name, std::string_view value) {
  if (!budget_.add(name, value)) return;  // refused at the end of the block; keep nothing more
  if (name == ":path") path_ = value;
  else if (name == ":authority") authority_ = value;
  else if (name == ":method") method_verb_ = value;
  else if (name == "content-type") content_type_ = value;
  else if (name == "grpc-encoding") {
    set_receive_encoding(value);
    request_encoding_ = value;
  }
  else if (name == "grpc-accept-encoding") peer_accepts_ = parse_accept_encoding(value);
  else if (name == "grpc-timeout") {
    if (auto ns = parse_grpc_timeout_ns(value)) {
      timeout_seconds_ = static_cast<double>(*ns) / 1e9;
      deadline_ = deadline_after_ns(*ns, Clock::now());
    } else {
      bad_timeout_ = std::string(value);
    }
  } else if (is_hidden_received_header(name)) {
    return;
  } else if (is_binary_key(name)) {
    auto decoded = base64_decode(value);
    if (!decoded) {
      if (!bad_binary_header_) bad_binary_header_ = std::string(name);
      return;
    }
    request_metadata_.emplace_back(std::string(name), std::move(*decoded));
  } else {
    request_metadata_.emplace_back(std::string(name), std::string(value));
  }
}

bool ServerCall::on_request_headers(bool end_stream, bool preread) {
  if (end_stream) peer_half_closed_ = true;
  if (method_verb_ != "POST") {
    respond_http_error(405, StatusCode::kInternal, "gRPC requires method POST, got '" + method_verb_ + "'");
    return false;
  }
  if (content_type_.rfind("application/grpc", 0) != 0) {
    respond_http_error(415, StatusCode::kInternal, "Unsupported content-type '" + content_type_ + "'");
    return false;
  }
  if (path_.empty()) {
    respond_http_error(404, StatusCode::kUnimplemented, "Missing :path");
    return false;
  }
  if (budget_.refuses_block()) {
    end_with(budget_.refusal("Received metadata"), false);
    return false;
  }
  if (bad_binary_header_) {
    end_with({StatusCode::kInternal, "Invalid base64 in binary header '" + *bad_binary_header_ + "'"}, false);
    return false;
  }
  if (bad_timeout_) {
    // As grpc-core: a deadline we cannot read is an error, not a call without one.
    end_with({StatusCode::kInternal, "Invalid grpc-timeout header value '" + *bad_timeout_ + "'"}, false);
    return false;
  }
  if (deadline_ && *deadline_ <= Clock::now()) {
    // Already over ("0S", or a few nanoseconds that passed in transit): no handler runs.
    end_with({StatusCode::kDeadlineExceeded, "Deadline Exceeded"}, false);
    return false;
  }
  if (auto encoding = parse_encoding(request_encoding_); encoding && !contains(enabled_, *encoding)) {
    // grpc-core's answer, before any handler runs.
    end_with({StatusCode::kUnimplemented,
              "Compression algorithm '" + std::string(encoding_name(*encoding)) + "' is disabled."}, false);
    return false;
  }
  preread_ = preread;
  if (!preread_ || end_stream) deliver_call();
  return true;
}

void ServerCall::deliver_call() {
  if (delivered_ || done_) return;
  delivered_ = true;
  Event e;
  e.kind = EventKind::kServerCall;
  e.call_id = id_;
  e.server_id = server_id_;
  e.method = path_;
  e.authority = authority_;
  e.peer = peer_;
  e.auth = auth_;
  e.timeout_seconds = timeout_seconds_;
  e.initial_metadata = std::move(request_metadata_);
  e.request_preread = preread_;
  if (preread_ && has_messages()) set_event_message(e, take_message());
  push(std::move(e));
}

void ServerCall::on_message_ready() {
  if (!preread_) {
    deliver_messages();
    return;
  }
  if (!delivered_) deliver_call();  // takes the one request
  // A pre-read call's method takes exactly one request; more is a client error, not something
  // to drop silently (grpc-java answers the same way).
  if (has_messages()) end_with({StatusCode::kInternal, "Expected one request message, the client sent more"}, true);
}

void ServerCall::on_peer_end_stream() {
  peer_half_closed_ = true;
  if (inbound_waiting()) return;  // on_inbound_settled comes back here
  if (preread_ && !delivered_) deliver_call();
  else deliver_messages();
}

void ServerCall::on_inbound_settled() {
  if (peer_half_closed_) on_peer_end_stream();
}

void ServerCall::on_receive_error(Status status) { end_with(std::move(status), true); }

void ServerCall::choose_compression(Compression wanted) {
  // A client only decodes what it listed in grpc-accept-encoding; otherwise send identity.
  bool usable = contains(peer_accepts_, wanted) && contains(enabled_, wanted);
  if (!headers_sent_) set_send_compression(usable ? wanted : Compression::kNone);
}

void ServerCall::send_headers(const Metadata& metadata) {
  headers_sent_ = true;
  HeaderFields fields = {{":status", "200"}, {"content-type", "application/grpc"},
                         {"grpc-accept-encoding", accept_encoding_value(enabled_)}};
  if (send_compression() != Compression::kNone)
    fields.emplace_back("grpc-encoding", encoding_name(send_compression()));
  submit_headers(fields, metadata, ResponseBody::kFollows);
}

void ServerCall::submit_headers(const HeaderFields& fields, const Metadata& metadata,
                                ResponseBody body) {
  if (!port_->submit_response(stream_id_, fields, metadata, body))
    port_->reset_stream(stream_id_, NGHTTP2_INTERNAL_ERROR);
}

void ServerCall::send_initial_metadata(SendInitialMetadataCommand&& command) {
  if (done_ || headers_sent_ || port_ == nullptr) return;
  choose_compression(command.compression);
  send_headers(command.metadata);
}

void ServerCall::send(SendMessageCommand&& command) {
  if (done_ || port_ == nullptr) return;
  std::string& message = command.message;
  if (!headers_sent_) {
    choose_compression(command.compression);
    send_headers({});
  }
  if (!queue_message(std::move(message), command.compress)) {
    end_with(send_limit_status(message.size()), true);
    return;
  }
  owe_write_done(command.ack_wakes);
}

void ServerCall::finish(FinishCommand&& command) {
  if (done_ || port_ == nullptr) return;
  Status status = std::move(command.status);
  choose_compression(command.compression);
  if (command.message && !headers_sent_ && !done_) send_headers(command.initial_metadata);
  if (command.message && !queue_message(std::move(*command.message), command.compress_message))
    status = send_limit_status(command.message->size());
  if (!headers_sent_ && !command.initial_metadata.empty()) send_headers(command.initial_metadata);
  final_trailing_ = std::move(command.trailing_metadata);
  end_with(std::move(status), false);
}

void ServerCall::end_with(Status status, bool notify) {
  if (done_) return;
  done_ = true;
  leave_registry();
  if (notify && delivered_) {
    Event e;
    e.kind = EventKind::kServerDone;
    e.call_id = id_;
    e.status = status;
    push(std::move(e));
  }
  if (port_ == nullptr) return;
  final_status_ = std::move(status);
  if (!headers_sent_) {
    // Trailers-only: one HEADERS frame that ends the stream.
    HeaderFields fields = {{":status", "200"}, {"content-type", "application/grpc"},
                           {"grpc-accept-encoding", accept_encoding_value(enabled_)}};
    StatusHeaders status_headers(final_status_);
    status_headers.append_to(fields);
    headers_sent_ = true;
    submit_headers(fields, final_trailing_, ResponseBody::kNone);
    return;
  }
  close_outbound();  // the data source sends the trailers after the last message
}

void ServerCall::on_outbound_end(uint32_t* data_flags) {
  HeaderFields fields;
  StatusHeaders status_headers(final_status_);
  status_headers.append_to(fields);
  // The trailers end the stream; if nghttp2 refuses them, this DATA frame ends it instead (the
  // client then reports the missing status) rather than leaving the stream open forever.
  if (port_->submit_trailers(stream_id_, fields, final_trailing_))
    *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
}

void ServerCall::respond_http_error(int http_status, StatusCode code, std::string message) {
  done_ = true;
  leave_registry();
  std::string status = std::to_string(http_status);
  HeaderFields fields = {{":status", status}, {"content-type", "application/grpc"}};
  StatusHeaders status_headers(Status{code, std::move(message)});
  status_headers.append_to(fields);
  headers_sent_ = true;
  submit_headers(fields, {}, ResponseBody::kNone);
}

void ServerCall::cancel(const Status& status) {
  if (done_) return;
  done_ = true;
  leave_registry();
  if (port_ != nullptr) port_->reset_stream(stream_id_, NGHTTP2_CANCEL);
}

void ServerCall::on_deadline() {
  end_with({StatusCode::kDeadlineExceeded, "Deadline Exceeded"}, true);
}

void ServerCall::on_connection_lost(const Status&) { on_stream_closed(NGHTTP2_CANCEL); }

void ServerCall::on_stream_closed(uint32_t error_code) {
  if (!done_) {
    Status why = error_code == NGHTTP2_NO_ERROR
                     ? Status{StatusCode::kCancelled, "The client closed the stream"}
                     : Status{StatusCode::kCancelled, "Cancelled by the client"};
    detach();
    end_with(std::move(why), true);
  }
  detach();
}

}  // namespace turbogrpc::internal
