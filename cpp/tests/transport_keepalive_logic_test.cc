// Keepalive's bookkeeping alone (transport/keepalive.h): when a PING is due, when a missing
// ACK ends the connection, and what keeps it quiet (no calls, no data sent since).
#include <gtest/gtest.h>

#include <chrono>

#include "transport/keepalive.h"

namespace turbogrpc::internal {
namespace {

using namespace std::chrono_literals;

TEST(KeepaliveLogic, PingsAfterQuietThenTimesOutWithoutAnAck) {
  Keepalive k;
  auto t0 = Clock::now();
  k.start({100ms, 20ms, true, 0}, t0);
  Clock::time_point next;
  EXPECT_EQ(k.check(t0 + 50ms, 0, next), Keepalive::Action::kNone);
  EXPECT_EQ(next, t0 + 100ms);
  EXPECT_EQ(k.check(t0 + 100ms, 0, next), Keepalive::Action::kPing);
  EXPECT_EQ(next, t0 + 120ms);
  EXPECT_EQ(k.check(t0 + 120ms, 0, next), Keepalive::Action::kTimedOut);
}

TEST(KeepaliveLogic, AnAckOrAnyReadAnswersThePing) {
  Keepalive k;
  auto t0 = Clock::now();
  k.start({100ms, 20ms, true, 0}, t0);
  Clock::time_point next;
  ASSERT_EQ(k.check(t0 + 100ms, 0, next), Keepalive::Action::kPing);
  k.on_read(t0 + 110ms);
  EXPECT_EQ(k.check(t0 + 120ms, 0, next), Keepalive::Action::kNone);
  EXPECT_EQ(next, t0 + 210ms);  // one interval after the read
  ASSERT_EQ(k.check(t0 + 210ms, 0, next), Keepalive::Action::kPing);
  k.on_ping_ack();  // an ACK is a read as well
  k.on_read(t0 + 215ms);
  EXPECT_EQ(k.check(t0 + 230ms, 0, next), Keepalive::Action::kNone);
}

TEST(KeepaliveLogic, NoPingsWithoutCallsUnlessPermittedNorBeyondThePingsWithoutData) {
  Keepalive k;
  auto t0 = Clock::now();
  k.start({100ms, 20ms, false, 2}, t0);
  Clock::time_point next;
  EXPECT_EQ(k.check(t0 + 100ms, 0, next), Keepalive::Action::kNone);  // no call open
  EXPECT_EQ(next, t0 + 200ms);
  Clock::time_point t = t0 + 200ms;
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(k.check(t, 1, next), Keepalive::Action::kPing);
    k.on_ping_ack();
    k.on_read(t);
    t += 100ms;
  }
  EXPECT_EQ(k.check(t, 1, next), Keepalive::Action::kNone);  // two pings and no data since
  k.on_headers_or_data_sent();
  EXPECT_EQ(k.check(t, 1, next), Keepalive::Action::kPing);
}

}  // namespace
}  // namespace turbogrpc::internal
