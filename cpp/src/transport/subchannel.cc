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
  if (active_ != nullptr || state_ == ConnectivityState::kShutdown) return;
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
      return;
    }
    last_connect_error_ = s.message();
    ++address_index_;
  }
  all_addresses_failed();
}

void Subchannel::all_addresses_failed() {
  address_index_ = 0;
  set_state(ConnectivityState::kTransientFailure);
  channel_.on_subchannel_failed(*this);
}

void Subchannel::on_connected(ClientConnection* connection) {
  if (connection != active_) return;
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
  if (connection != active_) return;
  if (tracing(Trace::kChannel)) {
    channel_.trace("connect attempt failed after " + std::to_string(millis_since(attempt_started_)) +
                   " ms: " + reason);
  }
  active_ = nullptr;
  last_connect_error_ = reason;
  connection->close({StatusCode::kUnavailable, last_connect_error_});
  ++address_index_;
  dial_next();
}

void Subchannel::on_connection_closed(ClientConnection* connection, const Status& reason) {
  draining_.erase(std::remove(draining_.begin(), draining_.end(), connection), draining_.end());
  if (connection != active_) return;
  if (!connected_) {  // closed before the server's SETTINGS
    on_connect_failed(connection, connection->peer().empty() ? reason.details
                                                             : connection->peer() + ": " + reason.details);
    return;
  }
  active_ = nullptr;
  lost();
}

void Subchannel::on_goaway(ClientConnection* connection) {
  if (connection != active_) return;
  if (!connected_) {
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
  if (active_ != nullptr) connections.push_back(active_);
  active_ = nullptr;
  state_ = ConnectivityState::kShutdown;
  for (ClientConnection* c : connections) c->close_for_channel(reason);
}

}  // namespace turbogrpc::internal
