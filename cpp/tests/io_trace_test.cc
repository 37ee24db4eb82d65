// Trace forwarding: what a Python reader thread takes, the bound, and waking the reader.
#include "io/trace.h"

#include <gtest/gtest.h>

#include <thread>

namespace turbogrpc::internal {
namespace {

using std::chrono::milliseconds;

class TraceForwardingTest : public ::testing::Test {
 protected:
  void TearDown() override { forward_traces(false); }
};

TEST_F(TraceForwardingTest, OffTracesNothingAndQueuesNothing) {
  forward_traces(false);
  if (!tracing(Trace::kChannel)) {  // unless TURBOGRPC_TRACE is set for this run
    trace_line(Trace::kChannel, "not kept");
  }
  forward_traces(true);
  EXPECT_TRUE(take_forwarded_traces(milliseconds(1)).empty());
}

TEST_F(TraceForwardingTest, OnMakesEveryCategoryTracedAndKeepsLinesInOrder) {
  forward_traces(true);
  EXPECT_TRUE(tracing(Trace::kChannel));
  EXPECT_TRUE(tracing(Trace::kConnection));
  trace_line(Trace::kChannel, "first");
  trace_line(Trace::kConnection, "second");
  auto lines = take_forwarded_traces(milliseconds(0));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], ForwardedTrace("channel", "first"));
  EXPECT_EQ(lines[1], ForwardedTrace("connection", "second"));
  EXPECT_TRUE(take_forwarded_traces(milliseconds(0)).empty());
}

TEST_F(TraceForwardingTest, BeyondTheBoundLinesAreCountedNotKept) {
  forward_traces(true);
  for (size_t i = 0; i < kMaxForwardedTraceLines + 5; ++i) trace_line(Trace::kChannel, std::to_string(i));
  auto lines = take_forwarded_traces(milliseconds(0));
  ASSERT_EQ(lines.size(), kMaxForwardedTraceLines + 1);
  EXPECT_EQ(lines[0].second, "5 trace lines dropped (the reader fell behind)");
  EXPECT_EQ(lines[1].second, "0");
  EXPECT_EQ(lines.back().second, std::to_string(kMaxForwardedTraceLines - 1));
}

TEST_F(TraceForwardingTest, AWaitingReaderWakesForALineAndForOff) {
  forward_traces(true);
  std::vector<ForwardedTrace> got;
  std::thread reader([&] { got = take_forwarded_traces(milliseconds(10000)); });
  std::this_thread::sleep_for(milliseconds(20));
  trace_line(Trace::kConnection, "woke");
  reader.join();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].second, "woke");

  auto start = std::chrono::steady_clock::now();
  std::thread waiting([&] { got = take_forwarded_traces(milliseconds(10000)); });
  std::this_thread::sleep_for(milliseconds(20));
  forward_traces(false);
  waiting.join();
  EXPECT_TRUE(got.empty());
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(5000));
}

}  // namespace
}  // namespace turbogrpc::internal
