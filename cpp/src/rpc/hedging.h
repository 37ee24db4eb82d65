// Hedging (gRPC proposal A6's hedgingPolicy): one call sent as up to maxAttempts attempts, a
// hedgingDelay apart, each a ClientCall of its own on its own stream (the channel picks a
// connection per attempt). The first attempt to commit (response headers, or an OK or fatal
// end) is the call; the others are reset with CANCEL and never reach the application.
// Poller thread only.
//
//   attempt 0 submitted ──delay──► attempt 1 ──delay──► ... (while nothing committed)
//   an attempt fails, non-fatal: the next starts at once (or after the server's pushback);
//     alone and out of attempts, the call ends with its failure
//   headers / OK / fatal status on attempt k: k commits, the others are cancelled
//
// Every attempt carries the call's id. Only one is in the CallRegistry at a time (commands
// reach it and it fans them out here); only the committed one, or the one the call ends on,
// pushes events, except kWriteDone, which the registered one pushes as soon as a write is in
// the replay buffer (the buffer's limits bound what that lets the application queue).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/timer_queue.h"
#include "rpc/retry.h"
#include "rpc/stream_port.h"
#include "turbogrpc/commands.h"
#include "turbogrpc/completion_queue.h"
#include "turbogrpc/service_config.h"

namespace turbogrpc::internal {

class CallRegistry;
class ClientCall;
class Hedging;

// What the channel does for hedged calls (Channel implements it).
class HedgeHost {
 public:
  // Sends one more attempt of a call (picking a connection for it, or holding it until one).
  virtual void start_hedge(std::unique_ptr<ClientCall> attempt) = 0;
  // Calls hedging->on_wake(now) once `due` has passed (if it still exists then).
  virtual void wake_hedging_at(Clock::time_point due, std::weak_ptr<Hedging> hedging) = 0;

 protected:
  virtual ~HedgeHost() = default;
};

// The policy alone: when attempts start and what a failed attempt means.
class HedgeDecisions {
 public:
  enum class Verdict : uint8_t {
    kFatal,      // the call ends with this failure; the other attempts are cancelled
    kNextNow,    // the next attempt may start at once
    kNextAfter,  // the next attempt starts after `delay` (the server's pushback)
    kNoMore,     // no further attempts; the others in flight go on
  };
  struct AfterFailure {
    Verdict verdict;
    Clock::duration delay{};
  };

  HedgeDecisions(const HedgingPolicy& policy, std::shared_ptr<RetryThrottle> throttle);

  // Counts one more attempt; returns its index (its grpc-previous-rpc-attempts).
  int start_attempt() { return started_++; }
  int started() const { return started_; }
  // Another attempt may start: attempts remain, no pushback said stop, not throttled.
  bool may_start() const;
  Clock::duration delay() const { return delay_; }
  // An attempt failed with `code` (`pushback`: its grpc-retry-pushback-ms, if any).
  AfterFailure after_failure(StatusCode code, std::optional<std::string_view> pushback,
                             bool pushback_repeated);
  void on_success();

 private:
  const HedgingPolicy policy_;
  const Clock::duration delay_;
  const std::shared_ptr<RetryThrottle> throttle_;  // null without retryThrottling
  int started_ = 0;
  bool stopped_ = false;  // a pushback said no more
};

// What later attempts are built from: the first attempt's request.
struct HedgeSeed {
  uint64_t id = 0;
  std::shared_ptr<CompletionQueue> cq;
  CallRegistry* registry = nullptr;
  int64_t max_receive_size = -1;
  int64_t max_send_size = -1;
  int64_t max_metadata_size = -1;
  int64_t absolute_max_metadata_size = -1;
  size_t per_rpc_buffer = 0;  // grpc.per_rpc_retry_buffer_size
  std::string method;
  Metadata metadata;
  std::optional<Clock::time_point> deadline;
  CallShape shape = CallShape::kUnary;
  bool wait_for_ready = false;
  Compression compression = Compression::kNone;
};

// One hedged call: its attempts, the replay buffer, and who commits.
class Hedging : public std::enable_shared_from_this<Hedging> {
 public:
  Hedging(const HedgingPolicy& policy, std::shared_ptr<RetryThrottle> throttle,
          std::shared_ptr<RetryBufferBudget> buffer, HedgeSeed seed);
  ~Hedging();
  Hedging(const Hedging&) = delete;
  Hedging& operator=(const Hedging&) = delete;

  HedgeSeed& seed() { return seed_; }
  HedgeDecisions& decisions() { return decisions_; }
  // Writes still go to every attempt and into the replay buffer.
  bool replaying() const { return !committed_ && !finished_; }

  // The attempts
  void add(ClientCall& attempt) { live_.push_back(&attempt); }
  // `attempt` leaves (destroyed, or cancelled as a loser): the registry moves to another.
  void unlink(ClientCall& attempt);
  // The channel sends `attempt` (first time or again): the next one is due a delay later.
  void on_attempt_submitted(ClientCall& attempt, HedgeHost& host);
  void on_wake(Clock::time_point now);
  // One of its attempts has a stream on `port` (the channel sends a hedge elsewhere if it can).
  bool has_attempt_on(const StreamPort* port) const;

  // From the registered attempt: fanned out to every attempt and kept for later ones.
  void on_send(std::string&& message, bool end_of_stream, bool compress);
  void on_half_close();
  // The attempt's stream ended with `status` before it committed. True: the call goes on
  // without it (dropped, or sent again: its retry_due()); false: the call ends with it.
  bool attempt_ended(ClientCall& attempt, const Status& status);
  // Response headers on `attempt`: it is the call from now on.
  void commit(ClientCall& attempt);
  // The call ends on `attempt` (it pushes the last event): the others are cancelled.
  void on_complete(ClientCall& attempt);
  // `attempt` goes again (ClientCall::prepare_retry): what was sent is queued on it anew.
  void refill(ClientCall& attempt);

 private:
  struct Buffered {
    std::string message;
    bool compress;
  };
  void start_next();
  void schedule_next(Clock::time_point due);
  void cancel_others(ClientCall& keep);
  // Ends `attempt` silently; kYes: resets its stream (CANCEL), for an attempt still running.
  enum class Reset : uint8_t { kYes, kNo };
  void abandon(ClientCall& attempt, Reset reset);
  void replay_into(ClientCall& attempt);
  void drop_buffer();
  // Commands and read credit go to `attempt` from now on.
  void register_attempt(ClientCall& attempt);

  HedgeDecisions decisions_;
  const std::shared_ptr<RetryBufferBudget> buffer_budget_;  // null: no channel-wide limit
  HedgeSeed seed_;
  std::vector<ClientCall*> live_;  // attempts not yet ended, oldest first
  std::vector<Buffered> buffer_;   // what the application sent, for later attempts
  size_t buffer_bytes_ = 0;
  bool closed_ = false;  // the application half-closed
  bool committed_ = false;
  bool finished_ = false;
  HedgeHost* host_ = nullptr;  // the channel, once the first attempt was submitted
  std::optional<Clock::time_point> next_due_;  // when the next attempt starts
};

}  // namespace turbogrpc::internal
