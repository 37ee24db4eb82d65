// RetryState and RetryThrottle: gRPC A6's retry decisions, without any transport.
#include "rpc/retry.h"

#include <gtest/gtest.h>

namespace turbogrpc::internal {
namespace {

RetryPolicy policy(int attempts = 3) {
  RetryPolicy p;
  p.max_attempts = attempts;
  p.initial_backoff_seconds = 0.1;
  p.max_backoff_seconds = 0.3;
  p.backoff_multiplier = 2;
  p.retryable_codes.add(StatusCode::kUnavailable);
  return p;
}

TEST(RetryState, RetriesListedCodesUpToMaxAttemptsWithBoundedBackoff) {
  RetryState state(policy(4), nullptr);
  EXPECT_EQ(state.previous_attempts(), 0);
  // The n-th backoff is drawn from [0, min(initial * multiplier^(n-1), max)).
  for (double ceiling : {0.1, 0.2, 0.3}) {
    auto delay = state.after_failure(StatusCode::kUnavailable, std::nullopt, false);
    ASSERT_TRUE(delay.has_value());
    EXPECT_GE(delay->count(), 0);
    EXPECT_LE(std::chrono::duration<double>(*delay).count(), ceiling);
  }
  EXPECT_EQ(state.previous_attempts(), 3);
  EXPECT_FALSE(state.after_failure(StatusCode::kUnavailable, std::nullopt, false));  // 4 made
}

TEST(RetryState, OtherCodesAreFinal) {
  RetryState state(policy(), nullptr);
  EXPECT_FALSE(state.after_failure(StatusCode::kInvalidArgument, std::nullopt, false));
  EXPECT_FALSE(state.after_failure(StatusCode::kDeadlineExceeded, std::nullopt, false));
}

TEST(RetryState, PushbackSetsTheDelayOrStopsRetrying) {
  RetryState state(policy(5), nullptr);
  auto delay = state.after_failure(StatusCode::kUnavailable, "250", false);
  ASSERT_TRUE(delay.has_value());
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(*delay).count(), 250);
  // After a pushback the backoff starts over from initialBackoff.
  delay = state.after_failure(StatusCode::kUnavailable, std::nullopt, false);
  ASSERT_TRUE(delay.has_value());
  EXPECT_LE(std::chrono::duration<double>(*delay).count(), 0.1);
  for (const char* stop : {"-1", "abc", "007", "", "99999999999"}) {
    RetryState fresh(policy(5), nullptr);
    EXPECT_FALSE(fresh.after_failure(StatusCode::kUnavailable, std::string_view(stop), false)) << stop;
  }
  RetryState repeated(policy(5), nullptr);
  EXPECT_FALSE(repeated.after_failure(StatusCode::kUnavailable, "10", /*pushback_repeated=*/true));
}

TEST(RetryThrottle, RetriesStopAtHalfTheTokensAndComeBackWithSuccesses) {
  auto throttle = std::make_shared<RetryThrottle>(RetryThrottling{4, 0.5});
  RetryState first(policy(5), throttle);
  EXPECT_TRUE(first.after_failure(StatusCode::kUnavailable, std::nullopt, false));   // 4 -> 3
  EXPECT_FALSE(first.after_failure(StatusCode::kUnavailable, std::nullopt, false));  // 3 -> 2: throttled
  RetryState second(policy(5), throttle);
  EXPECT_FALSE(second.after_failure(StatusCode::kUnavailable, std::nullopt, false));  // 2 -> 1
  for (int i = 0; i < 4; ++i) second.on_success();                                     // 1 -> 3
  RetryState third(policy(5), throttle);
  EXPECT_FALSE(third.after_failure(StatusCode::kUnavailable, std::nullopt, false));  // 3 -> 2
  for (int i = 0; i < 10; ++i) third.on_success();  // capped at 4
  RetryState fourth(policy(5), throttle);
  EXPECT_TRUE(fourth.after_failure(StatusCode::kUnavailable, std::nullopt, false));  // 4 -> 3
}

TEST(ParsePushback, AcceptsOnlyCanonicalNonNegativeInt32) {
  EXPECT_EQ(parse_pushback_ms("0"), 0);
  EXPECT_EQ(parse_pushback_ms("2147483647"), 2147483647);
  EXPECT_FALSE(parse_pushback_ms("2147483648"));
  EXPECT_FALSE(parse_pushback_ms("01"));
  EXPECT_FALSE(parse_pushback_ms("+1"));
  EXPECT_FALSE(parse_pushback_ms(" 1"));
}

}  // namespace
}  // namespace turbogrpc::internal
