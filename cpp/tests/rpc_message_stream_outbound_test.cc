// Tests for MessageStream's outbound side: DATA frames are sized by read_outbound and filled by
// take_outbound (nghttp2's NO_COPY path), so any frame size must reproduce the framed messages
// byte for byte, with EOF on the frame that ends them and write acknowledgements in order.
#include "rpc/message_stream.h"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <string>
#include <vector>

#include "codec/message_framing.h"

namespace turbogrpc::internal {
namespace {

// Exposes the protected sending API; receiving is not under test here.
class TestStream : public MessageStream {
 public:
  explicit TestStream(int64_t max_send = -1)
      : MessageStream(1, std::make_shared<CompletionQueue>(), -1, max_send, nullptr) {}
  using MessageStream::close_outbound;
  using MessageStream::owe_write_done;
  using MessageStream::queue_message;
  using MessageStream::unsent_bytes;
  std::shared_ptr<CompletionQueue> queue() const { return cq_; }

 protected:
  void on_receive_error(Status) override {}
  StatusCode unsupported_encoding_code() const override { return StatusCode::kInternal; }
  bool ignores_data() const override { return false; }
};

std::string framed(const std::vector<std::string>& payloads) {
  std::string out;
  for (const auto& p : payloads) append_message_frame(out, p, false);
  return out;
}

// Drives the data source the way nghttp2 does with frames of at most `frame_size` bytes.
// Returns the bytes sent; `eof` tells whether the last frame carried EOF.
std::string send_all(TestStream& s, size_t frame_size, bool* eof) {
  std::string wire;
  *eof = false;
  for (int guard = 0; guard < (1 << 22); ++guard) {
    uint32_t flags = 0;
    ssize_t n = s.read_outbound(frame_size, &flags);
    if (n == NGHTTP2_ERR_DEFERRED) break;
    EXPECT_GE(n, 0);
    if (n > 0) EXPECT_TRUE(flags & NGHTTP2_DATA_FLAG_NO_COPY);
    s.take_outbound(static_cast<size_t>(n), wire);
    if (flags & NGHTTP2_DATA_FLAG_EOF) {
      *eof = true;
      break;
    }
  }
  return wire;
}

TEST(MessageStreamOutbound, AnyFrameSizeReproducesTheFramedMessages) {
  const std::vector<std::string> payloads = {"", "a", "hello world", std::string(100000, 'z'), "end"};
  // 1..6 split the 5-byte headers at every offset; the others split bodies.
  for (size_t frame_size : {1, 2, 3, 4, 5, 6, 7, 16, 16384, 1 << 20}) {
    TestStream s;
    for (auto p : payloads) ASSERT_TRUE(s.queue_message(std::move(p), false));
    s.close_outbound();
    bool eof = false;
    // Compared as a bool: a mismatch would otherwise print 100 kB.
    EXPECT_TRUE(send_all(s, frame_size, &eof) == framed(payloads)) << "frame size " << frame_size;
    EXPECT_TRUE(eof) << "frame size " << frame_size;
    EXPECT_EQ(s.unsent_bytes(), 0u);
  }
}

TEST(MessageStreamOutbound, AStreamThatNeverDrainsKeepsItsOrder) {
  // Each round queues two messages and sends one: the queue never empties, so the sent prefix
  // is dropped along the way, and the bytes must still come out in order.
  TestStream s;
  std::vector<std::string> payloads;
  std::string wire;
  for (int i = 0; i < 500; ++i) {
    for (int j = 0; j < 2; ++j) {
      payloads.push_back("message " + std::to_string(payloads.size()));
      ASSERT_TRUE(s.queue_message(std::string(payloads.back()), false));
    }
    uint32_t flags = 0;
    ssize_t n = s.read_outbound(kFrameHeaderSize + payloads[static_cast<size_t>(i)].size(), &flags);
    s.take_outbound(static_cast<size_t>(n), wire);
  }
  s.close_outbound();
  bool eof = false;
  wire += send_all(s, 16384, &eof);
  EXPECT_TRUE(eof);
  EXPECT_TRUE(wire == framed(payloads));
}

TEST(MessageStreamOutbound, DefersWhenEmptyAndOpen) {
  TestStream s;
  uint32_t flags = 0;
  EXPECT_EQ(s.read_outbound(16384, &flags), NGHTTP2_ERR_DEFERRED);
  EXPECT_TRUE(s.data_deferred());
  ASSERT_TRUE(s.queue_message(std::string("x"), false));
  bool eof = true;
  EXPECT_EQ(send_all(s, 16384, &eof), framed({"x"}));
  EXPECT_FALSE(eof);  // not closed: the source parks again rather than ending the stream
}

TEST(MessageStreamOutbound, OverSizeMessageIsRefusedAndLeftWithTheCaller) {
  TestStream s(/*max_send=*/4);
  std::string big = "12345";
  EXPECT_FALSE(s.queue_message(std::move(big), false));
  EXPECT_EQ(big, "12345");  // the caller still reports its size
  EXPECT_EQ(s.unsent_bytes(), 0u);
}

TEST(MessageStreamOutbound, WriteIsAcknowledgedOnceUnsentBytesDropBelowTheBound) {
  TestStream s;
  ASSERT_TRUE(s.queue_message(std::string(3 * kWriteDoneBelowBytes, 'q'), false));
  s.owe_write_done(true);
  EXPECT_TRUE(s.queue()->drain().empty());  // far over the bound: not yet
  uint32_t flags = 0;
  std::string wire;
  ssize_t n = s.read_outbound(2 * kWriteDoneBelowBytes + 100, &flags);
  std::vector<Event> events = s.queue()->drain();
  ASSERT_EQ(events.size(), 1u);  // sized into a frame counts as sent
  EXPECT_EQ(events[0].kind, EventKind::kWriteDone);
  EXPECT_TRUE(events[0].ok);
  s.take_outbound(static_cast<size_t>(n), wire);
  EXPECT_EQ(wire.size(), static_cast<size_t>(n));
}

}  // namespace
}  // namespace turbogrpc::internal

namespace turbogrpc::internal {
namespace {

// Transparent retry: what was sent while retaining comes back, whole and in order, before what
// was not sent yet, and the stream ends again on a replay.
TEST(MessageStreamOutbound, RewindReplaysEverySentMessageBeforeTheUnsentOnes) {
  TestStream s;
  s.retain_sent(1024);
  ASSERT_TRUE(s.queue_message(std::string("first")));
  ASSERT_TRUE(s.queue_message(std::string("second")));
  bool eof = false;
  std::string wire;
  uint32_t flags = 0;
  ssize_t n = s.read_outbound(8, &flags);  // part of "first" only
  s.take_outbound(static_cast<size_t>(n), wire);
  wire += send_all(s, 3, &eof);  // the rest, in small frames
  EXPECT_EQ(wire, framed({"first", "second"}));
  ASSERT_TRUE(s.queue_message(std::string("third")));  // unsent when the stream is refused
  s.close_outbound();

  s.rewind_outbound();
  EXPECT_EQ(s.unsent_bytes(), framed({"first", "second", "third"}).size());
  EXPECT_EQ(send_all(s, 7, &eof), framed({"first", "second", "third"}));
  EXPECT_TRUE(eof);
}

TEST(MessageStreamOutbound, MoreThanTheRetainLimitIsNotKeptAndStoppingFreesWhatWas) {
  TestStream s;
  s.retain_sent(10);
  ASSERT_TRUE(s.queue_message(std::string(8, 'a')));
  bool eof = false;
  send_all(s, 100, &eof);
  EXPECT_TRUE(s.retaining());  // 8 payload bytes fit under 10
  ASSERT_TRUE(s.queue_message(std::string(8, 'b')));
  send_all(s, 100, &eof);
  EXPECT_FALSE(s.retaining());  // 16 do not: the call can no longer be replayed

  TestStream t;
  t.retain_sent(1024);
  ASSERT_TRUE(t.queue_message(std::string("kept")));
  send_all(t, 100, &eof);
  t.stop_retaining();  // the call committed
  t.rewind_outbound();
  EXPECT_EQ(t.unsent_bytes(), 0u);  // nothing left to replay
}

}  // namespace
}  // namespace turbogrpc::internal
