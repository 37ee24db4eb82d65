// Tests for MessageStream's use of a CodecOffload: large (de)compression is handed out, and
// until its result is back the stream keeps everything behind it in order — later messages,
// the end of the outbound stream, write acknowledgements, received messages and the end marker.
// The fake offload holds jobs until the test runs them, as a slow worker thread would.
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <string>
#include <utility>
#include <vector>

#include "codec/compression.h"
#include "codec/message_framing.h"
#include "rpc/message_stream.h"

namespace turbogrpc::internal {
namespace {

class HeldOffload : public CodecOffload {
 public:
  void submit(MessageStream& stream, CodecJob job) override { jobs.emplace_back(&stream, std::move(job)); }
  void forget(const MessageStream& stream) override { forgotten.push_back(stream.id()); }
  // Runs the oldest held job and hands its result back, as the worker does.
  void finish_one() {
    auto [stream, job] = std::move(jobs.front());
    jobs.erase(jobs.begin());
    stream->on_codec_result(run_codec_job(std::move(job)));
  }
  std::vector<std::pair<MessageStream*, CodecJob>> jobs;
  std::vector<uint64_t> forgotten;
};

class TestStream : public MessageStream {
 public:
  explicit TestStream(CodecOffload* offload, int64_t max_receive = -1)
      : MessageStream(7, std::make_shared<CompletionQueue>(), max_receive, -1, offload) {}
  using MessageStream::close_outbound;
  using MessageStream::has_messages;
  using MessageStream::inbound_waiting;
  using MessageStream::owe_write_done;
  using MessageStream::queue_message;
  using MessageStream::set_receive_encoding;
  using MessageStream::set_send_compression;
  using MessageStream::take_message;
  std::shared_ptr<CompletionQueue> queue() const { return cq_; }
  std::vector<Status> errors;
  int settled = 0;

 protected:
  void on_receive_error(Status s) override { errors.push_back(std::move(s)); }
  StatusCode unsupported_encoding_code() const override { return StatusCode::kInternal; }
  bool ignores_data() const override { return !errors.empty(); }
  void on_inbound_settled() override { ++settled; }
};

std::string text(size_t n, char seed) {
  std::string s;
  while (s.size() < n) s += std::string("message ") + seed + " says hello again; ";
  s.resize(n);
  return s;
}

// Sends everything the data source offers; returns the wire bytes and whether EOF was set.
std::string drain_outbound(TestStream& s, bool* eof) {
  std::string wire;
  *eof = false;
  for (;;) {
    uint32_t flags = 0;
    ssize_t n = s.read_outbound(16384, &flags);
    if (n == NGHTTP2_ERR_DEFERRED) return wire;
    s.take_outbound(static_cast<size_t>(n), wire);
    if (flags & NGHTTP2_DATA_FLAG_EOF) {
      *eof = true;
      return wire;
    }
  }
}

// The payloads framed in `wire`, inflated where flagged.
std::vector<std::string> messages_in(const std::string& wire) {
  Deframer d(-1);
  std::vector<DeframedMessage> out;
  EXPECT_EQ(d.feed(wire, out), DeframeError::kNone);
  std::vector<std::string> payloads;
  for (auto& m : out) {
    std::string plain = m.payload;
    if (m.compressed) EXPECT_EQ(decompress_message(Compression::kGzip, m.payload, -1, plain), InflateError::kNone);
    payloads.push_back(plain);
  }
  return payloads;
}

TEST(MessageStreamOffload, SmallMessagesWaitBehindALargeOneAndTheEndWaitsForAll) {
  HeldOffload offload;
  TestStream s(&offload);
  s.set_send_compression(Compression::kGzip);
  std::vector<std::string> sent = {text(200 * 1024, 'a'), "tiny", text(3000, 'b'), text(9000, 'c')};
  for (auto p : sent) ASSERT_TRUE(s.queue_message(std::move(p)));
  s.close_outbound();
  EXPECT_EQ(offload.jobs.size(), 2u);  // the 200 KiB and 9000-byte ones; the rest inline
  bool eof = true;
  EXPECT_TRUE(drain_outbound(s, &eof).empty());  // nothing may overtake the first job
  EXPECT_FALSE(eof);
  offload.finish_one();
  std::string wire = drain_outbound(s, &eof);
  EXPECT_FALSE(eof);  // the last message is still being compressed
  offload.finish_one();
  wire += drain_outbound(s, &eof);
  EXPECT_TRUE(eof);
  EXPECT_TRUE(messages_in(wire) == sent);
}

TEST(MessageStreamOffload, AWriteIsNotAcknowledgedWhileItIsBeingCompressed) {
  HeldOffload offload;
  TestStream s(&offload);
  s.set_send_compression(Compression::kGzip);
  ASSERT_TRUE(s.queue_message(text(1 << 20, 'x')));
  s.owe_write_done(true);
  EXPECT_TRUE(s.queue()->drain().empty());  // 1 MiB waiting for zlib counts against the writer
  offload.finish_one();  // compresses to a few KiB: under the bound once framed
  bool eof = false;
  drain_outbound(s, &eof);
  std::vector<Event> events = s.queue()->drain();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, EventKind::kWriteDone);
}

std::string gzip_frame(const std::string& payload) {
  std::string compressed;
  EXPECT_TRUE(compress_message(Compression::kGzip, payload, compressed));
  std::string frame;
  append_message_frame(frame, compressed, true);
  return frame;
}

std::string plain_frame(const std::string& payload) {
  std::string frame;
  append_message_frame(frame, payload, false);
  return frame;
}

void feed(TestStream& s, const std::string& bytes) {
  s.on_data(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

TEST(MessageStreamOffload, ReceivedMessagesKeepTheirOrderBehindALargeInflation) {
  HeldOffload offload;
  TestStream s(&offload);
  s.set_receive_encoding("gzip");
  std::string big = text(1 << 20, 'r');  // inflates past the inline cap: goes to the offload
  std::string small = text(2000, 's');  // inflated inline, but must still wait its turn
  feed(s, gzip_frame(big) + plain_frame("after") + gzip_frame(small));
  EXPECT_EQ(offload.jobs.size(), 1u);
  EXPECT_FALSE(s.has_messages());  // nothing overtakes the message being inflated
  EXPECT_TRUE(s.inbound_waiting());
  EXPECT_EQ(s.settled, 0);
  offload.finish_one();
  EXPECT_FALSE(s.inbound_waiting());
  EXPECT_EQ(s.settled, 1);
  std::vector<std::string> got;
  while (s.has_messages()) got.push_back(s.take_message().payload);
  // Compared as a bool: a mismatch would otherwise print a megabyte.
  EXPECT_TRUE(got == (std::vector<std::string>{big, "after", small}));
}

TEST(MessageStreamOffload, AnInflationOverTheLimitEndsTheCall) {
  HeldOffload offload;
  TestStream s(&offload, /*max_receive=*/512 * 1024);
  s.set_receive_encoding("gzip");
  feed(s, gzip_frame(text(1 << 20, 'b')));
  ASSERT_EQ(offload.jobs.size(), 1u);
  EXPECT_TRUE(s.errors.empty());
  offload.finish_one();
  ASSERT_EQ(s.errors.size(), 1u);
  EXPECT_EQ(s.errors[0].code, StatusCode::kResourceExhausted);
  EXPECT_FALSE(s.has_messages());
}

TEST(MessageStreamOffload, WithoutAnOffloadEverythingHappensInline) {
  TestStream s(nullptr);
  s.set_receive_encoding("gzip");
  std::string big = text(1 << 20, 'i');
  feed(s, gzip_frame(big));
  ASSERT_TRUE(s.has_messages());
  EXPECT_TRUE(s.take_message().payload == big);
}

TEST(MessageStreamOffload, AStreamGoneWithJobsInFlightIsForgotten) {
  HeldOffload offload;
  {
    TestStream s(&offload);
    s.set_send_compression(Compression::kGzip);
    ASSERT_TRUE(s.queue_message(text(100000, 'f')));
  }
  EXPECT_EQ(offload.forgotten, std::vector<uint64_t>{7});
}

}  // namespace
}  // namespace turbogrpc::internal
