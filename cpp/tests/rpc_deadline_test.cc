// Tests for rpc/deadline.h: timeouts become deadlines without overflow — huge and infinite ones
// mean no deadline, negative ones have passed, ordinary ones land where they should.
#include "rpc/deadline.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace turbogrpc::internal {
namespace {

using std::chrono::nanoseconds;

TEST(DeadlineTest, OrdinaryTimeoutsLandWhereExpected) {
  Clock::time_point now = Clock::now();
  EXPECT_EQ(deadline_after_seconds(1.5, now), now + nanoseconds(1'500'000'000));
  EXPECT_EQ(deadline_after_ns(42, now), now + nanoseconds(42));
}

TEST(DeadlineTest, PassedTimeoutsAreNow) {
  Clock::time_point now = Clock::now();
  EXPECT_EQ(deadline_after_seconds(0, now), now);
  EXPECT_EQ(deadline_after_seconds(-3, now), now);
  EXPECT_EQ(deadline_after_seconds(-INFINITY, now), now);
  EXPECT_EQ(deadline_after_ns(-5, now), now);
}

TEST(DeadlineTest, TimeoutsBeyondTheClockMeanNoDeadline) {
  Clock::time_point now = Clock::now();
  // 1e10 s is ~317 years: more nanoseconds than int64 holds once added to any steady clock.
  for (double seconds : {1e10, 1e12, 1e300, static_cast<double>(INFINITY)})
    EXPECT_FALSE(deadline_after_seconds(seconds, now).has_value()) << seconds;
  EXPECT_FALSE(deadline_after_ns(std::numeric_limits<int64_t>::max(), now).has_value());
}

TEST(DeadlineTest, LargeButRepresentableTimeoutsStayInTheFuture) {
  Clock::time_point now = Clock::now();
  auto deadline = deadline_after_seconds(1e8, now);  // ~3 years
  ASSERT_TRUE(deadline.has_value());
  EXPECT_GT(*deadline, now + std::chrono::hours(24 * 365));
}

TEST(DeadlineTest, NanIsNoDeadlineHere) {
  // The binding refuses NaN before it gets this far; the engine must still not invent one.
  EXPECT_FALSE(deadline_after_seconds(std::nan(""), Clock::now()).has_value());
}

}  // namespace
}  // namespace turbogrpc::internal
