// Tests for MetadataBudget: RFC 9113 sizes, the hard limit always refuses, the soft limit
// refuses with a probability growing to 1 at the hard limit, and unlimited means unlimited.
#include "rpc/metadata_budget.h"

#include <gtest/gtest.h>

#include <string>

namespace turbogrpc::internal {
namespace {

TEST(MetadataBudgetTest, CountsNameValueAndThirtyTwoPerField) {
  MetadataBudget b(1000, 2000);
  b.start_block();
  EXPECT_TRUE(b.add("abc", "12345"));
  EXPECT_EQ(b.block_bytes(), 3u + 5u + 32u);
  b.start_block();
  EXPECT_EQ(b.block_bytes(), 0u);
}

TEST(MetadataBudgetTest, OverTheHardLimitFieldsAreDroppedAndTheBlockRefused) {
  MetadataBudget b(100, 200);
  b.start_block();
  EXPECT_TRUE(b.add("k", std::string(150, 'v')));   // 183: between the limits
  EXPECT_FALSE(b.add("k", std::string(100, 'v')));  // 316: over the hard limit
  EXPECT_TRUE(b.refuses_block(0.999999));  // whatever the draw
  Status s = b.refusal("Received metadata");
  EXPECT_EQ(s.code, StatusCode::kResourceExhausted);
  EXPECT_NE(s.details.find("316 bytes"), std::string::npos) << s.details;
  EXPECT_NE(s.details.find("grpc.max_metadata_size"), std::string::npos) << s.details;
}

TEST(MetadataBudgetTest, BetweenTheLimitsTheChanceGrowsLinearly) {
  MetadataBudget b(100, 300);
  b.start_block();
  b.add("", std::string(150 - 32, 'v'));  // 150: a quarter of the way from soft to hard
  EXPECT_TRUE(b.refuses_block(0.2));
  EXPECT_FALSE(b.refuses_block(0.3));
  b.start_block();
  b.add("", std::string(100 - 32, 'v'));  // exactly the soft limit: never refused
  EXPECT_FALSE(b.refuses_block(0.0));
}

TEST(MetadataBudgetTest, NegativeLimitsAreUnlimited) {
  MetadataBudget b(-1, -1);
  b.start_block();
  EXPECT_TRUE(b.add("k", std::string(1 << 20, 'v')));
  EXPECT_FALSE(b.refuses_block(0.0));
}

TEST(MetadataBudgetTest, AHardLimitBelowTheSoftOneIsRaisedToIt) {
  MetadataBudget b(500, 100);
  EXPECT_EQ(b.hard_limit(), 500);
  b.start_block();
  EXPECT_TRUE(b.add("k", std::string(300, 'v')));
  EXPECT_FALSE(b.refuses_block(0.0));
}

}  // namespace
}  // namespace turbogrpc::internal
