// Tests for the recycled message-buffer pool (turbogrpc/message_buffers.h).
#include "turbogrpc/message_buffers.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace turbogrpc {
namespace {

TEST(MessageBuffers, ALargeBufferComesBackForTheNextLargeMessage) {
  std::string first = take_message_buffer(1 << 20);
  ASSERT_GE(first.capacity(), size_t{1} << 20);
  first.assign(1000, 'x');
  const char* storage = first.data();
  recycle_message_buffer(std::move(first));

  std::string second = take_message_buffer(1 << 20);
  EXPECT_EQ(second.data(), storage);  // the same memory: no fresh pages
  EXPECT_TRUE(second.empty());        // and none of the old bytes
  EXPECT_GE(second.capacity(), size_t{1} << 20);
}

TEST(MessageBuffers, TooSmallABufferIsNotHandedOutForABiggerMessage) {
  std::string small = take_message_buffer(kPooledMessageBytes);
  const char* storage = small.data();
  recycle_message_buffer(std::move(small));
  std::string big = take_message_buffer(4 * kPooledMessageBytes);
  EXPECT_NE(big.data(), storage);
  EXPECT_GE(big.capacity(), 4 * kPooledMessageBytes);
  recycle_message_buffer(std::move(big));
}

TEST(MessageBuffers, SmallBuffersAreNotKept) {
  // Start from an empty pool, so a full one cannot hide a kept buffer: every pooled buffer fits
  // the smallest pooled size, so taking that size empties it.
  std::vector<std::string> taken;
  for (int i = 0; i < 64 && pooled_message_buffer_count() > 0; ++i) {
    taken.push_back(take_message_buffer(kPooledMessageBytes));
  }
  ASSERT_EQ(pooled_message_buffer_count(), 0u);

  std::string tiny = take_message_buffer(100);
  EXPECT_GE(tiny.capacity(), 100u);
  tiny.reserve(kPooledMessageBytes / 2);
  recycle_message_buffer(std::move(tiny));
  EXPECT_EQ(pooled_message_buffer_count(), 0u);

  recycle_message_buffer(take_message_buffer(kPooledMessageBytes));  // while a large one is kept
  EXPECT_EQ(pooled_message_buffer_count(), 1u);
}

TEST(MessageBuffers, ThePoolIsBounded) {
  // Far more than the cap recycled at once: taking them all back yields at most the cap.
  std::vector<std::string> many;
  for (int i = 0; i < 64; ++i) many.push_back(take_message_buffer(1 << 20));
  std::vector<const char*> recycled;
  for (auto& b : many) {
    recycled.push_back(b.data());
    recycle_message_buffer(std::move(b));
  }
  size_t reused = 0;
  std::vector<std::string> again;
  for (int i = 0; i < 64; ++i) {
    again.push_back(take_message_buffer(1 << 20));
    for (const char* p : recycled) reused += again.back().data() == p;
  }
  EXPECT_GT(reused, 0u);
  EXPECT_LE(reused * (size_t{1} << 20), size_t{32} << 20);
}

}  // namespace
}  // namespace turbogrpc
