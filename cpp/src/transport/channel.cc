#include "transport/channel.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "io/trace.h"
#include "transport/client_connection.h"
#include "transport/transport_context.h"

namespace turbogrpc::internal {
namespace {
constexpr const char* kUserAgent = "grpc-python-turbogrpc/0.1.0";

const char* state_name(ConnectivityState state) {
  switch (state) {
    case ConnectivityState::kIdle: return "IDLE";
    case ConnectivityState::kConnecting: return "CONNECTING";
    case ConnectivityState::kReady: return "READY";
    case ConnectivityState::kTransientFailure: return "TRANSIENT_FAILURE";
    case ConnectivityState::kShutdown: return "SHUTDOWN";
  }
  return "?";
}

long long millis_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

BackoffSettings backoff_settings(const ChannelOptions& options) {
  BackoffSettings s;
  s.initial = std::chrono::milliseconds(std::max<int64_t>(1, options.initial_reconnect_backoff_ms));
  s.max = std::chrono::milliseconds(std::max<int64_t>(1, options.max_reconnect_backoff_ms));
  s.min_connect_timeout =
      std::chrono::milliseconds(std::max<int64_t>(1, options.min_reconnect_backoff_ms));
  return s;
}
}  // namespace

Channel::Channel(TransportContext& context, uint64_t id, std::string target, ChannelOptions options,
                 std::shared_ptr<ChannelStateCell> state)
    : context_(context),
      id_(id),
      target_(std::move(target)),
      options_(std::move(options)),
      tls_resumption_(options_.tls ? std::make_shared<TlsResumption>() : nullptr),
      state_cell_(std::move(state)),
      backoff_(backoff_settings(options_)),
      keepalive_time_ms_(options_.keepalive_time_ms) {
  user_agent_ = options_.user_agent.empty() ? kUserAgent : options_.user_agent + " " + kUserAgent;
  if (state_cell_) state_cell_->state.store(state_);
  if (options_.service_config && options_.service_config->retry_throttling)
    retry_throttle_ = std::make_shared<RetryThrottle>(*options_.service_config->retry_throttling);
  retry_buffer_ = std::make_shared<RetryBufferBudget>(options_.retry_buffer_size);
}

Channel::~Channel() = default;

void Channel::set_state(ConnectivityState state) {
  if (state == state_) return;
  if (tracing(Trace::kChannel)) {
    trace_line(Trace::kChannel, "channel " + std::to_string(id_) + " '" + target_ + "': " +
                                    state_name(state_) + " -> " + state_name(state));
  }
  state_ = state;
  if (state_cell_) state_cell_->state.store(state);
  std::vector<Watcher> watchers = std::move(watchers_);
  watchers_.clear();
  for (Watcher& w : watchers) {
    Event event;
    event.kind = EventKind::kConnectivity;
    event.call_id = w.token;
    event.connectivity = state;
    w.cq->push(std::move(event));
  }
}

void Channel::watch(std::shared_ptr<CompletionQueue> cq, uint64_t token, ConnectivityState last_seen) {
  if (state_ != last_seen) {
    Event event;
    event.kind = EventKind::kConnectivity;
    event.call_id = token;
    event.connectivity = state_;
    cq->push(std::move(event));
    return;
  }
  watchers_.push_back({std::move(cq), token});
}

void Channel::start_call(std::unique_ptr<ClientCall> call) {
  if (call->finished()) return;  // e.g. its request was over the send limit
  if (state_ == ConnectivityState::kShutdown) {
    call->fail({StatusCode::kCancelled, "Channel closed!"}, "channel closed");
    return;
  }
  if (call->deadline()) context_.timers().add(*call->deadline(), TimerKind::kCallDeadline, call->id());
  if (call->awaits_metadata()) {
    // Calls cancelled while held are dropped here (amortised), or when the channel closes.
    std::erase_if(held_, [](const auto& c) { return c->finished(); });
    held_.push_back(std::move(call));
    return;
  }
  submit(std::move(call));
}

void Channel::retry_later(std::unique_ptr<ClientCall> call) {
  if (state_ == ConnectivityState::kShutdown) {
    call->fail({StatusCode::kCancelled, "Channel closed!"}, "channel closed");
    return;
  }
  call->prepare_retry();
  Clock::time_point due = Clock::now() + call->retry_delay();
  context_.timers().add(due, TimerKind::kChannelRetry, id_);
  retrying_.push_back({due, std::move(call)});
}

void Channel::on_retry_timer() {
  Clock::time_point now = Clock::now();
  std::vector<std::unique_ptr<ClientCall>> due;
  std::erase_if(retrying_, [&](RetryingCall& r) {
    if (r.call->finished()) return true;  // cancelled or past its deadline meanwhile
    if (r.due > now) return false;
    due.push_back(std::move(r.call));
    return true;
  });
  for (auto& call : due) submit(std::move(call));
}

void Channel::release_call(uint64_t call_id, Metadata&& metadata) {
  auto it = std::find_if(held_.begin(), held_.end(), [&](const auto& c) { return c->id() == call_id; });
  if (it == held_.end()) return;  // ended while held (cancelled, deadline)
  std::unique_ptr<ClientCall> call = std::move(*it);
  held_.erase(it);
  if (call->finished()) return;
  call->add_metadata(std::move(metadata));
  submit(std::move(call));
}

void Channel::submit(std::unique_ptr<ClientCall> call) {
  last_call_ = Clock::now();
  if (state_ == ConnectivityState::kReady) {
    active_->start_call(std::move(call), addresses_.authority, user_agent_);
    return;
  }
  if (state_ == ConnectivityState::kTransientFailure && !call->wait_for_ready()) {
    call->fail_attempt(unavailable(), "channel in TRANSIENT_FAILURE");  // fail fast, as gRPC does
    if (call->retry_due()) retry_later(std::move(call));
    return;
  }
  pending_.push_back(std::move(call));
  if (state_ == ConnectivityState::kIdle) start_connecting();
}

void Channel::connect_if_idle() {
  if (state_ == ConnectivityState::kIdle) start_connecting();
}

void Channel::start_connecting() {
  if (state_ == ConnectivityState::kShutdown || active_ != nullptr || resolving_) return;
  attempt_ = backoff_.begin_attempt(Clock::now());
  address_index_ = 0;
  // Sticky TRANSIENT_FAILURE (as grpc's pick_first): retries do not show CONNECTING.
  if (state_ != ConnectivityState::kTransientFailure) set_state(ConnectivityState::kConnecting);
  // A name is looked up again after a lost connection, a GOAWAY or a failed pass (its
  // addresses may have moved), but not more often than grpc.dns_min_time_between_resolutions_ms:
  // until then the last addresses serve.
  Clock::time_point now = Clock::now();
  bool refresh = stale_ && now - last_lookup_ >= std::chrono::milliseconds(options_.min_time_between_resolutions_ms);
  if (!resolved_ || refresh) {
    ResolvedTarget found = resolve_target_without_lookup(target_);
    if (found.needs_lookup) {
      stale_ = false;
      last_lookup_ = now;
      resolving_ = true;
      if (tracing(Trace::kChannel))
        trace_line(Trace::kChannel, "channel " + std::to_string(id_) + ": resolving '" + target_ + "'");
      context_.resolver().start(id_, target_);
      return;
    }
    if (!use_addresses(std::move(found))) return;
  }
  dial_next();
}

bool Channel::use_addresses(ResolvedTarget result) {
  addresses_ = std::move(result);
  address_index_ = 0;
  if (!options_.authority.empty()) addresses_.authority = options_.authority;
  resolved_ = addresses_.error.empty();
  if (!resolved_) {
    last_connect_error_ = addresses_.error;
    all_addresses_failed();
  }
  return resolved_;
}

void Channel::on_resolved(ResolvedTarget result) {
  resolving_ = false;
  if (state_ == ConnectivityState::kShutdown || active_ != nullptr) return;
  if (use_addresses(std::move(result))) dial_next();
}

void Channel::dial_next() {
  while (address_index_ < addresses_.addresses.size()) {
    const SocketAddress& address = addresses_.addresses[address_index_];
    attempt_started_ = Clock::now();
    SysResult s = start_connect(address);
    if (tracing(Trace::kChannel)) {
      trace_line(Trace::kChannel, "channel " + std::to_string(id_) + ": connecting to " +
                                      describe_address(address.get(), address.length) +
                                      (s.ok() ? "" : " failed: " + s.message()));
    }
    if (s.ok()) {
      auto connection = std::make_unique<ClientConnection>(context_, *this, static_cast<int>(s.value));
      active_ = connection.get();
      context_.adopt(std::move(connection));
      return;
    }
    last_connect_error_ = s.message();
    ++address_index_;
  }
  all_addresses_failed();
}

void Channel::on_connected(ClientConnection* connection) {
  if (connection != active_) return;
  if (tracing(Trace::kChannel)) {
    trace_line(Trace::kChannel, "channel " + std::to_string(id_) + ": connected to " +
                                    connection->peer() + " in " +
                                    std::to_string(millis_since(attempt_started_)) + " ms");
  }
  address_index_ = 0;
  backoff_.reset();
  set_state(ConnectivityState::kReady);
  submit_pending();
  schedule_idle_check(Clock::now());
}

std::string Channel::tls_server_name() const {
  if (!options_.tls_server_name.empty()) return options_.tls_server_name;
  const std::string& authority = addresses_.authority;
  if (!authority.empty() && authority.front() == '[') return authority.substr(1, authority.find(']') - 1);
  size_t colon = authority.rfind(':');
  return colon == std::string::npos || authority.find(':') != colon ? authority : authority.substr(0, colon);
}

void Channel::on_connect_failed(ClientConnection* connection, const std::string& reason) {
  if (connection != active_) return;
  if (tracing(Trace::kChannel)) {
    trace_line(Trace::kChannel, "channel " + std::to_string(id_) + ": connect attempt failed after " +
                                    std::to_string(millis_since(attempt_started_)) + " ms: " + reason);
  }
  active_ = nullptr;
  last_connect_error_ = reason;
  connection->close({StatusCode::kUnavailable, last_connect_error_});
  ++address_index_;
  dial_next();
}

Status Channel::unavailable() const {
  return {StatusCode::kUnavailable, "failed to connect to all addresses of '" + target_ +
                                        "'; last error: " + last_connect_error_};
}

void Channel::all_addresses_failed() {
  address_index_ = 0;
  stale_ = true;  // the next attempt may look the name up again: its addresses may have moved
  set_state(ConnectivityState::kTransientFailure);
  fail_pending(unavailable(), /*keep_wait_for_ready=*/true);
  if (!reconnect_scheduled_) {
    reconnect_scheduled_ = true;
    context_.timers().add(attempt_.retry_at, TimerKind::kChannelReconnect, id_);
  }
}

void Channel::fail_pending(const Status& status, bool keep_wait_for_ready) {
  std::vector<std::unique_ptr<ClientCall>> keep, later;
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& call : pending) {
    if (call->finished()) continue;
    if (keep_wait_for_ready && call->wait_for_ready()) {
      keep.push_back(std::move(call));
    } else if (keep_wait_for_ready) {  // connecting failed: a retry policy may send it again
      call->fail_attempt(status, "connect failed");
      if (call->retry_due()) later.push_back(std::move(call));
    } else {
      call->fail(status, "channel closed");
    }
  }
  pending_ = std::move(keep);
  for (auto& call : later) retry_later(std::move(call));
}

void Channel::on_reconnect_timer() {
  reconnect_scheduled_ = false;
  // Retried whether or not calls wait, so the channel becomes READY when the server is back.
  if (state_ == ConnectivityState::kTransientFailure) start_connecting();
}

void Channel::schedule_idle_check(Clock::time_point from) {
  if (options_.idle_timeout_ms <= 0 || idle_check_scheduled_) return;
  idle_check_scheduled_ = true;
  context_.timers().add(from + std::chrono::milliseconds(options_.idle_timeout_ms),
                        TimerKind::kChannelIdle, id_);
}

void Channel::on_idle_timer() {
  idle_check_scheduled_ = false;
  if (state_ != ConnectivityState::kReady) return;
  Clock::time_point quiet_since = std::max(last_call_, active_->last_stream_change());
  auto idle = std::chrono::milliseconds(options_.idle_timeout_ms);
  if (active_->active_streams() > 0 || Clock::now() - quiet_since < idle) {
    schedule_idle_check(active_->active_streams() > 0 ? Clock::now() : quiet_since);
    return;
  }
  ClientConnection* connection = active_;
  active_ = nullptr;
  draining_.push_back(connection);
  set_state(ConnectivityState::kIdle);
  connection->shut_down();
}

void Channel::submit_pending() {
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& call : pending) {
    if (!call->finished()) active_->start_call(std::move(call), addresses_.authority, user_agent_);
  }
}

void Channel::on_connection_closed(ClientConnection* connection, const Status& reason) {
  draining_.erase(std::remove(draining_.begin(), draining_.end(), connection), draining_.end());
  if (connection != active_) return;
  if (state_ != ConnectivityState::kReady) {  // closed before the server's SETTINGS
    on_connect_failed(connection, connection->peer().empty() ? reason.details
                                                             : connection->peer() + ": " + reason.details);
    return;
  }
  active_ = nullptr;
  stale_ = true;
  set_state(ConnectivityState::kIdle);
  if (!pending_.empty()) start_connecting();
}

KeepaliveSettings Channel::keepalive_settings() const {
  KeepaliveSettings s;
  s.time = std::chrono::milliseconds(std::max<int64_t>(0, keepalive_time_ms_));
  s.timeout = std::chrono::milliseconds(std::max<int64_t>(1, options_.keepalive_timeout_ms));
  s.permit_without_calls = options_.keepalive_permit_without_calls;
  s.max_pings_without_data = std::max<int64_t>(0, options_.max_pings_without_data);
  return s;
}

void Channel::on_too_many_pings() {
  constexpr int64_t kMaxKeepaliveMs = INT32_MAX;  // grpc-core saturates it there
  if (keepalive_time_ms_ > 0) keepalive_time_ms_ = std::min(kMaxKeepaliveMs, keepalive_time_ms_ * 2);
}

void Channel::on_goaway(ClientConnection* connection) {
  if (connection != active_) return;
  if (state_ != ConnectivityState::kReady) {
    on_connect_failed(connection, connection->peer() + ": the server sent GOAWAY before it was ready");
    return;
  }
  active_ = nullptr;
  draining_.push_back(connection);
  stale_ = true;
  set_state(ConnectivityState::kIdle);
  if (!pending_.empty()) start_connecting();
}

void Channel::close() {
  if (state_ == ConnectivityState::kShutdown) return;
  set_state(ConnectivityState::kShutdown);
  fail_pending({StatusCode::kCancelled, "Channel closed!"}, /*keep_wait_for_ready=*/false);
  for (auto& call : held_) call->fail({StatusCode::kCancelled, "Channel closed!"}, "channel closed");
  held_.clear();
  for (auto& r : retrying_) r.call->fail({StatusCode::kCancelled, "Channel closed!"}, "channel closed");
  retrying_.clear();
  std::vector<ClientConnection*> connections = draining_;
  if (active_ != nullptr) connections.push_back(active_);
  active_ = nullptr;
  draining_.clear();
  for (ClientConnection* c : connections) c->close_for_channel({StatusCode::kCancelled, "Channel closed!"});
}

}  // namespace turbogrpc::internal
