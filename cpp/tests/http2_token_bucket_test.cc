// Tests for TokenBucket: a burst, then a steady rate, never more than the burst saved up.
#include "http2/token_bucket.h"

#include <gtest/gtest.h>

namespace turbogrpc::internal {
namespace {

using std::chrono::milliseconds;

TEST(TokenBucketTest, BurstThenRate) {
  TokenBucket bucket(3, 10);
  auto t = TokenBucket::Clock::time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(bucket.take(t)) << i;
  EXPECT_FALSE(bucket.take(t));
  EXPECT_FALSE(bucket.take(t + milliseconds(50)));  // half a token
  EXPECT_TRUE(bucket.take(t + milliseconds(120)));  // 10 per second: one more after 100 ms
  EXPECT_FALSE(bucket.take(t + milliseconds(130)));
}

TEST(TokenBucketTest, IdleTimeSavesAtMostTheBurst) {
  TokenBucket bucket(2, 1000);
  auto t = TokenBucket::Clock::time_point{} + std::chrono::hours(1);
  EXPECT_TRUE(bucket.take(t));
  t += std::chrono::seconds(60);
  EXPECT_TRUE(bucket.take(t));
  EXPECT_TRUE(bucket.take(t));
  EXPECT_FALSE(bucket.take(t));
}

}  // namespace
}  // namespace turbogrpc::internal
