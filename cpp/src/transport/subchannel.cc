#include "transport/subchannel.h"

#include <algorithm>

#include "io/trace.h"
#include "transport/channel.h"
#include "transport/client_connection.h"
#include "transport/transport_context.h"

namespace turbogrpc::internal {
namespace {
long long millis_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// Why local credentials forbid dialling `address`; empty when they allow it (or are not used).
std::string local_credentials_refusal(LocalConnection local, const SocketAddress& address) {
  if (local == LocalConnection::kUds && address.family() != AF_UNIX)
    return "local credentials (UDS): " + describe_address(address.get(), address.length) + " is not a unix socket";
  if (local == LocalConnection::kLoopbackTcp && !is_loopback(address.storage))
    return "local credentials (LOCAL_TCP): " + describe_address(address.get(), address.length) +
           " is not a loopback address";
  return "";
}
}  // namespace

BackoffSettings reconnect_backoff_settings(const ChannelOptions& options) {
  BackoffSettings s;
  s.initial = std::chrono::milliseconds(std::max<int64_t>(1, options.initial_reconnect_backoff_ms));
  s.max = std::chrono::milliseconds(std::max<int64_t>(1, options.max_reconnect_backoff_ms));
  s.min_connect_timeout =
      std::chrono::milliseconds(std::max<int64_t>(1, options.min_reconnect_backoff_ms));
  return s;
}

Subchannel::Subchannel(Channel& channel, TransportContext& context, std::vector<SocketAddress> addresses)
    : channel_(channel),
      context_(context),
      addresses_(std::move(addresses)),
      backoff_(reconnect_backoff_settings(channel.options())) {
  if (const std::string* service = channel.health_check_service()) {
    health_ = std::make_unique<HealthWatch>(context, channel.id(), *service, channel.options());
  }
}

Subchannel::~Subchannel() = default;

const ChannelOptions& Subchannel::options() const { return channel_.options(); }

void Subchannel::set_state(ConnectivityState state) {
  if (state == state_) return;
  state_ = state;
  channel_.on_subchannel_state();
}

void Subchannel::connect() {
  if (active_ != nullptr || !earlier_attempts_.empty() || state_ == ConnectivityState::kShutdown) return;
  attempt_ = backoff_.begin_attempt(Clock::now());
  address_index_ = 0;
  // Sticky TRANSIENT_FAILURE (as grpc's pick_first): retries do not show CONNECTING.
  if (state_ != ConnectivityState::kTransientFailure) set_state(ConnectivityState::kConnecting);
  dial_next();
}

void Subchannel::dial_next() {
  while (address_index_ < addresses_.size()) {
    const SocketAddress& address = addresses_[address_index_];
    attempt_started_ = Clock::now();
    if (std::string refusal = local_credentials_refusal(options().local_connection, address); !refusal.empty()) {
      if (tracing(Trace::kChannel)) channel_.trace(refusal);
      last_connect_error_ = std::move(refusal);
      ++address_index_;
      continue;
    }
    SysResult s = start_connect(address);
    if (tracing(Trace::kChannel)) {
      channel_.trace("connecting to " + describe_address(address.get(), address.length) +
                     (s.ok() ? "" : " failed: " + s.message()));
    }
    if (s.ok()) {
      auto connection = std::make_unique<ClientConnection>(context_, *this, static_cast<int>(s.value));
      active_ = connection.get();
      context_.adopt(std::move(connection));
      if (address_index_ + 1 < addresses_.size()) {
        auto delay = std::clamp<int64_t>(options().happy_eyeballs_delay_ms, 100, 2000);
        next_dial_at_ = attempt_started_ + std::chrono::milliseconds(delay);
        context_.timers().add(next_dial_at_, TimerKind::kChannelDialNext, channel_.id());
      }
      return;
    }
    last_connect_error_ = s.message();
    ++address_index_;
  }
  if (!earlier_attempts_.empty()) return;  // no address left to dial, but one may still connect
  all_addresses_failed();
}

void Subchannel::on_dial_timer(Clock::time_point now) {
  bool more = address_index_ + 1 < addresses_.size();
  if (active_ == nullptr || connected_ || now < next_dial_at_ || !more) return;
  if (tracing(Trace::kChannel)) {
    const SocketAddress& slow = addresses_[address_index_];
    channel_.trace("no answer from " + describe_address(slow.get(), slow.length) + " in " +
                   std::to_string(millis_since(attempt_started_)) + " ms: dialling the next address too");
  }
  earlier_attempts_.push_back(active_);
  active_ = nullptr;
  ++address_index_;
  dial_next();
}

bool Subchannel::is_earlier_attempt(ClientConnection* connection) const {
  return std::find(earlier_attempts_.begin(), earlier_attempts_.end(), connection) != earlier_attempts_.end();
}

bool Subchannel::take_earlier_attempt(ClientConnection* connection) {
  auto it = std::find(earlier_attempts_.begin(), earlier_attempts_.end(), connection);
  if (it == earlier_attempts_.end()) return false;
  earlier_attempts_.erase(it);
  return true;
}

void Subchannel::close_earlier_attempts(const char* why) {
  // Taken out first: closing calls back into on_connection_closed, which must not see them.
  std::vector<ClientConnection*> attempts = std::move(earlier_attempts_);
  earlier_attempts_.clear();
  for (ClientConnection* c : attempts) c->close({StatusCode::kUnavailable, why});
}

void Subchannel::all_addresses_failed() {
  address_index_ = 0;
  set_state(ConnectivityState::kTransientFailure);
  channel_.on_subchannel_failed(*this);
}

void Subchannel::on_connected(ClientConnection* connection) {
  if (connection != active_) {
    if (!take_earlier_attempt(connection)) return;
    ClientConnection* newer = active_;  // an earlier attempt won the race
    active_ = connection;
    if (newer != nullptr) newer->close({StatusCode::kUnavailable, "another address connected first"});
  }
  close_earlier_attempts("another address connected first");
  if (tracing(Trace::kChannel)) {
    channel_.trace("connected to " + connection->peer() + " in " + std::to_string(millis_since(attempt_started_)) +
                   " ms");
  }
  address_index_ = 0;
  backoff_.reset();
  connected_ = true;
  if (health_) {  // READY once the health service says SERVING (poll_health)
    health_->start(connection, channel_.authority(), channel_.user_agent());
    return;
  }
  set_state(ConnectivityState::kReady);
  channel_.on_subchannel_ready(*this);
}

void Subchannel::poll_health(Clock::time_point now) {
  if (!health_ || !health_->poll(now) || !connected_) return;
  switch (health_->verdict()) {
    case HealthWatch::Verdict::kServing:
    case HealthWatch::Verdict::kUnchecked:
      set_state(ConnectivityState::kReady);
      channel_.on_subchannel_ready(*this);
      break;
    case HealthWatch::Verdict::kNotServing:
      last_connect_error_ = health_->last_error();
      set_state(ConnectivityState::kTransientFailure);
      channel_.on_subchannel_unhealthy(*this);
      break;
    case HealthWatch::Verdict::kPending:
      if (state_ != ConnectivityState::kTransientFailure) set_state(ConnectivityState::kConnecting);
      break;
  }
}

const std::string& Subchannel::health_error() const {
  static const std::string kNone;
  return health_ ? health_->last_error() : kNone;
}

void Subchannel::disconnected() {
  connected_ = false;
  if (health_) health_->stop();
}

void Subchannel::on_connect_failed(ClientConnection* connection, const std::string& reason) {
  bool earlier = take_earlier_attempt(connection);
  if (connection != active_ && !earlier) return;
  if (tracing(Trace::kChannel)) {
    std::string when = earlier ? " (an earlier address)"
                               : " after " + std::to_string(millis_since(attempt_started_)) + " ms";
    channel_.trace("connect attempt failed" + when + ": " + reason);
  }
  last_connect_error_ = reason;
  if (earlier) {
    connection->close({StatusCode::kUnavailable, last_connect_error_});
    // The newest attempt is still running, or dial_next ran out of addresses while this one was.
    if (active_ == nullptr && earlier_attempts_.empty()) all_addresses_failed();
    return;
  }
  active_ = nullptr;
  connection->close({StatusCode::kUnavailable, last_connect_error_});
  ++address_index_;
  dial_next();
}

void Subchannel::on_connection_closed(ClientConnection* connection, const Status& reason) {
  draining_.erase(std::remove(draining_.begin(), draining_.end(), connection), draining_.end());
  bool earlier = is_earlier_attempt(connection);
  if (connection != active_ && !earlier) return;
  if (earlier || !connected_) {  // closed before the server's SETTINGS
    on_connect_failed(connection, connection->peer().empty() ? reason.details
                                                             : connection->peer() + ": " + reason.details);
    return;
  }
  active_ = nullptr;
  lost();
}

void Subchannel::on_goaway(ClientConnection* connection) {
  bool earlier = is_earlier_attempt(connection);
  if (connection != active_ && !earlier) return;
  if (earlier || !connected_) {
    on_connect_failed(connection, connection->peer() + ": the server sent GOAWAY before it was ready");
    return;
  }
  active_ = nullptr;
  draining_.push_back(connection);
  lost();
}

void Subchannel::lost() {
  disconnected();
  set_state(ConnectivityState::kIdle);
  channel_.on_subchannel_lost(*this);
}

size_t Subchannel::active_streams() const {
  if (!connected_) return 0;
  size_t streams = active_->active_streams();
  size_t watching = health_ ? static_cast<size_t>(health_->streams()) : 0;  // not a call
  return streams > watching ? streams - watching : 0;
}

Clock::time_point Subchannel::last_stream_change() const {
  return connected_ ? active_->last_stream_change() : Clock::time_point{};
}

void Subchannel::go_idle() {
  bool was_connected = connected_;
  if (connected_) disconnected();
  ClientConnection* connection = active_;
  active_ = nullptr;
  address_index_ = 0;
  close_earlier_attempts("subchannel no longer wanted");
  if (connection != nullptr && was_connected) {
    draining_.push_back(connection);
    connection->shut_down();  // GOAWAY: its calls finish first
  } else if (connection != nullptr) {
    connection->close({StatusCode::kUnavailable, "subchannel no longer wanted"});  // still connecting
  }
  // Quietly: going idle is the channel's decision, not a loss to react to.
  state_ = ConnectivityState::kIdle;
}

void Subchannel::close(const Status& reason) {
  disconnected();
  std::vector<ClientConnection*> connections = std::move(draining_);
  draining_.clear();
  connections.insert(connections.end(), earlier_attempts_.begin(), earlier_attempts_.end());
  earlier_attempts_.clear();
  if (active_ != nullptr) connections.push_back(active_);
  active_ = nullptr;
  state_ = ConnectivityState::kShutdown;
  for (ClientConnection* c : connections) c->close_for_channel(reason);
}

}  // namespace turbogrpc::internal
