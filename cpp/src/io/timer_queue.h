// TimerQueue: call deadlines, reconnects and connection timeouts, as a min-heap of (when, what, id).
// Cancelling is lazy: a fired id whose object is gone is simply ignored. Poller thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <queue>
#include <vector>

namespace turbogrpc::internal {

using Clock = std::chrono::steady_clock;

enum class TimerKind : uint8_t {
  kCallDeadline,         // id: call
  kChannelReconnect,     // id: channel
  kConnectionHandshake,  // id: connection; the peer's preface and SETTINGS are due
  kConnectionIdle,       // id: connection; it may have been idle for the allowed time
  kAcceptRetry,          // id: server; accepting paused after running out of descriptors
};

struct DueTimer {
  TimerKind kind;
  uint64_t id;
};

class TimerQueue {
 public:
  void add(Clock::time_point when, TimerKind kind, uint64_t id) { heap_.push({when, kind, id}); }

  // Milliseconds until the earliest timer (rounded up), or -1 when there is none.
  int next_timeout_ms(Clock::time_point now) const;

  // Pops every timer due at `now` into `out`.
  void pop_due(Clock::time_point now, std::vector<DueTimer>& out);

 private:
  struct Entry {
    Clock::time_point when;
    TimerKind kind;
    uint64_t id;
    bool operator>(const Entry& o) const { return when > o.when; }
  };
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap_;
};

}  // namespace turbogrpc::internal
