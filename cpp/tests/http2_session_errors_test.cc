// Tests for http2/session under partial and hostile input: frames split anywhere, a failing
// handler, a peer that does not speak HTTP/2, malformed frames. The input is hand-assembled
// bytes and our output is read by walking its frame headers: no sockets, no second session.
#include "http2/session.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "codec/message_framing.h"

namespace turbogrpc::internal {
namespace {

constexpr size_t kFrameHeader = 9;  // RFC 9113 §4.1
const std::string kClientMagic = NGHTTP2_CLIENT_MAGIC;

std::string frame(uint8_t type, uint8_t flags, uint32_t stream_id, std::string_view payload) {
  auto n = static_cast<uint32_t>(payload.size());
  std::string out = {char(n >> 16), char(n >> 8), char(n), char(type), char(flags),
                     char(stream_id >> 24), char(stream_id >> 16), char(stream_id >> 8),
                     char(stream_id)};
  return out + std::string(payload);
}

uint32_t read_u32(std::string_view bytes, size_t at) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(bytes[at + i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

struct Frame {
  uint8_t type;
  std::string payload;
};

// Splits what a server wrote (it sends no preface) into frames.
std::vector<Frame> parse_frames(std::string_view bytes) {
  std::vector<Frame> frames;
  size_t at = 0;
  while (at + kFrameHeader <= bytes.size()) {
    size_t length = read_u32(bytes, at) >> 8;  // the first 24 bits
    if (at + kFrameHeader + length > bytes.size()) break;
    frames.push_back({static_cast<uint8_t>(bytes[at + 3]),
                      std::string(bytes.substr(at + kFrameHeader, length))});
    at += kFrameHeader + length;
  }
  EXPECT_EQ(at, bytes.size()) << "trailing partial frame";
  return frames;
}

// HPACK "literal header field without indexing — new name", no Huffman (RFC 7541 §6.2.2).
std::string hpack_literal(std::string_view name, std::string_view value) {
  return std::string(1, '\0') + char(name.size()) + std::string(name) + char(value.size()) +
         std::string(value);
}

std::string framed(std::string_view payload) {
  std::string out;
  append_message_frame(out, payload, /*compressed=*/false);
  return out;
}

// A unary gRPC request as a client writes it: preface, SETTINGS, HEADERS, DATA + END_STREAM.
std::vector<std::string> scripted_request() {
  std::string block;
  for (auto [name, value] : {std::pair{":method", "POST"}, {":scheme", "http"},
                             {":path", "/pkg.Svc/M"}, {":authority", "localhost"},
                             {"content-type", "application/grpc"}, {"te", "trailers"}}) {
    block += hpack_literal(name, value);
  }
  return {kClientMagic, frame(NGHTTP2_SETTINGS, 0, 0, ""),
          frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, 1, block),
          frame(NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 1, framed("ping"))};
}

std::string joined(const std::vector<std::string>& pieces) {
  std::string out;
  for (const auto& p : pieces) out += p;
  return out;
}

// Counts frames and lists every callback about a stream; it never has anything to send.
class Handler : public Http2Handler {
 public:
  int begin_headers_result = 0;  // non-zero: the handler fails
  size_t frames_received = 0;
  std::vector<std::string> stream_events;
  std::string data;

  int on_begin_headers(const nghttp2_frame*) override {
    stream_events.push_back("begin_headers");
    return begin_headers_result;
  }
  int on_header(const nghttp2_frame*, std::string_view name, std::string_view) override {
    stream_events.push_back("header " + std::string(name));
    return 0;
  }
  int on_frame_recv(const nghttp2_frame* frame) override {
    ++frames_received;
    if (frame->hd.stream_id != 0) {
      stream_events.push_back("frame_recv type=" + std::to_string(frame->hd.type) +
                              ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) ? " END_STREAM" : ""));
    }
    return 0;
  }
  int on_data_chunk(int32_t, const uint8_t* bytes, size_t length) override {
    data.append(reinterpret_cast<const char*>(bytes), length);
    return 0;
  }
  int on_stream_close(int32_t, uint32_t) override {
    stream_events.push_back("stream_close");
    return 0;
  }
  ssize_t read_data(int32_t, size_t, uint32_t*, void*) override {
    ADD_FAILURE() << "no stream of ours has a body";
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  int send_data(int32_t, const uint8_t*, size_t, void*) override {
    ADD_FAILURE() << "no stream of ours has a body";
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
};

ssize_t feed(nghttp2_session* session, std::string_view bytes) {
  return nghttp2_session_mem_recv(session, reinterpret_cast<const uint8_t*>(bytes.data()),
                                  bytes.size());
}

std::string drain(nghttp2_session* session) {
  std::string out;
  const uint8_t* bytes = nullptr;
  ssize_t n;
  while ((n = nghttp2_session_mem_send(session, &bytes)) > 0) {
    out.append(reinterpret_cast<const char*>(bytes), static_cast<size_t>(n));
  }
  EXPECT_EQ(n, 0) << nghttp2_strerror(static_cast<int>(n));
  return out;
}

class Http2SessionErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = make_session(Http2Role::kServer, &handler_, Http2Settings{});
    ASSERT_NE(server_, nullptr);
  }
  Handler handler_;
  SessionPtr server_;
};

// The script itself is valid: the tests below break it, so first show it works whole.
TEST_F(Http2SessionErrors, ScriptedRequestIsAccepted) {
  std::string bytes = joined(scripted_request());
  ASSERT_EQ(feed(server_.get(), bytes), static_cast<ssize_t>(bytes.size()));
  EXPECT_EQ(handler_.stream_events,
            (std::vector<std::string>{"begin_headers", "header :method", "header :scheme",
                                      "header :path", "header :authority", "header content-type",
                                      "header te", "frame_recv type=1",
                                      "frame_recv type=0 END_STREAM"}));
  EXPECT_EQ(handler_.data, framed("ping"));
  EXPECT_EQ(handler_.frames_received, 3u);
}

// nghttp2 streams header fields and DATA chunks as they arrive, but a frame is reported
// (frame_recv, what our connections act on) exactly when its last byte is in, and nothing at
// all is reported about a stream until a whole frame header has arrived.
TEST_F(Http2SessionErrors, ReportsFramesOnlyWhenComplete) {
  std::vector<std::string> pieces = scripted_request();
  std::string bytes = joined(pieces);
  std::vector<size_t> frame_ends;  // pieces[0] is the preface, not a frame
  size_t end = pieces[0].size();
  for (size_t i = 1; i < pieces.size(); ++i) frame_ends.push_back(end += pieces[i].size());
  const size_t headers_start = pieces[0].size() + pieces[1].size();

  for (size_t k = 1; k <= bytes.size(); ++k) {
    ASSERT_EQ(feed(server_.get(), bytes.substr(k - 1, 1)), 1) << "byte " << k;
    auto complete = static_cast<size_t>(std::count_if(
        frame_ends.begin(), frame_ends.end(), [&](size_t e) { return e <= k; }));
    ASSERT_EQ(handler_.frames_received, complete) << "after " << k << " of " << bytes.size();
    if (k < headers_start + kFrameHeader) {
      ASSERT_TRUE(handler_.stream_events.empty()) << "a callback from half a frame header";
    }
  }
  EXPECT_EQ(handler_.data, framed("ping"));
  EXPECT_EQ(handler_.stream_events.back(), "frame_recv type=0 END_STREAM");
}

// A request cut short inside its DATA frame: the message bytes so far may be delivered, but the
// frame (and so the end of the stream) is not.
TEST_F(Http2SessionErrors, TruncatedDataFrameIsNotReported) {
  std::string bytes = joined(scripted_request());
  std::string cut = bytes.substr(0, bytes.size() - 3);
  ASSERT_EQ(feed(server_.get(), cut), static_cast<ssize_t>(cut.size()));
  EXPECT_EQ(handler_.frames_received, 2u);  // SETTINGS and HEADERS
  EXPECT_EQ(handler_.stream_events.back(), "frame_recv type=1");
  EXPECT_EQ(handler_.data, framed("ping").substr(0, handler_.data.size()));
  EXPECT_LT(handler_.data.size(), framed("ping").size());
}

// Http2Handler's contract: a non-zero return is a connection error.
TEST_F(Http2SessionErrors, HandlerFailureIsAConnectionError) {
  handler_.begin_headers_result = 1;
  EXPECT_EQ(feed(server_.get(), joined(scripted_request())), NGHTTP2_ERR_CALLBACK_FAILURE);
  EXPECT_TRUE(handler_.data.empty());
}

TEST_F(Http2SessionErrors, GarbagePrefaceIsAFatalErrorWithoutCallbacks) {
  ssize_t rv = feed(server_.get(), "GET / HTTP/1.1\r\nHost: example\r\n\r\n");
  EXPECT_EQ(rv, NGHTTP2_ERR_BAD_CLIENT_MAGIC);
  EXPECT_TRUE(nghttp2_is_fatal(static_cast<int>(rv)));
  EXPECT_EQ(handler_.frames_received, 0u);
  EXPECT_TRUE(handler_.stream_events.empty());
  // nghttp2 queues no GOAWAY after a fatal error: all we would still write is our SETTINGS
  // (and window update), so closing the socket is the connection's job.
  std::vector<Frame> out = parse_frames(drain(server_.get()));
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out[0].type, NGHTTP2_SETTINGS);
  for (const Frame& f : out) EXPECT_NE(f.type, NGHTTP2_GOAWAY);
}

// Malformed frames after a valid preface: nghttp2 consumes them, queues a GOAWAY with the
// matching error code, and then wants neither to read nor to write (the cue to close).
TEST_F(Http2SessionErrors, ProtocolErrorsQueueGoawayAndEndTheSession) {
  struct Case {
    const char* what;
    std::string frame;
    uint32_t error_code;
  };
  const Case kCases[] = {
      {"DATA on stream 0", frame(NGHTTP2_DATA, 0, 0, "abc"), NGHTTP2_PROTOCOL_ERROR},
      {"undecodable HPACK", frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, 1, "\xff"),
       NGHTTP2_COMPRESSION_ERROR},
      {"SETTINGS of 5 bytes", frame(NGHTTP2_SETTINGS, 0, 0, "abcde"), NGHTTP2_FRAME_SIZE_ERROR},
      {"WINDOW_UPDATE of 0", frame(NGHTTP2_WINDOW_UPDATE, 0, 0, std::string(4, '\0')),
       NGHTTP2_PROTOCOL_ERROR},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.what);
    Handler handler;
    SessionPtr server = make_session(Http2Role::kServer, &handler, Http2Settings{});
    std::string in = kClientMagic + frame(NGHTTP2_SETTINGS, 0, 0, "") + c.frame;
    EXPECT_EQ(feed(server.get(), in), static_cast<ssize_t>(in.size()));
    EXPECT_TRUE(handler.data.empty());
    EXPECT_TRUE(nghttp2_session_want_write(server.get()));

    std::vector<Frame> out = parse_frames(drain(server.get()));
    auto goaway = std::find_if(out.begin(), out.end(),
                               [](const Frame& f) { return f.type == NGHTTP2_GOAWAY; });
    ASSERT_NE(goaway, out.end());
    ASSERT_GE(goaway->payload.size(), 8u);  // last stream id, error code, debug data
    EXPECT_EQ(read_u32(goaway->payload, 4), c.error_code);
    EXPECT_FALSE(nghttp2_session_want_read(server.get()));
    EXPECT_FALSE(nghttp2_session_want_write(server.get()));
  }
}

}  // namespace
}  // namespace turbogrpc::internal
