#include "io/timer_queue.h"

#include <algorithm>

namespace turbogrpc::internal {

int TimerQueue::next_timeout_ms(Clock::time_point now) const {
  if (heap_.empty()) return -1;
  auto when = heap_.front().when;
  if (when <= now) return 0;
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(when - now).count();
  return static_cast<int>(std::min<int64_t>((us + 999) / 1000, 60'000));
}

void TimerQueue::pop_due(Clock::time_point now, std::vector<DueTimer>& out) {
  while (!heap_.empty() && heap_.front().when <= now) {
    out.push_back({heap_.front().kind, heap_.front().id});
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    heap_.pop_back();
  }
}

}  // namespace turbogrpc::internal
