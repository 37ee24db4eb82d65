// Fifo keeps first-in-first-out order through drains and prefix compaction.
#include "rpc/fifo.h"

#include <gtest/gtest.h>

#include <deque>
#include <string>

namespace turbogrpc::internal {
namespace {

TEST(Fifo, EmptyAndDrained) {
  Fifo<std::string> q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.size(), 0u);
  q.push_back("a");
  q.emplace_back() = "b";
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.take_front(), "a");
  EXPECT_EQ(q.front(), "b");
  q.pop_front();
  EXPECT_TRUE(q.empty());
  q.push_back("c");  // usable again after draining
  EXPECT_EQ(q.take_front(), "c");
}

TEST(Fifo, OrderHoldsWhenItNeverDrains) {
  // Always one behind: the head keeps moving and the consumed prefix is compacted away.
  Fifo<std::string> q;
  std::deque<std::string> model;
  int next = 0;
  for (int round = 0; round < 1000; ++round) {
    for (int i = 0; i < 3; ++i) {
      q.push_back(std::to_string(next));
      model.push_back(std::to_string(next++));
    }
    for (int i = 0; i < 2; ++i) {
      ASSERT_EQ(q.take_front(), model.front()) << "round " << round;
      model.pop_front();
    }
    ASSERT_EQ(q.size(), model.size());
  }
  while (!model.empty()) {
    ASSERT_EQ(q.take_front(), model.front());
    model.pop_front();
  }
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace turbogrpc::internal
