// Tests for TimerQueue: due timers come out earliest first, and retain() drops the timers of
// objects that are gone while keeping the order of the rest.
#include "io/timer_queue.h"

#include <gtest/gtest.h>

#include <vector>

namespace turbogrpc::internal {
namespace {

TEST(TimerQueueTest, DueTimersComeOutEarliestFirst) {
  TimerQueue q;
  Clock::time_point t0 = Clock::now();
  q.add(t0 + std::chrono::milliseconds(30), TimerKind::kCallDeadline, 3);
  q.add(t0 + std::chrono::milliseconds(10), TimerKind::kCallDeadline, 1);
  q.add(t0 + std::chrono::milliseconds(20), TimerKind::kChannelReconnect, 2);
  std::vector<DueTimer> due;
  q.pop_due(t0 + std::chrono::milliseconds(25), due);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].id, 1u);
  EXPECT_EQ(due[1].id, 2u);
  EXPECT_EQ(q.size(), 1u);
}

TEST(TimerQueueTest, RetainDropsTheUnwantedAndKeepsTheOrder) {
  TimerQueue q;
  Clock::time_point t0 = Clock::now();
  for (uint64_t id = 1; id <= 1000; ++id)
    q.add(t0 + std::chrono::microseconds(1000 - id), TimerKind::kCallDeadline, id);
  q.retain([](TimerKind, uint64_t id) { return id % 10 == 0; });  // the other calls finished
  EXPECT_EQ(q.size(), 100u);
  std::vector<DueTimer> due;
  q.pop_due(t0 + std::chrono::seconds(1), due);
  ASSERT_EQ(due.size(), 100u);
  for (size_t i = 1; i < due.size(); ++i) EXPECT_GT(due[i - 1].id, due[i].id);  // earliest first
  for (const DueTimer& t : due) EXPECT_EQ(t.id % 10, 0u);
}

}  // namespace
}  // namespace turbogrpc::internal
