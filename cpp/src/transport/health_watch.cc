#include "transport/health_watch.h"

#include "io/trace.h"
#include "rpc/client_call.h"
#include "transport/client_connection.h"
#include "transport/subchannel.h"
#include "transport/transport_context.h"

namespace turbogrpc::internal {
namespace {
constexpr const char* kWatchMethod = "/grpc.health.v1.Health/Watch";
constexpr int kServing = 1;  // grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING

// The two messages are one field each; the engine links no protobuf runtime, so their wire
// format (varint tags and lengths) is written out here.
void put_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

bool get_varint(const std::string& in, size_t& at, uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64 && at < in.size(); shift += 7) {
    auto byte = static_cast<uint8_t>(in[at++]);
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

std::string describe_status(const std::optional<int32_t>& status) {
  if (!status) return "the response did not parse as a HealthCheckResponse";
  switch (*status) {
    case 0: return "UNKNOWN";
    case 2: return "NOT_SERVING";
    case 3: return "SERVICE_UNKNOWN";
  }
  return "status " + std::to_string(*status);
}
}  // namespace

std::string encode_health_request(const std::string& service) {
  std::string out;
  if (service.empty()) return out;  // proto3: an empty string is not sent
  out.push_back(0x0a);              // field 1, length-delimited
  put_varint(out, service.size());
  out += service;
  return out;
}

std::optional<int32_t> decode_health_status(const std::string& message) {
  int32_t status = 0;  // UNKNOWN when absent (proto3 default)
  size_t at = 0;
  while (at < message.size()) {
    uint64_t tag = 0, value = 0;
    if (!get_varint(message, at, tag)) return std::nullopt;
    switch (tag & 7) {  // skip fields we do not know, by wire type
      case 0:
        if (!get_varint(message, at, value)) return std::nullopt;
        // An enum is an int32: protobuf keeps the low 32 bits, so 2^32 + 1 is SERVING and
        // 2^31 + 1 is a negative (unknown) status, not SERVING.
        if (tag >> 3 == 1) status = static_cast<int32_t>(static_cast<uint32_t>(value));
        break;
      case 1: at += 8; break;
      case 2:
        if (!get_varint(message, at, value) || value > message.size() - std::min(at, message.size()))
          return std::nullopt;
        at += value;
        break;
      case 5: at += 4; break;
      default: return std::nullopt;
    }
    if (at > message.size()) return std::nullopt;
  }
  return status;
}

HealthWatch::HealthWatch(TransportContext& context, uint64_t channel_id, std::string service,
                         const ChannelOptions& options)
    : context_(context),
      channel_id_(channel_id),
      service_(std::move(service)),
      options_(options),
      // Events arm a timer rather than being handled where they are pushed: inside the
      // connection's frame handling, where the subchannel must not change state.
      events_(std::make_shared<CompletionQueue>([&context, channel_id] {
        context.timers().add(Clock::now(), TimerKind::kChannelHealth, channel_id);
      })),
      backoff_(reconnect_backoff_settings(options)) {}

HealthWatch::~HealthWatch() { stop(); }

void HealthWatch::start(ClientConnection* connection, const std::string& authority,
                        const std::string& user_agent) {
  stop();
  connection_ = connection;
  authority_ = authority;
  user_agent_ = user_agent;
  backoff_.reset();
  start_call();
}

void HealthWatch::start_call() {
  StartCallCommand command;
  command.channel_id = channel_id_;
  command.call_id = context_.new_id();
  command.cq = events_;
  command.method = kWatchMethod;
  command.shape = CallShape::kStreaming;
  command.wait_for_ready = WaitForReady::kNo;
  call_id_ = command.call_id;
  answered_ = false;
  verdict_ = Verdict::kPending;  // A17: CONNECTING again while a new watch starts
  restart_at_ = backoff_.begin_attempt(Clock::now()).retry_at;
  auto call = std::make_unique<ClientCall>(std::move(command), options_, nullptr, nullptr, context_.calls(),
                                           context_.codec_offload());
  ClientCall* started = call.get();
  connection_->start_call(std::move(call), authority_, user_agent_);
  if (started->finished()) return;  // refused at once; its kFinished is queued
  SendMessageCommand request;
  request.call_id = call_id_;
  request.message = encode_health_request(service_);
  request.end_of_stream = true;
  started->send(std::move(request));
  started->read();
}

void HealthWatch::stop() {
  if (call_id_ != 0) {
    if (Call* call = context_.calls().find(call_id_)) call->cancel({StatusCode::kCancelled, "health watch stopped"});
  }
  call_id_ = 0;
  connection_ = nullptr;
  restart_due_ = false;
  verdict_ = Verdict::kPending;
}

bool HealthWatch::poll(Clock::time_point now) {
  Verdict before = verdict_;
  for (Event& e : events_->drain()) {
    if (e.call_id != call_id_ || call_id_ == 0) continue;  // a stopped watch's last words
    if (e.kind == EventKind::kMessage && e.message) {
      std::optional<int32_t> status = decode_health_status(*e.message);
      answered_ = true;
      backoff_.reset();
      verdict_ = status == kServing ? Verdict::kServing : Verdict::kNotServing;
      last_error_ = status == kServing ? "" : "health check: " + describe_status(status) + " for '" + service_ + "'";
      if (Call* call = context_.calls().find(call_id_)) call->read();
    } else if (e.kind == EventKind::kFinished) {
      call_id_ = 0;
      if (e.status.code == StatusCode::kUnimplemented) {
        // A17: a server without the health service is used unchecked, and not asked again.
        verdict_ = Verdict::kUnchecked;
        if (tracing(Trace::kChannel)) {
          trace_line(Trace::kChannel, "channel " + std::to_string(channel_id_) +
                                          ": health checking disabled: the server has no health service "
                                          "(UNIMPLEMENTED '" + e.status.details + "')");
        }
        continue;
      }
      verdict_ = Verdict::kNotServing;
      last_error_ = "health watch failed: " + e.status.details;
      // After a watch that answered, the next starts at once; otherwise after the backoff.
      if (answered_) restart_at_ = now;
      restart_due_ = connection_ != nullptr;
      if (restart_due_) context_.timers().add(restart_at_, TimerKind::kChannelHealth, channel_id_);
    }
  }
  if (restart_due_ && connection_ != nullptr && now >= restart_at_) {
    restart_due_ = false;
    start_call();
  }
  return verdict_ != before;
}

}  // namespace turbogrpc::internal
