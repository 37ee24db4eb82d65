// Tests for CompletionQueue's wakeups: one signal per batch, events pushed without a wakeup
// delivered in order with the next batch (never lost), and wakes without an event.
#include "turbogrpc/completion_queue.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <vector>

namespace turbogrpc {
namespace {

bool readable(const CompletionQueue& cq) {
  pollfd p{cq.fd(), POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

Event event(uint64_t call_id) {
  Event e;
  e.kind = EventKind::kWriteDone;
  e.call_id = call_id;
  e.ok = true;
  return e;
}

std::vector<uint64_t> ids(const std::vector<Event>& events) {
  std::vector<uint64_t> out;
  for (const auto& e : events) out.push_back(e.call_id);
  return out;
}

TEST(CompletionQueue, APushSignalsAndADrainClears) {
  CompletionQueue cq;
  EXPECT_FALSE(readable(cq));
  cq.push(event(1));
  cq.push(event(2));
  EXPECT_TRUE(readable(cq));
  EXPECT_EQ(ids(cq.drain()), (std::vector<uint64_t>{1, 2}));
  EXPECT_FALSE(readable(cq));
}

TEST(CompletionQueue, AQuietPushWakesNobodyAndRidesWithTheNextBatch) {
  CompletionQueue cq;
  cq.push(event(1), /*wake=*/false);
  EXPECT_FALSE(readable(cq));
  // The queue is not empty, yet the next waking push must still signal.
  cq.push(event(2));
  EXPECT_TRUE(readable(cq));
  cq.push(event(3), /*wake=*/false);
  EXPECT_EQ(ids(cq.drain()), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_FALSE(readable(cq));
}

TEST(CompletionQueue, AfterADrainTheNextPushSignalsAgain) {
  CompletionQueue cq;
  cq.push(event(1));
  cq.drain();
  cq.push(event(2), /*wake=*/false);
  EXPECT_FALSE(readable(cq));
  cq.push(event(3));
  EXPECT_TRUE(readable(cq));
  EXPECT_EQ(ids(cq.drain()), (std::vector<uint64_t>{2, 3}));
}

TEST(CompletionQueue, AWakeSignalsWithoutAnEventAndAPushAfterItAddsNoSecondSignal) {
  CompletionQueue cq;
  cq.wake();
  EXPECT_TRUE(readable(cq));
  cq.push(event(1));  // rides with the wake's signal
  EXPECT_EQ(ids(cq.drain()), (std::vector<uint64_t>{1}));
  EXPECT_FALSE(readable(cq));
  cq.wake();
  EXPECT_TRUE(cq.drain().empty());
  EXPECT_FALSE(readable(cq));
}

}  // namespace
}  // namespace turbogrpc
