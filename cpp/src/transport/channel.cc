#include "transport/channel.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>

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

bool same_address(const SocketAddress& a, const SocketAddress& b) {
  return a.length == b.length && std::memcmp(&a.storage, &b.storage, a.length) == 0;
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
      keepalive_time_ms_(options_.keepalive_time_ms),
      lookup_backoff_(reconnect_backoff_settings(options_)) {
  user_agent_ = options_.user_agent.empty() ? kUserAgent : options_.user_agent + " " + kUserAgent;
  if (state_cell_) state_cell_->state.store(state_);
  if (options_.service_config && options_.service_config->retry_throttling)
    retry_throttle_ = std::make_shared<RetryThrottle>(*options_.service_config->retry_throttling);
  retry_buffer_ = std::make_shared<RetryBufferBudget>(options_.retry_buffer_size);
}

Channel::~Channel() = default;

void Channel::trace(const std::string& line) const {
  trace_line(Trace::kChannel, "channel " + std::to_string(id_) + ": " + line);
}

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

ConnectivityState Channel::aggregate_state() const {
  bool connecting = false, idle = false;
  for (const auto& sub : subchannels_) {
    switch (sub->state()) {
      case ConnectivityState::kReady: return ConnectivityState::kReady;
      case ConnectivityState::kConnecting: connecting = true; break;
      case ConnectivityState::kIdle: idle = true; break;
      default: break;
    }
  }
  if (connecting) return ConnectivityState::kConnecting;
  // A lookup keeps a failing channel in TRANSIENT_FAILURE (sticky, as pick_first's passes).
  if (resolving_)
    return state_ == ConnectivityState::kTransientFailure ? state_ : ConnectivityState::kConnecting;
  if (idle) return ConnectivityState::kIdle;
  if (subchannels_.empty() && !lookup_failed_) return ConnectivityState::kIdle;
  return ConnectivityState::kTransientFailure;
}

size_t Channel::ready_subchannels() const {
  return std::count_if(subchannels_.begin(), subchannels_.end(),
                       [](const auto& sub) { return sub->state() == ConnectivityState::kReady; });
}

void Channel::on_subchannel_state() {
  if (state_ != ConnectivityState::kShutdown) set_state(aggregate_state());
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
  wake_hedges();
}

void Channel::start_hedge(std::unique_ptr<ClientCall> attempt) {
  if (state_ == ConnectivityState::kShutdown) {
    attempt->fail({StatusCode::kCancelled, "Channel closed!"}, "channel closed");
    return;
  }
  submit(std::move(attempt));
}

void Channel::wake_hedging_at(Clock::time_point due, std::weak_ptr<Hedging> hedging) {
  context_.timers().add(due, TimerKind::kChannelRetry, id_);
  hedge_wakes_.push_back({due, std::move(hedging)});
}

void Channel::wake_hedges() {
  Clock::time_point now = Clock::now();
  std::vector<std::shared_ptr<Hedging>> due;
  std::erase_if(hedge_wakes_, [&](HedgeWake& w) {
    if (w.due > now) return w.hedging.expired();
    if (auto hedging = w.hedging.lock()) due.push_back(std::move(hedging));
    return true;
  });
  for (auto& hedging : due) hedging->on_wake(now);
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
  Hedging* hedging = call->hedging();
  if (hedging != nullptr) hedging->on_attempt_submitted(*call, *this);
  if (ClientConnection* connection = hedging ? pick_for_hedge(*hedging) : pick()) {
    connection->start_call(std::move(call), authority_, user_agent_);
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

ClientConnection* Channel::pick() {
  size_t n = subchannels_.size();
  if (!round_robin()) return n == 0 ? nullptr : subchannels_[0]->ready_connection();
  for (size_t i = 0; i < n; ++i) {
    size_t at = (next_pick_ + i) % n;
    if (ClientConnection* connection = subchannels_[at]->ready_connection()) {
      next_pick_ = (at + 1) % n;
      return connection;
    }
  }
  return nullptr;
}

ClientConnection* Channel::pick_for_hedge(const Hedging& hedging) {
  ClientConnection* connection = pick();
  for (size_t i = 1; connection != nullptr && hedging.has_attempt_on(connection) && i < subchannels_.size(); ++i)
    connection = pick();
  return connection;
}

void Channel::connect_if_idle() {
  if (state_ == ConnectivityState::kIdle) start_connecting();
}

void Channel::start_connecting() {
  if (state_ == ConnectivityState::kShutdown || resolving_) return;
  connecting_wanted_ = true;
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
      if (tracing(Trace::kChannel)) trace("resolving '" + target_ + "'");
      on_subchannel_state();  // CONNECTING while the name is looked up
      context_.resolver().start(id_, target_);
      return;
    }
    if (!use_addresses(std::move(found))) return;
  }
  connect_wanted();
}

void Channel::on_resolved(ResolvedTarget result) {
  resolving_ = false;
  if (state_ == ConnectivityState::kShutdown) return;
  if (use_addresses(std::move(result))) connect_wanted();
  on_subchannel_state();
}

bool Channel::use_addresses(ResolvedTarget result) {
  if (result.error.empty() && result.addresses.empty()) result.error = "the name has no addresses";
  if (!result.error.empty()) {
    last_connect_error_ = result.error;
    stale_ = true;
    if (!subchannels_.empty()) return true;  // the last addresses serve until a lookup works
    resolved_ = false;
    lookup_failed_ = true;
    Clock::time_point retry_at = lookup_backoff_.begin_attempt(Clock::now()).retry_at;
    on_subchannel_state();  // TRANSIENT_FAILURE
    fail_pending(unavailable(), /*keep_wait_for_ready=*/true);
    lookup_retry_at_ = retry_at;
    context_.timers().add(retry_at, TimerKind::kChannelReconnect, id_);
    return false;
  }
  resolved_ = true;
  lookup_failed_ = false;
  lookup_backoff_.reset();
  authority_ = options_.authority.empty() ? result.authority : options_.authority;
  update_subchannels(std::move(result.addresses));
  return true;
}

void Channel::update_subchannels(std::vector<SocketAddress> addresses) {
  std::erase_if(retired_, [](const auto& sub) { return sub->unused(); });
  if (!round_robin()) {
    if (options_.shuffle_address_list) {
      thread_local std::mt19937_64 random{std::random_device{}()};
      std::shuffle(addresses.begin(), addresses.end(), random);
    }
    if (subchannels_.empty()) {
      subchannels_.push_back(std::make_unique<Subchannel>(*this, context_, std::move(addresses)));
    } else {
      subchannels_[0]->set_addresses(std::move(addresses));
    }
    return;
  }
  std::vector<std::unique_ptr<Subchannel>> next;
  for (const SocketAddress& address : addresses) {
    auto kept = std::find_if(subchannels_.begin(), subchannels_.end(), [&](const auto& sub) {
      return sub && same_address(sub->addresses().front(), address);
    });
    if (kept != subchannels_.end()) {
      next.push_back(std::move(*kept));
    } else {
      next.push_back(std::make_unique<Subchannel>(*this, context_, std::vector<SocketAddress>{address}));
    }
  }
  for (auto& dropped : subchannels_) {
    if (!dropped) continue;
    dropped->go_idle();
    if (!dropped->unused()) retired_.push_back(std::move(dropped));
  }
  subchannels_ = std::move(next);
  // Each channel starts its rotation somewhere else, so many clients do not all begin on the
  // first address.
  next_pick_ = static_cast<size_t>(Clock::now().time_since_epoch().count()) % subchannels_.size();
}

void Channel::connect_wanted() {
  if (!connecting_wanted_) return;
  Clock::time_point now = Clock::now();
  for (auto& sub : subchannels_) {
    ConnectivityState s = sub->state();
    if (s == ConnectivityState::kIdle || (s == ConnectivityState::kTransientFailure && sub->retry_at() <= now)) {
      sub->connect();
    }
  }
}

void Channel::on_subchannel_ready(Subchannel& /*subchannel*/) {
  submit_pending();
  schedule_idle_check(Clock::now());
}

void Channel::on_subchannel_failed(Subchannel& subchannel) {
  last_connect_error_ = subchannel.last_error();
  stale_ = true;  // the next attempt may look the name up again: its addresses may have moved
  context_.timers().add(subchannel.retry_at(), TimerKind::kChannelReconnect, id_);
  if (state_ == ConnectivityState::kTransientFailure) fail_pending(unavailable(), /*keep_wait_for_ready=*/true);
}

void Channel::on_subchannel_unhealthy(Subchannel& subchannel) {
  last_connect_error_ = subchannel.health_error();
  if (state_ == ConnectivityState::kTransientFailure) fail_pending(unavailable(), /*keep_wait_for_ready=*/true);
}

void Channel::on_health_timer() {
  if (state_ == ConnectivityState::kShutdown) return;
  Clock::time_point now = Clock::now();
  for (auto& sub : subchannels_) sub->poll_health(now);
}

void Channel::on_dial_timer() {
  if (state_ == ConnectivityState::kShutdown) return;
  Clock::time_point now = Clock::now();
  for (auto& sub : subchannels_) sub->on_dial_timer(now);
}

void Channel::on_subchannel_lost(Subchannel& /*subchannel*/) {
  stale_ = true;
  // round_robin keeps every address connected; pick_first reconnects when calls wait.
  if (round_robin() || !pending_.empty()) start_connecting();
}

void Channel::on_reconnect_timer() {
  if (state_ == ConnectivityState::kShutdown) return;
  // Retried whether or not calls wait, so the channel becomes READY when the server is back.
  Clock::time_point now = Clock::now();
  bool due = lookup_failed_ && subchannels_.empty() && lookup_retry_at_ <= now;
  for (const auto& sub : subchannels_)
    due = due || (sub->state() == ConnectivityState::kTransientFailure && sub->retry_at() <= now);
  if (!due) return;
  connecting_wanted_ = true;
  start_connecting();
}

std::string Channel::tls_server_name() const {
  if (!options_.tls_server_name.empty()) return options_.tls_server_name;
  const std::string& authority = authority_;
  if (!authority.empty() && authority.front() == '[') return authority.substr(1, authority.find(']') - 1);
  size_t colon = authority.rfind(':');
  return colon == std::string::npos || authority.find(':') != colon ? authority : authority.substr(0, colon);
}

Status Channel::unavailable() const {
  return {StatusCode::kUnavailable, "failed to connect to all addresses of '" + target_ +
                                        "'; last error: " + last_connect_error_};
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

void Channel::schedule_idle_check(Clock::time_point from) {
  if (options_.idle_timeout_ms <= 0 || idle_check_scheduled_) return;
  idle_check_scheduled_ = true;
  context_.timers().add(from + std::chrono::milliseconds(options_.idle_timeout_ms),
                        TimerKind::kChannelIdle, id_);
}

void Channel::on_idle_timer() {
  idle_check_scheduled_ = false;
  if (state_ != ConnectivityState::kReady) return;
  Clock::time_point quiet_since = last_call_;
  size_t streams = 0;
  for (const auto& sub : subchannels_) {
    streams += sub->active_streams();
    quiet_since = std::max(quiet_since, sub->last_stream_change());
  }
  auto idle = std::chrono::milliseconds(options_.idle_timeout_ms);
  if (streams > 0 || Clock::now() - quiet_since < idle) {
    schedule_idle_check(streams > 0 ? Clock::now() : quiet_since);
    return;
  }
  connecting_wanted_ = false;
  for (auto& sub : subchannels_) sub->go_idle();
  on_subchannel_state();  // IDLE
}

void Channel::submit_pending() {
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& call : pending) {
    if (call->finished()) continue;
    ClientConnection* connection = pick();
    if (connection == nullptr) {
      pending_.push_back(std::move(call));
      continue;
    }
    connection->start_call(std::move(call), authority_, user_agent_);
  }
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

void Channel::close() {
  if (state_ == ConnectivityState::kShutdown) return;
  set_state(ConnectivityState::kShutdown);
  fail_pending({StatusCode::kCancelled, "Channel closed!"}, /*keep_wait_for_ready=*/false);
  for (auto& call : held_) call->fail({StatusCode::kCancelled, "Channel closed!"}, "channel closed");
  held_.clear();
  for (auto& r : retrying_) r.call->fail({StatusCode::kCancelled, "Channel closed!"}, "channel closed");
  retrying_.clear();
  hedge_wakes_.clear();  // their attempts end with the connections and lists above
  for (auto& sub : subchannels_) sub->close({StatusCode::kCancelled, "Channel closed!"});
  for (auto& sub : retired_) sub->close({StatusCode::kCancelled, "Channel closed!"});
}

}  // namespace turbogrpc::internal
