// ConnectionBackoff against gRPC's connection-backoff doc: the retry delays grow 1.6x within
// the jitter, stop at the maximum, every attempt gets the minimum connect timeout, and a reset
// starts over.
#include <gtest/gtest.h>

#include <chrono>

#include "transport/backoff.h"

namespace turbogrpc::internal {
namespace {

using std::chrono::milliseconds;

double millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

TEST(ConnectionBackoff, DelaysGrowByTheMultiplierWithinTheJitterUpToTheMaximum) {
  BackoffSettings settings;  // 1 s, x1.6, jitter 0.2, max 120 s, connect timeout 20 s
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    ConnectionBackoff backoff(settings, seed);
    Clock::time_point now = Clock::now();
    double expected = 1000;
    for (int attempt = 0; attempt < 20; ++attempt) {
      ConnectionBackoff::Attempt a = backoff.begin_attempt(now);
      double delay = millis(a.retry_at - now);
      EXPECT_GE(delay, expected * 0.8 - 1) << "attempt " << attempt << " seed " << seed;
      EXPECT_LE(delay, expected * 1.2 + 1) << "attempt " << attempt << " seed " << seed;
      EXPECT_GE(millis(a.connect_deadline - now), 20'000 - 1);
      EXPECT_GE(a.connect_deadline, a.retry_at);
      expected = std::min(expected * 1.6, 120'000.0);
    }
  }
}

TEST(ConnectionBackoff, JitterSpreadsTheDelays) {
  ConnectionBackoff backoff(BackoffSettings{}, 7);
  Clock::time_point now = Clock::now();
  double low = 1e9, high = 0;
  for (int i = 0; i < 200; ++i) {
    backoff.reset();
    double delay = millis(backoff.begin_attempt(now).retry_at - now);
    low = std::min(low, delay);
    high = std::max(high, delay);
  }
  EXPECT_LT(low, 900);   // not a fixed 1 s: drawn from [800, 1200]
  EXPECT_GT(high, 1100);
}

TEST(ConnectionBackoff, ResetStartsFromTheInitialBackoffAgain) {
  BackoffSettings settings;
  settings.initial = milliseconds(100);
  settings.max = milliseconds(300);
  settings.min_connect_timeout = milliseconds(50);
  ConnectionBackoff backoff(settings, 3);
  Clock::time_point now = Clock::now();
  for (int i = 0; i < 10; ++i) backoff.begin_attempt(now);
  EXPECT_LE(millis(backoff.begin_attempt(now).retry_at - now), 300 * 1.2 + 1);  // capped
  backoff.reset();
  ConnectionBackoff::Attempt a = backoff.begin_attempt(now);
  EXPECT_LE(millis(a.retry_at - now), 120 + 1);
  EXPECT_GE(millis(a.retry_at - now), 80 - 1);
  // A short backoff still leaves the attempt its minimum connect time.
  EXPECT_EQ(a.connect_deadline, std::max(a.retry_at, now + milliseconds(50)));
}

}  // namespace
}  // namespace turbogrpc::internal
