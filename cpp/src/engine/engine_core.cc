#include "engine/engine_core.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <system_error>
#include <thread>

#include "io/wakeup_fd.h"
#include "rpc/client_call.h"
#include "rpc/server_call.h"
#include "transport/channel.h"
#include "transport/connection.h"
#include "transport/server.h"

namespace turbogrpc::internal {
namespace {
// At most this many ready sockets and commands in an iteration count as light work (run()).
constexpr int kLightBurst = 2;

// TURBOGRPC_POLLER_SPIN_US overrides the default; 0 turns spinning off.
std::chrono::nanoseconds spin_from_environment() {
  constexpr long kDefaultSpinMicros = 50;
  long micros = kDefaultSpinMicros;
  if (const char* text = std::getenv("TURBOGRPC_POLLER_SPIN_US")) {
    char* end = nullptr;
    long parsed = std::strtol(text, &end, 10);
    if (end != text && *end == '\0' && parsed >= 0) micros = std::min(parsed, 100'000L);
  }
  return std::chrono::microseconds(micros);
}
}  // namespace

EngineCore::EngineCore(std::atomic<uint64_t>& ids)
    : ids_(ids),
      wake_fd_(make_wakeup_fd()),
      codec_(poller_),
      resolver_(poller_,
                [this](uint64_t channel_id, ResolvedTarget result) {
                  auto it = channels_.find(channel_id);  // gone if closed while resolving
                  if (it != channels_.end()) it->second->on_resolved(std::move(result));
                }),
      spin_(spin_from_environment()) {
  // Unwatched, the wake fd would leave every submitted command waiting for the next timer.
  SysResult watched = poller_.add(wake_fd_, EPOLLIN, this);
  if (!watched.ok()) {
    ::close(wake_fd_);  // no destructor runs for a constructor that throws
    throw std::system_error(watched.error, std::generic_category(), "epoll_ctl(wake fd)");
  }
  thread_ = std::thread([this] { run(); });
}

EngineCore::~EngineCore() {
  stop();
  ::close(wake_fd_);
}

void EngineCore::submit(Command command) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(mu_);
    was_empty = commands_.empty();
    commands_.push_back(std::move(command));
  }
  if (was_empty) signal_wakeup_fd(wake_fd_);
}

void EngineCore::stop() {
  if (stopping_.exchange(true)) return;
  signal_wakeup_fd(wake_fd_);
  if (thread_.joinable()) thread_.join();
}

void EngineCore::on_io(uint32_t) {
  clear_wakeup_fd(wake_fd_);
}

void EngineCore::run() {
  // After a light burst of work (a few commands, a few ready sockets) the poller does not go
  // to sleep at once: it spins — looks without sleeping, yielding the core between looks —
  // until spin_ has passed. A lone call's next message or reply usually comes within that
  // time, and finding it by looking avoids the wakeup, which costs far more (a cross-CPU
  // interrupt and a context switch; on a VM, more again). Under load it never spins: there the
  // wakeups are already amortised over batches, and a spinning poller sharing a core with its
  // consumer would spend the scheduler's share that lets it finish each batch before the
  // consumer preempts it.
  Clock::time_point spin_until{};
  while (!stopping_.load(std::memory_order_acquire)) {
    Clock::time_point now = Clock::now();
    bool spinning = now < spin_until;
    int ready = poller_.wait(spinning ? 0 : timers_.next_timeout_ms(now));
    size_t commands = run_commands();
    if (ready > 0 || commands > 0) {
      bool light = ready <= kLightBurst && commands <= kLightBurst;
      spin_until = light ? Clock::now() + spin_ : Clock::time_point{};
    } else if (spinning) {
      std::this_thread::yield();
    }
    run_timers();
    flush_dirty();
    retired_.clear();
  }
  run_commands();
  close_everything();
}

size_t EngineCore::run_commands() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_.swap(commands_);
  }
  for (Command& c : running_) execute(c);
  size_t count = running_.size();
  running_.clear();
  return count;
}

void EngineCore::execute(Command& command) {
  std::visit(
      [this](auto& cmd) {
        using T = std::decay_t<decltype(cmd)>;
        if constexpr (std::is_same_v<T, StartCallCommand>) {
          auto it = channels_.find(cmd.channel_id);
          ChannelOptions defaults;
          Channel* channel = it != channels_.end() ? it->second.get() : nullptr;
          const MethodConfig* method_config = channel ? channel->method_config(cmd.method) : nullptr;
          auto call = std::make_unique<ClientCall>(
              std::move(cmd), channel ? channel->options() : defaults, method_config,
              channel ? channel->retry_throttle() : nullptr, calls_, &codec_,
              channel ? channel->retry_buffer() : nullptr);
          if (it == channels_.end()) {
            call->fail({StatusCode::kCancelled, "Channel closed!"}, "unknown channel");
          } else {
            it->second->start_call(std::move(call));
          }
        } else if constexpr (std::is_same_v<T, CallMetadataCommand>) {
          auto it = channels_.find(cmd.channel_id);
          if (it != channels_.end()) it->second->release_call(cmd.call_id, std::move(cmd.metadata));
        } else if constexpr (std::is_same_v<T, SendMessageCommand>) {
          if (Call* c = calls_.find(cmd.call_id)) c->send(std::move(cmd));
        } else if constexpr (std::is_same_v<T, HalfCloseCommand>) {
          if (Call* c = calls_.find(cmd.call_id)) c->half_close();
        } else if constexpr (std::is_same_v<T, ReadCommand>) {
          if (Call* c = calls_.find(cmd.call_id)) c->read();
        } else if constexpr (std::is_same_v<T, CancelCommand>) {
          if (Call* c = calls_.find(cmd.call_id)) c->cancel(cmd.status);
        } else if constexpr (std::is_same_v<T, SendInitialMetadataCommand>) {
          if (Call* c = calls_.find(cmd.call_id)) c->send_initial_metadata(std::move(cmd));
        } else if constexpr (std::is_same_v<T, FinishCommand>) {
          if (Call* c = calls_.find(cmd.call_id)) c->finish(std::move(cmd));
        } else if constexpr (std::is_same_v<T, CreateChannelCommand>) {
          channels_[cmd.channel_id] = std::make_unique<Channel>(
              *this, cmd.channel_id, std::move(cmd.target), std::move(cmd.options), std::move(cmd.state));
        } else if constexpr (std::is_same_v<T, ConnectChannelCommand>) {
          auto it = channels_.find(cmd.channel_id);
          if (it != channels_.end()) it->second->connect_if_idle();
        } else if constexpr (std::is_same_v<T, WatchChannelCommand>) {
          auto it = channels_.find(cmd.channel_id);
          if (it != channels_.end()) {
            it->second->watch(std::move(cmd.cq), cmd.token, cmd.last_seen);
          } else {  // closed (and gone): that is SHUTDOWN
            Event event;
            event.kind = EventKind::kConnectivity;
            event.call_id = cmd.token;
            event.connectivity = ConnectivityState::kShutdown;
            cmd.cq->push(std::move(event));
          }
        } else if constexpr (std::is_same_v<T, CloseChannelCommand>) {
          auto it = channels_.find(cmd.channel_id);
          if (it != channels_.end()) {
            it->second->close();
            channels_.erase(it);
          }
        } else if constexpr (std::is_same_v<T, StartServerCommand>) {
          uint64_t id = cmd.server_id;
          servers_[id] = std::make_unique<Server>(*this, std::move(cmd));
        } else if constexpr (std::is_same_v<T, StopServerCommand>) {
          auto it = servers_.find(cmd.server_id);
          if (it != servers_.end()) {
            it->second->stop(cmd.phase);
            if (cmd.phase == StopPhase::kCloseAll) servers_.erase(it);
          }
        } else if constexpr (std::is_same_v<T, ServerCertificatesCommand>) {
          auto it = servers_.find(cmd.server_id);
          if (it != servers_.end()) it->second->on_certificates(std::move(cmd));
        }
      },
      command);
}

void EngineCore::run_timers() {
  if (timers_.size() > compact_timers_at_) {
    timers_.retain([this](TimerKind kind, uint64_t id) {
      switch (kind) {
        case TimerKind::kCallDeadline: return calls_.find(id) != nullptr;
        case TimerKind::kChannelReconnect:
        case TimerKind::kChannelIdle:
        case TimerKind::kChannelRetry:
        case TimerKind::kChannelHealth:
        case TimerKind::kChannelDialNext: return channels_.count(id) != 0;
        case TimerKind::kConnectDeadline:
        case TimerKind::kConnectionHandshake:
        case TimerKind::kConnectionIdle:
        case TimerKind::kKeepalive:
        case TimerKind::kConnectionAge:
        case TimerKind::kGoawayPing: return connection_ids_.count(id) != 0;
        case TimerKind::kAcceptRetry: return servers_.count(id) != 0;
      }
      return false;
    });
    compact_timers_at_ = std::max<size_t>(kMinTimersBeforeCompacting, 2 * timers_.size());
  }
  due_.clear();
  timers_.pop_due(Clock::now(), due_);
  for (const DueTimer& t : due_) {
    switch (t.kind) {
      case TimerKind::kCallDeadline:
        if (Call* c = calls_.find(t.id)) c->on_deadline();
        break;
      case TimerKind::kChannelReconnect:
        if (auto it = channels_.find(t.id); it != channels_.end()) it->second->on_reconnect_timer();
        break;
      case TimerKind::kChannelIdle:
        if (auto it = channels_.find(t.id); it != channels_.end()) it->second->on_idle_timer();
        break;
      case TimerKind::kChannelRetry:
        if (auto it = channels_.find(t.id); it != channels_.end()) it->second->on_retry_timer();
        break;
      case TimerKind::kChannelHealth:
        if (auto it = channels_.find(t.id); it != channels_.end()) it->second->on_health_timer();
        break;
      case TimerKind::kChannelDialNext:
        if (auto it = channels_.find(t.id); it != channels_.end()) it->second->on_dial_timer();
        break;
      case TimerKind::kConnectDeadline:
      case TimerKind::kConnectionHandshake:
      case TimerKind::kConnectionIdle:
      case TimerKind::kKeepalive:
      case TimerKind::kConnectionAge:
      case TimerKind::kGoawayPing:
        if (auto it = connection_ids_.find(t.id); it != connection_ids_.end()) it->second->on_timer(t.kind);
        break;
      case TimerKind::kAcceptRetry:
        if (auto it = servers_.find(t.id); it != servers_.end()) it->second->on_accept_timer();
        break;
    }
  }
}

void EngineCore::flush_dirty() {
  // Flushing may close a connection, which may dirty others: index, do not iterate.
  for (size_t i = 0; i < dirty_.size(); ++i) dirty_[i]->flush();
  dirty_.clear();
}

void EngineCore::adopt(std::unique_ptr<Connection> connection) {
  Connection* raw = connection.get();
  connection_ids_[raw->id()] = raw;
  connections_[raw] = std::move(connection);
}

void EngineCore::retire(Connection* connection) {
  auto it = connections_.find(connection);
  if (it == connections_.end()) return;
  connection_ids_.erase(connection->id());
  retired_.push_back(std::move(it->second));
  connections_.erase(it);
}

void EngineCore::close_everything() {
  for (auto& [id, channel] : channels_) channel->close();
  for (auto& [id, server] : servers_) server->stop(StopPhase::kCloseAll);
  flush_dirty();
  channels_.clear();
  servers_.clear();
  retired_.clear();
  connection_ids_.clear();
  connections_.clear();
}

}  // namespace turbogrpc::internal
