#include "transport/channel.h"

#include <algorithm>
#include <cstring>

#include "transport/transport_context.h"
#include "transport/client_connection.h"

namespace turbogrpc::internal {
namespace {
constexpr const char* kUserAgent = "grpc-python-turbogrpc/0.1.0";
constexpr std::chrono::milliseconds kMaxBackoff{30'000};
}  // namespace

Channel::Channel(TransportContext& context, uint64_t id, std::string target, ChannelOptions options)
    : context_(context),
      id_(id),
      target_(std::move(target)),
      options_(std::move(options)),
      tls_resumption_(options_.tls ? std::make_shared<TlsResumption>() : nullptr) {
  user_agent_ = options_.user_agent.empty() ? kUserAgent : options_.user_agent + " " + kUserAgent;
}

Channel::~Channel() = default;

void Channel::start_call(std::unique_ptr<ClientCall> call) {
  if (call->finished()) return;  // e.g. its request was over the send limit
  if (closed_) {
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
  if (active_ != nullptr && active_->ready()) {
    active_->start_call(std::move(call), addresses_.authority, user_agent_);
    return;
  }
  pending_.push_back(std::move(call));
  if (active_ == nullptr) connect();
}

bool Channel::use_addresses(ResolvedTarget result) {
  addresses_ = std::move(result);
  address_index_ = 0;
  if (!options_.authority.empty()) addresses_.authority = options_.authority;
  resolved_ = addresses_.error.empty();
  if (!resolved_) fail_pending({StatusCode::kUnavailable, addresses_.error});
  return resolved_;
}

void Channel::on_resolved(ResolvedTarget result) {
  resolving_ = false;
  if (closed_ || active_ != nullptr) return;
  if (use_addresses(std::move(result)) && !pending_.empty()) connect();
}

void Channel::connect() {
  if (resolving_) return;  // on_resolved() connects
  if (!resolved_) {
    ResolvedTarget now = resolve_target_without_lookup(target_);
    if (now.needs_lookup) {
      resolving_ = true;
      context_.resolver().start(id_, target_);
      return;
    }
    if (!use_addresses(std::move(now))) return;
  }
  while (address_index_ < addresses_.addresses.size()) {
    SysResult s = start_connect(addresses_.addresses[address_index_]);
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
  address_index_ = 0;
  backoff_ = std::chrono::milliseconds(1000);
  submit_pending();
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
  active_ = nullptr;
  last_connect_error_ = reason;
  connection->close({StatusCode::kUnavailable, last_connect_error_});
  ++address_index_;
  if (address_index_ < addresses_.addresses.size()) {
    connect();
    return;
  }
  all_addresses_failed();
}

void Channel::all_addresses_failed() {
  address_index_ = 0;
  resolved_ = false;  // the next attempt looks the name up again: its addresses may have moved
  fail_pending({StatusCode::kUnavailable, "failed to connect to all addresses of '" + target_ +
                                              "'; last error: " + last_connect_error_});
}

void Channel::fail_pending(const Status& status) {
  // Calls that wait for ready stay and are retried after a backoff; the others fail now.
  std::vector<std::unique_ptr<ClientCall>> keep;
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& call : pending) {
    if (call->finished()) continue;
    if (call->wait_for_ready() && !closed_) keep.push_back(std::move(call));
    else call->fail(status, "connect failed");
  }
  pending_ = std::move(keep);
  if (!pending_.empty() && !reconnect_scheduled_) {
    reconnect_scheduled_ = true;
    context_.timers().add(Clock::now() + backoff_, TimerKind::kChannelReconnect, id_);
    backoff_ = std::min(backoff_ * 16 / 10, kMaxBackoff);
  }
}

void Channel::on_reconnect_timer() {
  reconnect_scheduled_ = false;
  pending_.erase(std::remove_if(pending_.begin(), pending_.end(),
                                [](const auto& c) { return c->finished(); }),
                 pending_.end());
  if (!closed_ && !pending_.empty() && active_ == nullptr) connect();
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
  active_ = nullptr;
  if (!pending_.empty() && !closed_) connect();
}

void Channel::on_goaway(ClientConnection* connection) {
  if (connection != active_) return;
  active_ = nullptr;
  draining_.push_back(connection);
  if (!pending_.empty()) connect();
}

void Channel::close() {
  if (closed_) return;
  closed_ = true;
  fail_pending({StatusCode::kCancelled, "Channel closed!"});
  for (auto& call : held_) call->fail({StatusCode::kCancelled, "Channel closed!"}, "channel closed");
  held_.clear();
  std::vector<ClientConnection*> connections = draining_;
  if (active_ != nullptr) connections.push_back(active_);
  active_ = nullptr;
  draining_.clear();
  for (ClientConnection* c : connections) {
    c->shut_down();
    c->flush();
    c->close({StatusCode::kCancelled, "Channel closed!"});
  }
}

}  // namespace turbogrpc::internal
