// A TransportContext whose poller the caller runs itself (the engine's owner duties, minus its
// thread), for driving real connections, channels and servers without an EngineCore: the
// transport GoogleTests and the connection fuzzers share it.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "rpc/call.h"
#include "rpc/call_registry.h"
#include "transport/channel.h"
#include "transport/connection.h"
#include "transport/transport_context.h"

namespace turbogrpc::internal {

// A unary call's command for the transport tests ("ping" to `method` unless told otherwise).
inline StartCallCommand unary_call_command(uint64_t channel_id, uint64_t call_id,
                                           std::shared_ptr<CompletionQueue> cq, std::string method,
                                           WaitForReady wait_for_ready = WaitForReady::kNo) {
  StartCallCommand command;
  command.channel_id = channel_id;
  command.call_id = call_id;
  command.cq = std::move(cq);
  command.method = std::move(method);
  command.shape = CallShape::kUnary;
  command.message = "ping";
  command.wait_for_ready = wait_for_ready;
  return command;
}

// The engine's owner duties, minus its thread: the caller calls run_once() itself.
class LoopTransportContext final : public TransportContext {
 public:
  Poller& poller() override { return poller_; }
  TimerQueue& timers() override { return timers_; }
  CallRegistry& calls() override { return calls_; }
  Resolver& resolver() override { return resolver_; }
  uint64_t new_id() override { return next_id_++; }
  CodecOffload* codec_offload() override { return nullptr; }  // streams (de)compress inline
  void keep_until_done(std::unique_ptr<Call> call) override { kept_.push_back(std::move(call)); }
  void adopt(std::unique_ptr<Connection> connection) override {
    connections_.push_back(std::move(connection));
  }
  void retire(Connection* connection) override {
    for (auto it = connections_.begin(); it != connections_.end(); ++it) {
      if (it->get() != connection) continue;
      retired_.push_back(std::move(*it));
      connections_.erase(it);
      return;
    }
  }
  void mark_dirty(Connection* connection) override { dirty_.push_back(connection); }

  // One poller iteration in EngineCore::run's order: sockets, due timers, flush, free.
  void run_once(int timeout_ms = 0) {
    poller_.wait(timeout_ms);
    std::vector<DueTimer> due;
    timers_.pop_due(Clock::now(), due);
    for (const DueTimer& t : due) {
      if (t.kind == TimerKind::kCallDeadline) {
        if (Call* call = calls_.find(t.id)) call->on_deadline();
      } else if (t.kind == TimerKind::kChannelReconnect || t.kind == TimerKind::kChannelIdle ||
                 t.kind == TimerKind::kChannelRetry || t.kind == TimerKind::kChannelHealth ||
                 t.kind == TimerKind::kChannelDialNext) {
        if (channel_ != nullptr && channel_id_ == t.id) {
          if (t.kind == TimerKind::kChannelReconnect) channel_->on_reconnect_timer();
          else if (t.kind == TimerKind::kChannelIdle) channel_->on_idle_timer();
          else if (t.kind == TimerKind::kChannelRetry) channel_->on_retry_timer();
          else if (t.kind == TimerKind::kChannelHealth) channel_->on_health_timer();
          else channel_->on_dial_timer();
        }
      } else if (Connection* c = connection_with_id(t.id)) {
        c->on_timer(t.kind);
      }  // accept retries: no user needs them yet
    }
    for (size_t i = 0; i < dirty_.size(); ++i) dirty_[i]->flush();  // flushing may dirty more
    dirty_.clear();
    retired_.clear();
  }

  // Runs iterations (each waiting up to `poll_ms` for sockets) until `done()` (true) or `limit`
  // has passed (false).
  template <typename Done>
  bool run_until(Done done, std::chrono::milliseconds limit = std::chrono::milliseconds(5000),
                 int poll_ms = 5) {
    auto give_up = Clock::now() + limit;
    while (!done()) {
      if (Clock::now() >= give_up) return false;
      run_once(poll_ms);
    }
    return true;
  }

  template <typename T>
  T* find_connection() const {
    for (const auto& c : connections_) {
      if (auto* typed = dynamic_cast<T*>(c.get())) return typed;
    }
    return nullptr;
  }
  size_t live_connections() const { return connections_.size(); }
  // The channel that gets the kChannel* timers set under `id`.
  void route_channel_timers(uint64_t id, Channel* channel) {
    channel_id_ = id;
    channel_ = channel;
  }

 private:
  Connection* connection_with_id(uint64_t id) const {
    for (const auto& c : connections_) {
      if (c->id() == id) return c.get();
    }
    return nullptr;
  }

  // Destroyed in reverse: connections own calls, which leave calls_ when they go.
  Poller poller_;
  TimerQueue timers_;
  CallRegistry calls_;
  Resolver resolver_{poller_, [](uint64_t, ResolvedTarget) {}};  // numeric and unix targets need no lookup
  uint64_t next_id_ = 100;
  uint64_t channel_id_ = 0;
  Channel* channel_ = nullptr;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<Connection*> dirty_;
  std::vector<std::unique_ptr<Connection>> retired_;
  std::vector<std::unique_ptr<Call>> kept_;
};

}  // namespace turbogrpc::internal
