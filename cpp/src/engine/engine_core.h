// EngineCore: the poller thread and everything it owns — the command queue it drains, the
// epoll loop, timers, channels, servers, connections and the registry of live calls.
// Only submit() and stop() are called from other threads.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "io/poller.h"
#include "io/resolver.h"
#include "engine/codec_worker.h"
#include "io/timer_queue.h"
#include "rpc/call_registry.h"
#include "transport/transport_context.h"
#include "turbogrpc/commands.h"

namespace turbogrpc::internal {

class Channel;
class Connection;
class Server;

class EngineCore final : public IoHandler, public TransportContext {
 public:
  explicit EngineCore(std::atomic<uint64_t>& ids);
  ~EngineCore() override;  // stops and joins the poller thread

  // Any thread. Signals the poller only when the queue was empty (coalesced wakeups).
  void submit(Command command);
  // Any thread but the poller's: closes everything and joins the thread. Idempotent.
  void stop();

  // TransportContext, for the channels, servers and connections it owns. Poller thread only,
  // from here on.
  Poller& poller() override { return poller_; }
  TimerQueue& timers() override { return timers_; }
  CallRegistry& calls() override { return calls_; }
  Resolver& resolver() override { return resolver_; }
  uint64_t new_id() override { return ids_.fetch_add(1, std::memory_order_relaxed); }
  CodecOffload* codec_offload() override { return &codec_; }
  void keep_until_done(std::unique_ptr<Call> call) override { codec_.keep_until_done(std::move(call)); }
  void adopt(std::unique_ptr<Connection> connection) override;
  void retire(Connection* connection) override;  // freed at the end of this iteration
  void mark_dirty(Connection* connection) override { dirty_.push_back(connection); }

  void on_io(uint32_t epoll_events) override;  // the wakeup eventfd

 private:
  void run();
  size_t run_commands();  // returns how many ran
  void execute(Command& command);
  void run_timers();
  void flush_dirty();
  void close_everything();

  std::atomic<uint64_t>& ids_;
  const int wake_fd_;  // immutable after construction

  std::mutex mu_;
  std::vector<Command> commands_;  // guarded by mu_

  std::atomic<bool> stopping_{false};

  // Poller thread only.
  Poller poller_;
  TimerQueue timers_;
  CallRegistry calls_;
  CodecWorker codec_;  // after poller_ and calls_ (calls report to both), before the owners of calls
  std::unordered_map<uint64_t, std::unique_ptr<Channel>> channels_;
  std::unordered_map<uint64_t, std::unique_ptr<Server>> servers_;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
  std::unordered_map<uint64_t, Connection*> connection_ids_;  // the same, by id (for timers)
  std::vector<Connection*> dirty_;
  std::vector<std::unique_ptr<Connection>> retired_;
  std::vector<Command> running_;  // the batch being executed (kept to reuse its capacity)
  std::vector<DueTimer> due_;
  // Timers of finished calls are dropped when the queue outgrows twice what was live at the
  // last sweep (amortised O(1) per timer; see TimerQueue::retain).
  static constexpr size_t kMinTimersBeforeCompacting = 1024;
  size_t compact_timers_at_ = kMinTimersBeforeCompacting;
  Resolver resolver_;  // after poller_ (it watches an fd) and channels_ (it reports to them)

  // How long the poller keeps looking (epoll_wait with no timeout, yielding the core between
  // looks) after its last work before it sleeps: see run(). Immutable after construction.
  const std::chrono::nanoseconds spin_;

  std::thread thread_;  // last: starts after everything above exists
};

}  // namespace turbogrpc::internal
