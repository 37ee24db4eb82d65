// TimerQueue: call deadlines, reconnects and connection timeouts, as a min-heap of (when, what, id).
// Cancelling is lazy: a fired id whose object is gone is simply ignored, and retain() drops
// the entries of objects that are gone (the engine calls it as the queue grows), so a finished
// call's deadline does not sit here until it passes. Poller thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <algorithm>
#include <vector>

namespace turbogrpc::internal {

using Clock = std::chrono::steady_clock;

enum class TimerKind : uint8_t {
  kCallDeadline,         // id: call
  kChannelReconnect,     // id: channel; its backoff is over
  kChannelIdle,          // id: channel; it may have had no call for its idle timeout
  kChannelRetry,         // id: channel; a call's next attempt may be due (retry_later)
  kChannelHealth,        // id: channel; a subchannel's health watch has news or may start again
  kChannelDialNext,      // id: channel; a subchannel's address may have had its Happy Eyeballs delay
  kConnectDeadline,      // id: connection (client); connected, handshaken and SETTINGS by now?
  kConnectionHandshake,  // id: connection; the peer's preface and SETTINGS are due
  kConnectionIdle,       // id: connection; it may have been idle for the allowed time
  kAcceptRetry,          // id: server; accepting paused after running out of descriptors
  kKeepalive,            // id: connection; a keepalive PING may be due, or its ACK overdue
  kConnectionAge,        // id: connection (server); its maximum age, then its grace, is over
  kGoawayPing,           // id: connection (server); the first GOAWAY's PING went unanswered too long
};

struct DueTimer {
  TimerKind kind;
  uint64_t id;
};

class TimerQueue {
 public:
  void add(Clock::time_point when, TimerKind kind, uint64_t id) {
    heap_.push_back({when, kind, id});
    std::push_heap(heap_.begin(), heap_.end(), Later{});
  }
  size_t size() const { return heap_.size(); }

  // Keeps only the timers for which `wanted(kind, id)` is true.
  template <typename Wanted>
  void retain(Wanted wanted) {
    std::erase_if(heap_, [&](const Entry& e) { return !wanted(e.kind, e.id); });
    std::make_heap(heap_.begin(), heap_.end(), Later{});
  }

  // Milliseconds until the earliest timer (rounded up), or -1 when there is none.
  int next_timeout_ms(Clock::time_point now) const;

  // Pops every timer due at `now` into `out`.
  void pop_due(Clock::time_point now, std::vector<DueTimer>& out);

 private:
  struct Entry {
    Clock::time_point when;
    TimerKind kind;
    uint64_t id;
  };
  struct Later {  // heap order: the earliest on top
    bool operator()(const Entry& a, const Entry& b) const { return a.when > b.when; }
  };
  std::vector<Entry> heap_;
};

}  // namespace turbogrpc::internal
