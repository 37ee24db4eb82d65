#include "rpc/client_call.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>

#include "codec/base64.h"
#include "codec/metadata_rules.h"
#include "codec/percent_encoding.h"
#include "rpc/deadline.h"
#include "rpc/status_mapping.h"

namespace turbogrpc::internal {

namespace {

// The smaller of the channel's limit (-1: none) and the method's (if any).
int64_t tighter_limit(int64_t channel_limit, const std::optional<int64_t>& method_limit) {
  if (!method_limit) return channel_limit;
  return channel_limit < 0 ? *method_limit : std::min(channel_limit, *method_limit);
}

// The call hedges: its method has a hedging policy and retries are on. Hedged calls
// (de)compress on the poller, so that an attempt refilled from the replay buffer has no
// message still in flight to the codec worker.
bool hedges(const ChannelOptions& options, const MethodConfig* config) {
  return config != nullptr && config->hedging && !config->retry && options.enable_retries;
}

bool waits_for_ready(WaitForReady asked, const MethodConfig* config) {
  if (asked != WaitForReady::kDefault) return asked == WaitForReady::kYes;
  return config != nullptr && config->wait_for_ready.value_or(false);
}

}  // namespace

ClientCall::ClientCall(StartCallCommand&& command, const ChannelOptions& options,
                       const MethodConfig* method_config, std::shared_ptr<RetryThrottle> throttle,
                       CallRegistry& registry, CodecOffload* offload,
                       std::shared_ptr<RetryBufferBudget> retry_buffer)
    : Call(command.call_id, std::move(command.cq),
           tighter_limit(options.max_receive_message_length,
                         method_config ? method_config->max_response_bytes : std::nullopt),
           tighter_limit(options.max_send_message_length,
                         method_config ? method_config->max_request_bytes : std::nullopt),
           registry, hedges(options, method_config) ? nullptr : offload),
      method_(std::move(command.method)),
      metadata_(std::move(command.metadata)),
      awaits_metadata_(command.awaits_metadata),
      shape_(command.shape),
      wait_for_ready_(waits_for_ready(command.wait_for_ready, method_config)),
      budget_(options.max_metadata_size, options.absolute_max_metadata_size) {
  // A negative timeout_seconds means none was given; see rpc/deadline.h for the rest.
  if (command.timeout_seconds >= 0) deadline_ = deadline_after_seconds(command.timeout_seconds, Clock::now());
  if (method_config && method_config->timeout_seconds) {
    auto configured = deadline_after_seconds(*method_config->timeout_seconds, Clock::now());
    if (configured && (!deadline_ || *configured < *deadline_)) deadline_ = configured;
  }
  if (method_config && method_config->retry && options.enable_retries)
    retry_ = std::make_unique<RetryState>(*method_config->retry, std::move(throttle), std::move(retry_buffer));
  if (hedges(options, method_config)) {
    HedgeSeed seed;
    seed.id = id_;
    seed.cq = cq_;
    seed.registry = &registry;
    seed.max_receive_size = tighter_limit(options.max_receive_message_length, method_config->max_response_bytes);
    seed.max_send_size = max_send_size_;
    seed.max_metadata_size = options.max_metadata_size;
    seed.absolute_max_metadata_size = options.absolute_max_metadata_size;
    seed.per_rpc_buffer = static_cast<size_t>(std::max<int64_t>(0, options.per_rpc_retry_buffer_size));
    seed.method = method_;
    seed.metadata = metadata_;
    seed.deadline = deadline_;
    seed.shape = shape_;
    seed.wait_for_ready = wait_for_ready_;
    seed.compression = command.compression;
    hedging_ = std::make_shared<Hedging>(*method_config->hedging, std::move(throttle), std::move(retry_buffer),
                                         std::move(seed));
    hedging_->add(*this);
    attempt_index_ = hedging_->decisions().start_attempt();
  }
  set_send_compression(command.compression);
  // Only a call with a retry policy counts against the channel's retry buffer: the others keep
  // their requests just until the response starts (transparent retries), at no extra cost.
  retain_sent(static_cast<size_t>(std::max<int64_t>(0, options.per_rpc_retry_buffer_size)),
              retry_ ? RetainBudget::kShared : RetainBudget::kOwn);
  if (shape_ == CallShape::kUnary) queue(std::move(command.message).value_or(std::string()), true, true, true);
}

ClientCall::ClientCall(std::shared_ptr<Hedging> hedging, int attempt_index)
    : Call(hedging->seed().id, hedging->seed().cq, hedging->seed().max_receive_size,
           hedging->seed().max_send_size, *hedging->seed().registry, nullptr, Registered::kNo),
      method_(hedging->seed().method),
      metadata_(hedging->seed().metadata),
      awaits_metadata_(false),
      deadline_(hedging->seed().deadline),
      shape_(hedging->seed().shape),
      wait_for_ready_(hedging->seed().wait_for_ready),
      hedging_(std::move(hedging)),
      attempt_index_(attempt_index),
      budget_(hedging_->seed().max_metadata_size, hedging_->seed().absolute_max_metadata_size) {
  set_send_compression(hedging_->seed().compression);
  retain_sent(hedging_->seed().per_rpc_buffer, RetainBudget::kOwn);  // for a transparent retry
  hedging_->add(*this);
}

ClientCall::~ClientCall() {
  if (hedging_) hedging_->unlink(*this);
}

void ClientCall::add_metadata(Metadata&& metadata) {
  if (hedging_) hedging_->seed().metadata.insert(hedging_->seed().metadata.end(), metadata.begin(), metadata.end());
  for (auto& entry : metadata) metadata_.push_back(std::move(entry));
  awaits_metadata_ = false;
}

void ClientCall::queue(std::string&& message, bool end_of_stream, bool compress,
                       bool ack_wakes) {
  if (finished_) return;
  bool unary = shape_ == CallShape::kUnary;
  if (outbound_closed()) {
    if (!unary) push_write_done(false);
    return;
  }
  if (hedging_ && hedging_->replaying()) {
    if (max_send_size_ >= 0 && static_cast<int64_t>(message.size()) > max_send_size_) {
      fail(send_limit_status(message.size()), "send limit");
      return;
    }
    hedging_->on_send(std::move(message), end_of_stream, compress);
    // In the replay buffer now; its limits bound what the application can queue this way.
    if (!unary && !finished_) push_write_done(true);
    return;
  }
  if (!queue_message(std::move(message), compress)) {
    fail(send_limit_status(message.size()), "send limit");
    return;
  }
  if (end_of_stream) close_outbound();
  if (!unary) owe_write_done(ack_wakes);
}

void ClientCall::queue_on_attempt(std::string&& message, bool end_of_stream, bool compress) {
  if (finished_ || outbound_closed()) return;
  queue_message(std::move(message), compress);  // the size was checked once, for all attempts
  if (end_of_stream) close_outbound();
}

void ClientCall::half_close() {
  if (finished_ || outbound_closed()) return;
  if (hedging_ && hedging_->replaying()) hedging_->on_half_close();
  else close_outbound();
}

void ClientCall::cancel(const Status& status) { fail(status, "cancelled by the application"); }

void ClientCall::on_deadline() {
  fail({StatusCode::kDeadlineExceeded, "Deadline Exceeded"}, "deadline exceeded");
}

void ClientCall::begin_headers(bool trailers_block, bool end_stream) {
  // A response that ends with its first header block is trailers-only: its metadata is trailing.
  in_trailers_ = trailers_block || end_stream;
  if (!committed_ && !in_trailers_) {
    committed_ = true;  // response headers: the application may see them, so no retry from here on
    stop_retaining();
    if (hedging_) hedging_->commit(*this);
  }
  budget_.start_block();
}

void ClientCall::on_header(std::string_view name, std::string_view value) {
  if (finished_ || !budget_.add(name, value)) return;  // refused at the end of the block
  if (name == ":status") {
    http_status_ = 0;
    for (char c : value) http_status_ = (c >= '0' && c <= '9') ? http_status_ * 10 + (c - '0') : -1;
    return;
  }
  if (name == "content-type") {
    content_type_ = value;
    return;
  }
  if (name == "grpc-status") {
    grpc_status_ = parse_grpc_status(value);
    grpc_status_malformed_ = !grpc_status_;
    return;
  }
  if (name == "grpc-message") {
    grpc_message_ = percent_decode(value);
    return;
  }
  if (name == "grpc-retry-pushback-ms" && (retry_ || hedging_)) {  // also left in the trailing metadata
    pushback_repeated_ = pushback_ != nullptr;
    pushback_ = std::make_unique<std::string>(value);
  }
  if (name == "grpc-encoding") {
    set_receive_encoding(value);
    return;
  }
  if (is_hidden_received_header(name)) return;
  Metadata& target = in_trailers_ ? trailing_metadata_ : initial_metadata_;
  if (is_binary_key(name)) {
    auto decoded = base64_decode(value);
    if (!decoded) {
      if (!bad_binary_header_) bad_binary_header_ = std::string(name);
      return;
    }
    target.emplace_back(std::string(name), std::move(*decoded));
  } else {
    target.emplace_back(std::string(name), std::string(value));
  }
}

void ClientCall::end_headers() {
  if (finished_) return;
  if (budget_.refuses_block()) {
    fail(budget_.refusal(in_trailers_ ? "Received trailing metadata" : "Received initial metadata"),
         "metadata limit");
    return;
  }
  if (bad_binary_header_) {
    fail({StatusCode::kInternal, "Invalid base64 in binary header '" + *bad_binary_header_ + "'"},
         "bad binary metadata");
    return;
  }
  if (in_trailers_) {
    trailers_seen_ = true;
    return;
  }
  if (shape_ == CallShape::kStreaming && !initial_sent_ && !finished_ && http_status_ == 200) {
    initial_sent_ = true;
    Event e;
    e.kind = EventKind::kInitialMetadata;
    e.call_id = id_;
    e.initial_metadata = initial_metadata_;
    push(std::move(e));
  }
}

void ClientCall::on_receive_error(Status status) {
  std::string debug = status.details;
  fail(std::move(status), std::move(debug));
}

Status ClientCall::resolve_status(uint32_t error_code) {
  if (!trailers_seen_) {
    // A server whose copy of our deadline expired first resets with CANCEL; to the application
    // that is still its deadline passing, as grpc-core and grpc-go report it.
    if (error_code == NGHTTP2_CANCEL && deadline_ && Clock::now() >= *deadline_)
      return {StatusCode::kDeadlineExceeded, "Deadline Exceeded"};
    if (error_code != NGHTTP2_NO_ERROR) return status_from_rst_stream(error_code);
    if (http_status_ != 0 && http_status_ != 200) return status_from_http(http_status_);
    return {StatusCode::kInternal, "Server closed the stream without sending trailers"};
  }
  // The HTTP status decides only without a grpc-status (gRPC's status-mapping doc): a proxy's
  // own reply may carry one (nginx's error_page recipe answers 204 with grpc-status 14).
  if (http_status_ != 200) {
    if (grpc_status_) return {*grpc_status_, grpc_message_};
    return status_from_http(http_status_);
  }
  if (!content_type_.empty() && content_type_.rfind("application/grpc", 0) != 0)
    return {StatusCode::kUnknown, "Invalid content-type '" + content_type_ + "' in the response"};
  if (!grpc_status_) {
    return {StatusCode::kUnknown, grpc_status_malformed_ ? "Invalid grpc-status in trailers"
                                                         : "Missing grpc-status in trailers"};
  }
  // An OK status has no details for the application, whatever the server sent: grpc-core's
  // clients (grpcio, grpc.aio) report "" then, and code that logs details() relies on it.
  Status status{*grpc_status_, *grpc_status_ == StatusCode::kOk ? std::string() : grpc_message_};
  if (status.ok() && deframer_.has_partial_message())
    return {StatusCode::kInternal, "Stream ended in the middle of a message"};
  return status;
}

void ClientCall::on_peer_end_stream() {
  if (finished_) return;
  bool still_sending = !end_of_stream_sent();
  if (inbound_waiting()) end_deferred_ = true;
  else end_attempt(resolve_status(NGHTTP2_NO_ERROR), "");
  // The status is final (or this attempt's is); what we had left to send is moot. NO_ERROR:
  // nothing went wrong.
  if (still_sending && port_ != nullptr) port_->reset_stream(stream_id_, NGHTTP2_NO_ERROR);
}

void ClientCall::on_inbound_settled() {
  if (end_deferred_ && !finished_) complete(resolve_status(NGHTTP2_NO_ERROR), "");
}

void ClientCall::on_stream_closed(uint32_t error_code) {
  detach();
  if (finished_ || end_deferred_ || retry_due_) return;  // a deferred end comes with the last message
  end_attempt(resolve_status(error_code), "");
}

void ClientCall::prepare_transparent_retry() {
  detach();
  rewind_outbound();
  retried_ = true;  // a second refusal ends the call
  if (!retry_) stop_retaining();  // kept for a configured retry otherwise
}

void ClientCall::on_connection_lost(const Status& reason) {
  detach();
  if (!finished_ && !retry_due_) end_attempt(reason, "connection closed");
}

void ClientCall::fail_attempt(const Status& status, std::string debug_error) {
  if (finished_) return;
  if (port_ != nullptr) port_->reset_stream(stream_id_, NGHTTP2_CANCEL);
  end_attempt(status, std::move(debug_error));
}

void ClientCall::end_attempt(Status status, std::string debug_error) {
  if (hedging_) {
    if (!committed_ && hedging_->attempt_ended(*this, status)) return;
    if (committed_ && status.ok()) hedging_->decisions().on_success();
  }
  if (retry_ && !status.ok() && !committed_ && retaining()) {
    std::optional<std::string_view> pushback;
    if (pushback_) pushback = *pushback_;
    if (auto delay = retry_->after_failure(status.code, pushback, pushback_repeated_)) {
      retry_due_ = true;
      retry_delay_ = *delay;
      return;
    }
  }
  if (retry_ && status.ok()) retry_->on_success();
  complete(std::move(status), std::move(debug_error));
}

void ClientCall::prepare_retry() {
  detach();
  if (hedging_) hedging_->refill(*this);
  else rewind_outbound();
  retry_due_ = false;
  // Nothing of the failed attempt's response reached the application (it had not committed).
  in_trailers_ = trailers_seen_ = false;
  http_status_ = 0;
  content_type_.clear();
  grpc_status_.reset();
  grpc_status_malformed_ = false;
  grpc_message_.clear();
  initial_metadata_.clear();
  trailing_metadata_.clear();
  bad_binary_header_.reset();
  pushback_.reset();
  pushback_repeated_ = false;
}

void ClientCall::fail(const Status& status, std::string debug_error) {
  if (finished_) return;
  if (port_ != nullptr) port_->reset_stream(stream_id_, NGHTTP2_CANCEL);
  complete(status, std::move(debug_error));
}

void ClientCall::complete(Status status, std::string debug_error) {
  finished_ = true;
  if (hedging_) hedging_->on_complete(*this);  // the others are cancelled; this one is registered
  if (retry_) stop_retaining();  // its share of the channel's retry buffer goes back now
  leave_registry();
  Event e;
  e.call_id = id_;
  e.debug_error = std::move(debug_error);
  if (shape_ == CallShape::kUnary) {
    if (status.ok()) {
      if (has_messages()) set_event_message(e, take_message());
      if (!e.message || has_messages())
        status = {StatusCode::kInternal, e.message ? "Received more than one response message for a unary call"
                                                   : "Received no response message for a unary call"};
    }
    e.kind = EventKind::kUnaryDone;
    e.initial_metadata = std::move(initial_metadata_);
  } else {
    flush_inbox(/*end_marker=*/status.ok());
    e.kind = EventKind::kFinished;
    if (!initial_sent_) {
      e.initial_metadata = std::move(initial_metadata_);
      e.initial_metadata_included = true;
    }
  }
  e.status = std::move(status);
  e.trailing_metadata = std::move(trailing_metadata_);
  push(std::move(e));
}

}  // namespace turbogrpc::internal
