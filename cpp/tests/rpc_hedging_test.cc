// HedgeDecisions and Hedging: gRPC A6's hedging decisions, and a hedged call's attempts driven
// without any transport (a fake channel collects the attempts it is asked to send).
#include "rpc/hedging.h"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <string>
#include <vector>

#include "rpc/call_registry.h"
#include "rpc/client_call.h"

namespace turbogrpc::internal {
namespace {

using Verdict = HedgeDecisions::Verdict;

HedgingPolicy policy(int attempts = 3, double delay_seconds = 0.5) {
  HedgingPolicy p;
  p.max_attempts = attempts;
  p.delay_seconds = delay_seconds;
  p.non_fatal_codes.add(StatusCode::kUnavailable);
  return p;
}

TEST(HedgeDecisions, NonFatalCodesLetTheNextAttemptStartAtOnceUntilMaxAttempts) {
  HedgeDecisions d(policy(3), nullptr);
  EXPECT_EQ(d.start_attempt(), 0);
  EXPECT_EQ(d.after_failure(StatusCode::kUnavailable, std::nullopt, false).verdict, Verdict::kNextNow);
  EXPECT_EQ(d.start_attempt(), 1);
  EXPECT_EQ(d.start_attempt(), 2);
  EXPECT_FALSE(d.may_start());
  EXPECT_EQ(d.after_failure(StatusCode::kUnavailable, std::nullopt, false).verdict, Verdict::kNoMore);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(d.delay()).count(), 500);
}

TEST(HedgeDecisions, OtherCodesAreFatal) {
  HedgeDecisions d(policy(), nullptr);
  d.start_attempt();
  EXPECT_EQ(d.after_failure(StatusCode::kInvalidArgument, std::nullopt, false).verdict, Verdict::kFatal);
  EXPECT_EQ(d.after_failure(StatusCode::kInternal, "10", false).verdict, Verdict::kFatal);
}

TEST(HedgeDecisions, PushbackDelaysTheNextAttemptOrStopsThem) {
  HedgeDecisions d(policy(5), nullptr);
  d.start_attempt();
  auto after = d.after_failure(StatusCode::kUnavailable, "250", false);
  EXPECT_EQ(after.verdict, Verdict::kNextAfter);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(after.delay).count(), 250);
  for (const char* stop : {"-1", "x", "01"}) {
    HedgeDecisions fresh(policy(5), nullptr);
    fresh.start_attempt();
    EXPECT_EQ(fresh.after_failure(StatusCode::kUnavailable, std::string_view(stop), false).verdict,
              Verdict::kNoMore) << stop;
    EXPECT_FALSE(fresh.may_start());
  }
  HedgeDecisions repeated(policy(5), nullptr);
  repeated.start_attempt();
  EXPECT_EQ(repeated.after_failure(StatusCode::kUnavailable, "5", true).verdict, Verdict::kNoMore);
}

TEST(HedgeDecisions, TheThrottleStopsHedgesAndSuccessesBringThemBack) {
  auto throttle = std::make_shared<RetryThrottle>(RetryThrottling{4, 1});
  HedgeDecisions d(policy(5), throttle);
  d.start_attempt();
  EXPECT_TRUE(d.may_start());
  EXPECT_EQ(d.after_failure(StatusCode::kUnavailable, std::nullopt, false).verdict, Verdict::kNextNow);  // 3
  EXPECT_EQ(d.after_failure(StatusCode::kUnavailable, std::nullopt, false).verdict, Verdict::kNoMore);  // 2
  EXPECT_FALSE(d.may_start());
  d.on_success();  // 3
  EXPECT_TRUE(d.may_start());
}

// A fake channel: attempts it is asked to send are kept; wakeups are run by hand.
class FakeHost : public HedgeHost {
 public:
  void start_hedge(std::unique_ptr<ClientCall> attempt) override { submit(std::move(attempt)); }
  void wake_hedging_at(Clock::time_point due, std::weak_ptr<Hedging> hedging) override {
    wakes.push_back({due, std::move(hedging)});
  }
  void submit(std::unique_ptr<ClientCall> attempt) {
    if (attempt->hedging() != nullptr) attempt->hedging()->on_attempt_submitted(*attempt, *this);
    attempts.push_back(std::move(attempt));
  }
  // Runs the wakeups due by `now` as if that much time had passed.
  void run_wakes() {
    auto due = std::move(wakes);
    wakes.clear();
    for (auto& w : due) {
      if (auto h = w.second.lock()) h->on_wake(w.first);
    }
  }
  std::vector<std::unique_ptr<ClientCall>> attempts;
  std::vector<std::pair<Clock::time_point, std::weak_ptr<Hedging>>> wakes;
};

class HedgedCall : public ::testing::Test {
 protected:
  HedgedCall() {
    options_.per_rpc_retry_buffer_size = 1 << 20;
    config_.hedging = policy(3, 0.5);
  }

  void start(CallShape shape = CallShape::kUnary) {
    StartCallCommand command;
    command.call_id = 7;
    command.cq = cq_;
    command.method = "/test.Svc/Get";
    command.shape = shape;
    if (shape == CallShape::kUnary) command.message = "ping";
    host_.submit(std::make_unique<ClientCall>(std::move(command), options_, &config_, nullptr, registry_,
                                              nullptr, budget_));
  }
  ClientCall& attempt(size_t i) { return *host_.attempts.at(i); }
  static std::string wire(ClientCall& call) {
    std::string out;
    for (;;) {
      uint32_t flags = 0;
      ssize_t n = call.read_outbound(16 * 1024, &flags);
      if (n <= 0) break;
      call.take_outbound(static_cast<size_t>(n), out);
    }
    return out;
  }
  static void respond(ClientCall& call, bool headers, StatusCode code, const char* pushback = nullptr) {
    if (headers) {
      call.begin_headers(/*trailers_block=*/false, /*end_stream=*/false);
      call.on_header(":status", "200");
      call.on_header("content-type", "application/grpc");
      call.end_headers();
      static const char kPong[] = {0, 0, 0, 0, 4, 'p', 'o', 'n', 'g'};
      call.on_data(reinterpret_cast<const uint8_t*>(kPong), sizeof kPong);
    }
    call.begin_headers(!headers, true);
    if (!headers) call.on_header(":status", "200");
    call.on_header("grpc-status", std::to_string(static_cast<int>(code)));
    if (pushback) call.on_header("grpc-retry-pushback-ms", pushback);
    call.end_headers();
    call.on_peer_end_stream();
  }

  ChannelOptions options_;
  MethodConfig config_;
  CallRegistry registry_;
  FakeHost host_;
  std::shared_ptr<CompletionQueue> cq_ = std::make_shared<CompletionQueue>();
  std::shared_ptr<RetryBufferBudget> budget_ = std::make_shared<RetryBufferBudget>(64 * 1024);
};

TEST_F(HedgedCall, AnotherAttemptEveryDelayUntilMaxAttemptsEachWithItsIndex) {
  start();
  ASSERT_EQ(host_.wakes.size(), 1u);
  host_.run_wakes();
  host_.run_wakes();
  host_.run_wakes();  // nothing more: three attempts are out
  ASSERT_EQ(host_.attempts.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(attempt(i).previous_attempts(), i);
    EXPECT_EQ(wire(attempt(i)), std::string("\0\0\0\0\4ping", 9)) << "replayed to attempt " << i;
  }
  EXPECT_TRUE(host_.wakes.empty());
  EXPECT_EQ(registry_.find(7), &attempt(0));
}

TEST_F(HedgedCall, TheFirstResponseHeadersCommitAndCancelTheOthers) {
  start();
  host_.run_wakes();
  ASSERT_EQ(host_.attempts.size(), 2u);
  respond(attempt(1), /*headers=*/true, StatusCode::kOk);
  EXPECT_TRUE(attempt(0).finished()) << "the loser is cancelled";
  host_.run_wakes();
  EXPECT_EQ(host_.attempts.size(), 2u) << "no more hedges";
  EXPECT_EQ(registry_.find(7), nullptr);  // the call is over
  auto events = cq_->drain();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, EventKind::kUnaryDone);
  EXPECT_EQ(events[0].call_id, 7u);
  EXPECT_TRUE(events[0].status.ok()) << events[0].status.details;
  EXPECT_EQ(events[0].message, std::optional<std::string>("pong"));
}

TEST_F(HedgedCall, AFatalCodeEndsTheCallAtOnce) {
  start();
  host_.run_wakes();
  respond(attempt(0), /*headers=*/false, StatusCode::kInvalidArgument);
  EXPECT_TRUE(attempt(1).finished());
  host_.run_wakes();
  EXPECT_EQ(host_.attempts.size(), 2u);
  auto events = cq_->drain();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].status.code, StatusCode::kInvalidArgument);
}

TEST_F(HedgedCall, ANonFatalFailureStartsTheNextAtOnceAndTheLastFailureEndsTheCall) {
  start();
  host_.run_wakes();
  ASSERT_EQ(host_.attempts.size(), 2u);
  respond(attempt(0), /*headers=*/false, StatusCode::kUnavailable);
  EXPECT_TRUE(cq_->drain().empty()) << "attempt 1 is still in flight";
  EXPECT_EQ(registry_.find(7), &attempt(1)) << "commands go to a live attempt";
  ASSERT_FALSE(host_.wakes.empty());
  EXPECT_LE(host_.wakes.back().first, Clock::now()) << "the next hedge is due at once";
  host_.run_wakes();
  ASSERT_EQ(host_.attempts.size(), 3u);
  respond(attempt(1), false, StatusCode::kUnavailable);
  EXPECT_TRUE(cq_->drain().empty());
  respond(attempt(2), false, StatusCode::kUnavailable);
  auto events = cq_->drain();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].status.code, StatusCode::kUnavailable);
}

TEST_F(HedgedCall, AnAttemptFailingAloneGoesAgainAfterThePushback) {
  config_.hedging = policy(3, 10);
  start();
  respond(attempt(0), false, StatusCode::kUnavailable, "300");
  EXPECT_TRUE(attempt(0).retry_due()) << "sent again by the channel's retry path";
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(attempt(0).retry_delay()).count(), 300);
  attempt(0).prepare_retry();
  EXPECT_EQ(attempt(0).previous_attempts(), 1);
  EXPECT_EQ(wire(attempt(0)), std::string("\0\0\0\0\4ping", 9)) << "refilled from the replay buffer";
  EXPECT_EQ(registry_.find(7), &attempt(0));
  respond(attempt(0), false, StatusCode::kUnavailable, "-1");  // stop: the call ends
  auto events = cq_->drain();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].status.code, StatusCode::kUnavailable);
}

TEST_F(HedgedCall, APushbackPutsOffTheNextHedgeDueSooner) {
  start();
  host_.run_wakes();  // attempt 1; attempt 2 due half a second after it
  ASSERT_EQ(host_.attempts.size(), 2u);
  respond(attempt(0), false, StatusCode::kUnavailable, "2000");
  ASSERT_EQ(host_.wakes.size(), 2u);
  EXPECT_GE(host_.wakes.back().first - host_.wakes.front().first, std::chrono::milliseconds(1400));
  auto sooner = host_.wakes.front();
  host_.wakes.erase(host_.wakes.begin());
  sooner.second.lock()->on_wake(sooner.first);
  EXPECT_EQ(host_.attempts.size(), 2u) << "the old schedule's wakeup starts nothing";
  host_.run_wakes();
  EXPECT_EQ(host_.attempts.size(), 3u);
  EXPECT_EQ(attempt(2).previous_attempts(), 2);
}

TEST_F(HedgedCall, StreamingWritesReachEveryAttemptAndReadsFollowTheWinner) {
  start(CallShape::kStreaming);
  SendMessageCommand first;
  first.message = "a";
  attempt(0).send(std::move(first));
  attempt(0).read();  // the application waits for a message before any attempt answered
  host_.run_wakes();
  ASSERT_EQ(host_.attempts.size(), 2u);
  SendMessageCommand second;
  second.message = "b";
  second.end_of_stream = true;
  static_cast<Call*>(registry_.find(7))->send(std::move(second));
  std::string both("\0\0\0\0\1a\0\0\0\0\1b", 12);
  EXPECT_EQ(wire(attempt(0)), both);
  EXPECT_EQ(wire(attempt(1)), both) << "the hedge got the earlier write replayed";
  respond(attempt(1), true, StatusCode::kOk);
  auto events = cq_->drain();
  ASSERT_GE(events.size(), 5u);
  EXPECT_EQ(events[0].kind, EventKind::kWriteDone);
  EXPECT_EQ(events[1].kind, EventKind::kWriteDone);
  EXPECT_EQ(events[2].kind, EventKind::kInitialMetadata);
  EXPECT_EQ(events[3].kind, EventKind::kMessage);
  EXPECT_EQ(events[3].message, std::optional<std::string>("pong")) << "the read asked before the commit";
  EXPECT_EQ(events.back().kind, EventKind::kFinished);
  EXPECT_TRUE(events.back().status.ok());
}

TEST_F(HedgedCall, ABufferOverItsLimitCommitsToTheOldestAttempt) {
  options_.per_rpc_retry_buffer_size = 8;
  start(CallShape::kStreaming);
  host_.run_wakes();
  ASSERT_EQ(host_.attempts.size(), 2u);
  SendMessageCommand big;
  big.message = std::string(16, 'x');
  attempt(0).send(std::move(big));
  EXPECT_FALSE(attempt(0).finished());
  EXPECT_TRUE(attempt(1).finished()) << "cancelled";
  host_.run_wakes();
  EXPECT_EQ(host_.attempts.size(), 2u) << "no hedges after the commit";
  EXPECT_EQ(budget_->used(), 0u);
}

TEST_F(HedgedCall, CancellingTheCallEndsEveryAttemptWithOneEvent) {
  start();
  host_.run_wakes();
  static_cast<Call*>(registry_.find(7))->cancel({StatusCode::kCancelled, "bye"});
  EXPECT_TRUE(attempt(0).finished());
  EXPECT_TRUE(attempt(1).finished());
  EXPECT_EQ(cq_->drain().size(), 1u);
  EXPECT_EQ(registry_.find(7), nullptr);
}

TEST_F(HedgedCall, WithRetriesOffThereIsNoHedging) {
  options_.enable_retries = false;
  start();
  EXPECT_EQ(attempt(0).hedging(), nullptr);
}

}  // namespace
}  // namespace turbogrpc::internal
