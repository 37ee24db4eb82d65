// Tests for RecentStreams: remembers the last closes, who reset what, and forgets the oldest.
#include "transport/recent_streams.h"

#include <gtest/gtest.h>

namespace turbogrpc::internal {
namespace {

TEST(RecentStreamsTest, TellsClosedFromResetByPeerFromUnknown) {
  RecentStreams r;
  r.closed(1, false);
  r.closed(3, true);
  EXPECT_EQ(r.state(1), 1);
  EXPECT_EQ(r.state(3), 2);
  EXPECT_EQ(r.state(5), 0);
}

TEST(RecentStreamsTest, APeerResetSeenBeforeTheCloseIsKept) {
  RecentStreams r;
  r.closed(7, true);   // the RST_STREAM frame
  r.closed(7, false);  // then the stream closes
  EXPECT_EQ(r.state(7), 2);
}

TEST(RecentStreamsTest, ForgetsTheOldestBeyondItsSize) {
  RecentStreams r;
  for (int32_t id = 1; id <= static_cast<int32_t>(2 * RecentStreams::kRemembered); id += 2) r.closed(id, false);
  for (int32_t id = 1; id <= static_cast<int32_t>(2 * RecentStreams::kRemembered + 2); id += 2) {
    r.closed(id + 1000000, false);
  }
  EXPECT_EQ(r.state(1), 0);
  EXPECT_EQ(r.state(1000001), 0);  // pushed out by the later ones too
  EXPECT_EQ(r.state(1000000 + 2 * static_cast<int32_t>(RecentStreams::kRemembered) + 1), 1);
}

}  // namespace
}  // namespace turbogrpc::internal
