// Tests for codec/message_framing: header layout, append_message_frame and the Deframer.
#include "codec/message_framing.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace turbogrpc::internal {
namespace {

std::string frame(std::string_view payload, bool compressed = false) {
  std::string out;
  append_message_frame(out, payload, compressed);
  return out;
}

std::vector<std::string> payloads(const std::vector<DeframedMessage>& messages) {
  std::vector<std::string> out;
  for (const auto& m : messages) out.push_back(m.payload);
  return out;
}

TEST(WriteFrameHeader, BigEndianLengthAndFlag) {
  uint8_t header[kFrameHeaderSize] = {0xAA, 0xAA, 0xAA, 0xAA, 0xAA};
  write_frame_header(header, 0x01020304, false);
  EXPECT_EQ(header[0], 0);
  EXPECT_EQ(header[1], 0x01);
  EXPECT_EQ(header[2], 0x02);
  EXPECT_EQ(header[3], 0x03);
  EXPECT_EQ(header[4], 0x04);

  write_frame_header(header, 0xFFFFFFFF, true);
  EXPECT_EQ(header[0], 1);
  EXPECT_EQ(header[1], 0xFF);
  EXPECT_EQ(header[4], 0xFF);

  write_frame_header(header, 0, false);
  for (uint8_t b : header) EXPECT_EQ(b, 0);
}

TEST(AppendMessageFrame, LayoutAndAppendsToExisting) {
  std::string out = "xy";
  append_message_frame(out, "hello", true);
  EXPECT_EQ(out, std::string("xy\x01\x00\x00\x00\x05hello", 12));

  std::string big(300, 'z');
  std::string framed = frame(big);
  ASSERT_EQ(framed.size(), kFrameHeaderSize + 300);
  EXPECT_EQ(framed.substr(0, 5), std::string("\x00\x00\x00\x01\x2C", 5));
  EXPECT_EQ(framed.substr(5), big);
}

TEST(AppendMessageFrame, EmptyPayload) {
  EXPECT_EQ(frame(""), std::string(5, '\0'));
}

TEST(Deframer, OneMessageOneChunk) {
  Deframer d(-1);
  std::vector<DeframedMessage> out;
  EXPECT_EQ(d.feed(frame("hello"), out), DeframeError::kNone);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, "hello");
  EXPECT_FALSE(out[0].compressed);
  EXPECT_FALSE(d.has_partial_message());
  EXPECT_EQ(d.announced_length(), 5u);
}

TEST(Deframer, CompressedFlagPassedThrough) {
  Deframer d(-1);
  std::vector<DeframedMessage> out;
  EXPECT_EQ(d.feed(frame("a", true) + frame("b", false), out), DeframeError::kNone);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].compressed);
  EXPECT_FALSE(out[1].compressed);
}

TEST(Deframer, SeveralMessagesInOneChunk) {
  Deframer d(-1);
  std::vector<DeframedMessage> out;
  std::string wire = frame("first") + frame("") + frame(std::string(1000, 'x')) + frame("last");
  EXPECT_EQ(d.feed(wire, out), DeframeError::kNone);
  EXPECT_EQ(payloads(out),
            (std::vector<std::string>{"first", "", std::string(1000, 'x'), "last"}));
  EXPECT_FALSE(d.has_partial_message());
}

TEST(Deframer, ByteByByte) {
  Deframer d(-1);
  std::vector<DeframedMessage> out;
  std::string wire = frame("abc") + frame("") + frame(std::string("\0\xff", 2), true);
  for (size_t i = 0; i < wire.size(); ++i) {
    ASSERT_EQ(d.feed(wire.substr(i, 1), out), DeframeError::kNone);
    bool at_boundary = i + 1 == 8 || i + 1 == 13 || i + 1 == wire.size();
    EXPECT_EQ(d.has_partial_message(), !at_boundary) << "after byte " << i;
  }
  EXPECT_EQ(payloads(out), (std::vector<std::string>{"abc", "", std::string("\0\xff", 2)}));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[2].compressed);
}

TEST(Deframer, EverySplitPointGivesSameResult) {
  std::string wire = frame("hello") + frame("") + frame("world!", true);
  const std::vector<std::string> expected = {"hello", "", "world!"};
  for (size_t split = 0; split <= wire.size(); ++split) {
    Deframer d(100);
    std::vector<DeframedMessage> out;
    ASSERT_EQ(d.feed(std::string_view(wire).substr(0, split), out), DeframeError::kNone);
    ASSERT_EQ(d.feed(std::string_view(wire).substr(split), out), DeframeError::kNone);
    EXPECT_EQ(payloads(out), expected) << "split at " << split;
    EXPECT_FALSE(d.has_partial_message()) << "split at " << split;
    ASSERT_EQ(out.size(), 3u);
    EXPECT_TRUE(out[2].compressed);
  }
}

TEST(Deframer, BodyAcrossManyChunks) {
  std::string body;
  for (int i = 0; i < 100000; ++i) body.push_back(static_cast<char>(i * 7));
  std::string wire = frame(body) + frame("tail");
  Deframer d(-1);
  std::vector<DeframedMessage> out;
  for (size_t pos = 0; pos < wire.size(); pos += 16384) {
    ASSERT_EQ(d.feed(std::string_view(wire).substr(pos, 16384), out), DeframeError::kNone);
  }
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].payload, body);
  EXPECT_EQ(out[1].payload, "tail");
}

TEST(Deframer, EmptyFeedIsNoOp) {
  Deframer d(-1);
  std::vector<DeframedMessage> out;
  EXPECT_EQ(d.feed("", out), DeframeError::kNone);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(d.has_partial_message());
}

TEST(Deframer, EmptyMessageCompletesOnHeader) {
  Deframer d(0);  // max 0: only empty messages are allowed
  std::vector<DeframedMessage> out;
  EXPECT_EQ(d.feed(frame(""), out), DeframeError::kNone);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, "");
  EXPECT_FALSE(d.has_partial_message());
}

TEST(Deframer, PartialDetection) {
  Deframer d(-1);
  std::vector<DeframedMessage> out;
  std::string wire = frame("payload");
  EXPECT_FALSE(d.has_partial_message());
  d.feed(wire.substr(0, 2), out);  // partial header
  EXPECT_TRUE(d.has_partial_message());
  d.feed(wire.substr(2, 3), out);  // header complete, no body yet
  EXPECT_TRUE(d.has_partial_message());
  EXPECT_EQ(d.announced_length(), 7u);
  d.feed(wire.substr(5, 4), out);  // partial body
  EXPECT_TRUE(d.has_partial_message());
  EXPECT_TRUE(out.empty());
  d.feed(wire.substr(9), out);
  EXPECT_FALSE(d.has_partial_message());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, "payload");
}

TEST(Deframer, MessageAtExactlyMaxSizeAccepted) {
  Deframer d(4);
  std::vector<DeframedMessage> out;
  EXPECT_EQ(d.feed(frame("1234"), out), DeframeError::kNone);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(d.max_message_size(), 4);
}

TEST(Deframer, OverSizeRejectedAtHeaderWithoutBody) {
  Deframer d(100);
  std::vector<DeframedMessage> out;
  uint8_t header[kFrameHeaderSize];
  write_frame_header(header, 101, false);
  // Only the header is fed: the error must not wait for the body.
  EXPECT_EQ(d.feed(std::string_view(reinterpret_cast<char*>(header), 5), out),
            DeframeError::kMessageTooLarge);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(d.announced_length(), 101u);
  EXPECT_FALSE(d.has_partial_message());
}

TEST(Deframer, HugeLengthRejectedAtHeader) {
  Deframer d(4 << 20);
  std::vector<DeframedMessage> out;
  std::string header("\x00\xff\xff\xff\xff", 5);
  EXPECT_EQ(d.feed(header.substr(0, 3), out), DeframeError::kNone);
  EXPECT_EQ(d.feed(header.substr(3), out), DeframeError::kMessageTooLarge);
  EXPECT_EQ(d.announced_length(), 0xFFFFFFFFu);
}

TEST(Deframer, ErrorIsStickyAndConsumesNothingMore) {
  Deframer d(10);
  std::vector<DeframedMessage> out;
  std::string wire = frame("ok") + frame(std::string(11, 'x')) + frame("later");
  EXPECT_EQ(d.feed(wire, out), DeframeError::kMessageTooLarge);
  // The message before the bad header is still delivered.
  EXPECT_EQ(payloads(out), (std::vector<std::string>{"ok"}));
  EXPECT_EQ(d.feed(frame("more"), out), DeframeError::kMessageTooLarge);
  EXPECT_EQ(d.feed("", out), DeframeError::kMessageTooLarge);
  EXPECT_EQ(out.size(), 1u);
  EXPECT_EQ(d.announced_length(), 11u);
}

TEST(Deframer, UnlimitedAcceptsLargeMessage) {
  Deframer d(-1);
  std::vector<DeframedMessage> out;
  std::string body(5 << 20, 'q');
  EXPECT_EQ(d.feed(frame(body), out), DeframeError::kNone);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload.size(), body.size());
}

TEST(Deframer, InvalidFlagRejected) {
  for (uint8_t flag : {uint8_t{2}, uint8_t{0x80}, uint8_t{0xFF}}) {
    Deframer d(-1);
    std::vector<DeframedMessage> out;
    std::string wire = frame("abc");
    wire[0] = static_cast<char>(flag);
    EXPECT_EQ(d.feed(wire, out), DeframeError::kInvalidFlags) << int{flag};
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(d.announced_length(), 3u);
    EXPECT_EQ(d.feed(frame("x"), out), DeframeError::kInvalidFlags);
    EXPECT_TRUE(out.empty());
  }
}

TEST(Deframer, InvalidFlagAfterValidMessageSplitHeader) {
  Deframer d(-1);
  std::vector<DeframedMessage> out;
  std::string wire = frame("good") + std::string("\x07\x00", 2);
  d.feed(wire, out);  // the bad flag byte arrives before the rest of its header
  EXPECT_EQ(d.feed(std::string("\x00\x00\x01z", 4), out), DeframeError::kInvalidFlags);
  EXPECT_EQ(payloads(out), (std::vector<std::string>{"good"}));
}

}  // namespace
}  // namespace turbogrpc::internal
