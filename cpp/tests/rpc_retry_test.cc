// RetryState, RetryThrottle and RetryBufferBudget: gRPC A6's retry decisions, without any
// transport (client calls are driven through their data source, as nghttp2 would).
#include "rpc/retry.h"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <string>

#include "rpc/client_call.h"

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

TEST(RetryBufferBudget, TakesUpToItsLimitAndGetsBytesBack) {
  RetryBufferBudget budget(100);
  EXPECT_TRUE(budget.take(60));
  EXPECT_FALSE(budget.take(41));  // nothing taken when it does not fit
  EXPECT_EQ(budget.used(), 60u);
  EXPECT_TRUE(budget.take(40));
  budget.give_back(70);
  EXPECT_EQ(budget.used(), 30u);
  RetryBufferBudget unlimited(-1);
  EXPECT_TRUE(unlimited.take(size_t{1} << 40));
}

TEST(RetryBufferBudget, ACallsShareCoversWhatItKeepsOnceUntilReleased) {
  auto budget = std::make_shared<RetryBufferBudget>(100);
  {
    RetryState call(policy(), nullptr, budget);
    EXPECT_TRUE(call.hold_buffer(30));
    EXPECT_TRUE(call.hold_buffer(10));  // sent again after a rewind: already covered
    EXPECT_EQ(budget->used(), 30u);
    RetryState other(policy(), nullptr, budget);
    EXPECT_FALSE(other.hold_buffer(80));  // 30 + 80 > 100
    EXPECT_TRUE(other.hold_buffer(70));
    call.release_buffer();
    EXPECT_EQ(budget->used(), 70u);
  }
  EXPECT_EQ(budget->used(), 0u);  // a call that goes away gives its share back
}

// Client calls on one channel's retry buffer: 64 KiB shared, 1 MiB per call.
class RetryBufferCalls : public ::testing::Test {
 protected:
  RetryBufferCalls() {
    options_.per_rpc_retry_buffer_size = 1 << 20;
    config_.retry = policy();
  }

  std::unique_ptr<ClientCall> start(bool with_policy = true) {
    StartCallCommand command;
    command.call_id = ++last_id_;
    command.cq = std::make_shared<CompletionQueue>();
    command.method = "/test.Svc/Join";
    command.shape = CallShape::kStreaming;
    return std::make_unique<ClientCall>(std::move(command), options_, with_policy ? &config_ : nullptr,
                                        nullptr, registry_, nullptr, budget_);
  }

  // Queues `bytes` in one message and lets the data source send all of it.
  static void send(ClientCall& call, size_t bytes) {
    SendMessageCommand command;
    command.call_id = call.id();
    command.message.assign(bytes, 'x');
    call.send(std::move(command));
    std::string wire;
    for (;;) {
      uint32_t flags = 0;
      ssize_t n = call.read_outbound(16 * 1024, &flags);
      if (n <= 0) break;
      call.take_outbound(static_cast<size_t>(n), wire);
    }
  }

  ChannelOptions options_;
  MethodConfig config_;
  CallRegistry registry_;
  uint64_t last_id_ = 0;
  std::shared_ptr<RetryBufferBudget> budget_ = std::make_shared<RetryBufferBudget>(64 * 1024);
};

TEST_F(RetryBufferCalls, ACallOverTheChannelsBufferCommitsAndTheOthersKeepTheirs) {
  auto first = start();
  auto second = start();
  send(*first, 40 * 1024);
  EXPECT_EQ(budget_->used(), 40u * 1024);
  send(*second, 40 * 1024);  // 80 KiB > 64 KiB: the second call commits, its bytes dropped
  EXPECT_FALSE(second->retaining());
  EXPECT_TRUE(first->retaining());
  EXPECT_EQ(budget_->used(), 40u * 1024);
  send(*first, 20 * 1024);  // still fits
  EXPECT_TRUE(first->retaining());
  EXPECT_EQ(budget_->used(), 60u * 1024);
  // Sent again whole after a refused stream: the same bytes, not counted twice.
  first->prepare_transparent_retry();
  send(*first, 0);
  EXPECT_TRUE(first->retaining());
  EXPECT_EQ(budget_->used(), 60u * 1024);
  first->cancel({StatusCode::kCancelled, "done"});  // a finished call gives its share back
  EXPECT_EQ(budget_->used(), 0u);
  auto later = start();
  send(*later, 40 * 1024);
  EXPECT_TRUE(later->retaining());
}

TEST_F(RetryBufferCalls, ACommittedOrDestroyedCallGivesItsShareBack) {
  options_.per_rpc_retry_buffer_size = 50 * 1024;
  auto call = start();
  send(*call, 40 * 1024);
  EXPECT_EQ(budget_->used(), 40u * 1024);
  send(*call, 20 * 1024);  // over its own limit: committed
  EXPECT_FALSE(call->retaining());
  EXPECT_EQ(budget_->used(), 0u);
  auto other = start();
  send(*other, 30 * 1024);
  other->begin_headers(false, false);  // response headers commit the call
  EXPECT_EQ(budget_->used(), 0u);
  auto dropped = start();
  send(*dropped, 30 * 1024);
  dropped.reset();
  EXPECT_EQ(budget_->used(), 0u);
}

TEST_F(RetryBufferCalls, ACallWithoutARetryPolicyDoesNotCount) {
  auto call = start(/*with_policy=*/false);
  send(*call, 100 * 1024);  // kept for a transparent retry, within its own limit only
  EXPECT_TRUE(call->retaining());
  EXPECT_EQ(budget_->used(), 0u);
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
