// Tests for http2/session: our nghttp2 session fed scripted bytes, no sockets.
// The other end is a plain nghttp2 session built here (default options, its own callbacks) or
// hand-assembled frames, so what we check does not depend on the code under test.
// Malformed input and partial frames: http2_session_errors_test.cc.
#include "http2/session.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "codec/message_framing.h"

namespace turbogrpc::internal {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;
using Lines = std::vector<std::string>;

// The nv entries point into `headers`, which must outlive the submit call.
std::vector<nghttp2_nv> to_nva(const Headers& headers) {
  std::vector<nghttp2_nv> nva;
  for (const auto& [name, value] : headers) nva.push_back(make_nv(name, value));
  return nva;
}

std::string framed(std::string_view payload) {
  std::string out;
  append_message_frame(out, payload, /*compressed=*/false);
  return out;
}

std::string_view chars(const uint8_t* bytes, size_t length) {
  return {reinterpret_cast<const char*>(bytes), length};
}

// One line per frame, e.g. "HEADERS END_STREAM", "SETTINGS ACK", "WINDOW_UPDATE +65536".
std::string describe(const nghttp2_frame* frame) {
  static const char* const kTypes[] = {"DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS",
                                       "PUSH_PROMISE", "PING", "GOAWAY", "WINDOW_UPDATE"};
  const nghttp2_frame_hd& hd = frame->hd;
  std::string s = hd.type < 9 ? kTypes[hd.type] : "EXTENSION";
  bool has_body = hd.type == NGHTTP2_DATA || hd.type == NGHTTP2_HEADERS;
  if (has_body && (hd.flags & NGHTTP2_FLAG_END_STREAM)) s += " END_STREAM";
  if (hd.type == NGHTTP2_SETTINGS && (hd.flags & NGHTTP2_FLAG_ACK)) s += " ACK";
  if (hd.type == NGHTTP2_WINDOW_UPDATE)
    s += " +" + std::to_string(frame->window_update.window_size_increment);
  return s;
}

// Where Recorder::send_data writes; set by drain() for as long as it runs.
std::string* g_wire = nullptr;

// What a stream sends: a body, then (when non-empty) trailers instead of END_STREAM on the DATA.
struct Outbound {
  std::string body;
  size_t sized = 0;  // given to DATA frames so far
  size_t sent = 0;   // written out so far
  Headers trailers;
};

// Records every callback as a line per stream and serves bodies from `outbound`. Sits behind
// our session (through make_session) and behind the plain nghttp2 peer alike.
class Recorder : public Http2Handler {
 public:
  nghttp2_session* session = nullptr;  // for nghttp2_submit_trailer from read_data
  std::vector<std::pair<int32_t, std::string>> events;
  std::map<int32_t, std::string> data;  // DATA payload received, per stream
  std::map<int32_t, Outbound> outbound;
  std::vector<void*> read_data_user_data;

  Lines events_on(int32_t stream_id) const {
    Lines out;
    for (const auto& [id, what] : events)
      if (id == stream_id) out.push_back(what);
    return out;
  }
  // Without our own sends (frame_send): what the peer told us.
  Lines received_on(int32_t stream_id) const {
    Lines out = events_on(stream_id);
    std::erase_if(out, [](const std::string& e) { return e.starts_with("frame_send "); });
    return out;
  }

  int on_begin_headers(const nghttp2_frame* frame) override {
    static const char* const kCategories[] = {"request", "response", "push_response", "trailers"};
    add(frame->hd.stream_id, std::string("begin_headers ") + kCategories[frame->headers.cat]);
    return 0;
  }
  int on_header(const nghttp2_frame* frame, std::string_view name,
                std::string_view value) override {
    add(frame->hd.stream_id, "header " + std::string(name) + "=" + std::string(value));
    return 0;
  }
  int on_frame_recv(const nghttp2_frame* frame) override {
    add(frame->hd.stream_id, "frame_recv " + describe(frame));
    return 0;
  }
  // Chunks are not events: nghttp2 may split one DATA frame into any number of them.
  int on_data_chunk(int32_t stream_id, const uint8_t* bytes, size_t length) override {
    data[stream_id] += chars(bytes, length);
    return 0;
  }
  int on_stream_close(int32_t stream_id, uint32_t error_code) override {
    add(stream_id, std::string("stream_close ") + nghttp2_http2_strerror(error_code));
    return 0;
  }
  int on_frame_send(const nghttp2_frame* frame) override {
    add(frame->hd.stream_id, "frame_send " + describe(frame));
    return 0;
  }
  // Our session's data source (NO_COPY): sizes the frame; send_data writes it.
  ssize_t read_data(int32_t stream_id, size_t length, uint32_t* data_flags,
                    void* stream_user_data) override {
    read_data_user_data.push_back(stream_user_data);
    *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    return size_frame(stream_id, length, data_flags);
  }
  int send_data(int32_t stream_id, const uint8_t* frame_header, size_t length, void*) override {
    Outbound& out = outbound[stream_id];
    EXPECT_NE(g_wire, nullptr) << "send_data outside drain()";
    g_wire->append(chars(frame_header, 9));
    g_wire->append(out.body, out.sent, length);
    out.sent += length;
    return 0;
  }
  // The plain peer's data source: copies into nghttp2's buffer.
  ssize_t copy_data(int32_t stream_id, uint8_t* buf, size_t length, uint32_t* data_flags) {
    Outbound& out = outbound[stream_id];
    ssize_t n = size_frame(stream_id, length, data_flags);
    std::memcpy(buf, out.body.data() + out.sent, static_cast<size_t>(n));
    out.sent += static_cast<size_t>(n);
    return n;
  }

 private:
  void add(int32_t stream_id, std::string what) { events.emplace_back(stream_id, std::move(what)); }
  // Takes the next frame's share of the body; EOF (and trailers) once all of it is taken.
  ssize_t size_frame(int32_t stream_id, size_t length, uint32_t* data_flags) {
    Outbound& out = outbound[stream_id];
    size_t n = std::min(length, out.body.size() - out.sized);
    out.sized += n;
    if (out.sized == out.body.size()) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!out.trailers.empty()) {
        // gRPC ends a response with trailers, so the last DATA must not carry END_STREAM.
        *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        std::vector<nghttp2_nv> nva = to_nva(out.trailers);
        EXPECT_EQ(nghttp2_submit_trailer(session, stream_id, nva.data(), nva.size()), 0);
      }
    }
    return static_cast<ssize_t>(n);
  }
};

Recorder* recorder_of(void* user_data) { return static_cast<Recorder*>(user_data); }

// A plain nghttp2 session for the other end: default options, callbacks wired here.
SessionPtr make_peer(Http2Role role, Recorder* recorder) {
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_begin_headers_callback(
      cb, [](nghttp2_session*, const nghttp2_frame* f, void* u) {
        return recorder_of(u)->on_begin_headers(f);
      });
  nghttp2_session_callbacks_set_on_header_callback(
      cb, [](nghttp2_session*, const nghttp2_frame* f, const uint8_t* name, size_t name_len,
             const uint8_t* value, size_t value_len, uint8_t, void* u) {
        return recorder_of(u)->on_header(f, chars(name, name_len), chars(value, value_len));
      });
  nghttp2_session_callbacks_set_on_frame_recv_callback(
      cb, [](nghttp2_session*, const nghttp2_frame* f, void* u) {
        return recorder_of(u)->on_frame_recv(f);
      });
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
      cb, [](nghttp2_session*, uint8_t, int32_t id, const uint8_t* d, size_t len, void* u) {
        return recorder_of(u)->on_data_chunk(id, d, len);
      });
  nghttp2_session_callbacks_set_on_stream_close_callback(
      cb, [](nghttp2_session*, int32_t id, uint32_t code, void* u) {
        return recorder_of(u)->on_stream_close(id, code);
      });
  nghttp2_session* raw = nullptr;
  if (role == Http2Role::kClient) nghttp2_session_client_new(&raw, cb, recorder);
  else nghttp2_session_server_new(&raw, cb, recorder);
  nghttp2_session_callbacks_del(cb);
  nghttp2_submit_settings(raw, NGHTTP2_FLAG_NONE, nullptr, 0);
  recorder->session = raw;
  return SessionPtr(raw);
}

// The peer's own data source (not ours: data_provider() is under test).
nghttp2_data_provider peer_data_provider() {
  nghttp2_data_provider p{};
  p.read_callback = [](nghttp2_session*, int32_t id, uint8_t* buf, size_t len, uint32_t* flags,
                       nghttp2_data_source*, void* u) {
    return recorder_of(u)->copy_data(id, buf, len, flags);
  };
  return p;
}

// Everything the session wants to write right now.
std::string drain(nghttp2_session* session) {
  std::string out;
  g_wire = &out;  // DATA frames of our session arrive through send_data, in order
  struct Reset { ~Reset() { g_wire = nullptr; } } reset;
  const uint8_t* bytes = nullptr;
  ssize_t n;
  while ((n = nghttp2_session_mem_send(session, &bytes)) > 0) out += chars(bytes, n);
  EXPECT_EQ(n, 0) << nghttp2_strerror(static_cast<int>(n));
  return out;
}

ssize_t feed(nghttp2_session* session, std::string_view bytes) {
  return nghttp2_session_mem_recv(session, reinterpret_cast<const uint8_t*>(bytes.data()),
                                  bytes.size());
}

// Feeds `bytes` and expects all of them consumed without error.
void deliver(nghttp2_session* to, std::string_view bytes) {
  EXPECT_EQ(feed(to, bytes), static_cast<ssize_t>(bytes.size()));
}
void pump(nghttp2_session* from, nghttp2_session* to) { deliver(to, drain(from)); }

// A hand-assembled HTTP/2 frame (RFC 9113 §4.1).
std::string frame(uint8_t type, uint8_t flags, uint32_t stream_id, std::string_view payload) {
  auto n = static_cast<uint32_t>(payload.size());
  std::string out = {char(n >> 16), char(n >> 8), char(n), char(type), char(flags),
                     char(stream_id >> 24), char(stream_id >> 16), char(stream_id >> 8),
                     char(stream_id)};
  return out + std::string(payload);
}

// HPACK "literal header field without indexing — new name", no Huffman (RFC 7541 §6.2.2).
std::string hpack_literal(std::string_view name, std::string_view value) {
  return std::string(1, '\0') + char(name.size()) + std::string(name) + char(value.size()) +
         std::string(value);
}
const std::string kHpackStatus200 = "\x88";  // static table entry 8 (RFC 7541 Appendix A)

const Headers kRequestHeaders = {
    {":method", "POST"},  {":scheme", "http"},    {":path", "/pkg.Svc/M"},
    {":authority", "localhost"}, {"content-type", "application/grpc"}, {"te", "trailers"},
    {"grpc-timeout", "1S"}, {"x-user-id", "42"}, {"trace-bin", "AAEC"}};

// Our server session with a plain nghttp2 client in front of it.
class Http2ServerSession : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = make_session(Http2Role::kServer, &ours_, Http2Settings{});
    ASSERT_NE(server_, nullptr);
    ours_.session = server_.get();
    client_ = make_peer(Http2Role::kClient, &theirs_);
  }
  // The client sends kRequestHeaders and `body`, ending the stream; returns the bytes it wrote.
  std::string client_request(std::string body) {
    std::vector<nghttp2_nv> nva = to_nva(kRequestHeaders);
    nghttp2_data_provider provider = peer_data_provider();
    EXPECT_EQ(nghttp2_submit_request(client_.get(), nullptr, nva.data(), nva.size(), &provider,
                                     nullptr), 1);
    theirs_.outbound[1].body = std::move(body);
    return drain(client_.get());
  }

  Recorder ours_, theirs_;
  SessionPtr server_, client_;
};

TEST_F(Http2ServerSession, ReceivesGrpcRequestHeadersAndMessage) {
  deliver(server_.get(), client_request(framed("ping")));

  Lines expected = {"begin_headers request"};
  for (const auto& [name, value] : kRequestHeaders) {
    expected.push_back("header " + name + "=" + value);
  }
  expected.push_back("frame_recv HEADERS");  // the body follows, so no END_STREAM here
  expected.push_back("frame_recv DATA END_STREAM");
  EXPECT_EQ(ours_.events_on(1), expected);  // in particular no stream_close: we have not answered
  EXPECT_EQ(ours_.data[1], framed("ping"));
}

TEST_F(Http2ServerSession, AnswersWithDataAndTrailers) {
  deliver(server_.get(), client_request(framed("ping")));

  // Answer the way ServerConnection does: HEADERS, our data source, trailers from read_data.
  int call_marker = 0;
  nghttp2_session_set_stream_user_data(server_.get(), 1, &call_marker);
  ours_.outbound[1] = {framed("pong"), 0, 0, {{"grpc-status", "0"}, {"grpc-message", "fine"}}};
  const Headers response_headers = {{":status", "200"}, {"content-type", "application/grpc"}};
  std::vector<nghttp2_nv> nva = to_nva(response_headers);
  nghttp2_data_provider provider = data_provider();
  ASSERT_EQ(nghttp2_submit_response(server_.get(), 1, nva.data(), nva.size(), &provider), 0);
  pump(server_.get(), client_.get());

  EXPECT_EQ(theirs_.events_on(1),
            (Lines{"begin_headers response", "header :status=200",
                   "header content-type=application/grpc", "frame_recv HEADERS", "frame_recv DATA",
                   "begin_headers trailers", "header grpc-status=0", "header grpc-message=fine",
                   "frame_recv HEADERS END_STREAM", "stream_close NO_ERROR"}));
  EXPECT_EQ(theirs_.data[1], framed("pong"));
  // Our side: the frames went out in order and the stream closed cleanly; the data source was
  // handed the stream's user data (that is how a connection finds the call).
  Lines ours = ours_.events_on(1);
  ASSERT_GE(ours.size(), 4u);
  EXPECT_EQ(Lines(ours.end() - 4, ours.end()),
            (Lines{"frame_send HEADERS", "frame_send DATA", "frame_send HEADERS END_STREAM",
                   "stream_close NO_ERROR"}));
  ASSERT_FALSE(ours_.read_data_user_data.empty());
  for (void* p : ours_.read_data_user_data) EXPECT_EQ(p, &call_marker);
}

TEST_F(Http2ServerSession, AdvertisesOurSettings) {
  Recorder recorder;
  Http2Settings settings;
  settings.max_concurrent_streams = 100;
  SessionPtr server = make_session(Http2Role::kServer, &recorder, settings);
  pump(server.get(), client_.get());
  auto remote = [&](nghttp2_settings_id id) {
    return nghttp2_session_get_remote_settings(client_.get(), id);
  };
  EXPECT_EQ(remote(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE), 1u << 20);
  EXPECT_EQ(remote(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE), 16u << 10);
  EXPECT_EQ(remote(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), 100u);
  // The connection window is raised with a WINDOW_UPDATE on stream 0, not with a setting.
  EXPECT_EQ(nghttp2_session_get_remote_window_size(client_.get()), 16 << 20);

  // With the default (-1) the server says nothing about concurrent streams, so the client
  // keeps the RFC 9113 initial value: unlimited.
  Recorder other;
  SessionPtr other_client = make_peer(Http2Role::kClient, &other);
  pump(server_.get(), other_client.get());
  EXPECT_EQ(nghttp2_session_get_remote_settings(other_client.get(),
                                                NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS),
            0xffffffffu);
}

// Backpressure (docs/architecture.md, "Backpressure and memory"): window goes back only when
// the connection consumes what it read.
TEST_F(Http2ServerSession, ReturnsStreamWindowOnlyWhenConsumed) {
  pump(server_.get(), client_.get());  // our SETTINGS: 1 MiB per stream

  // A client stream that keeps sending: HEADERS without END_STREAM, then 600 KiB of DATA.
  constexpr size_t kBody = 600 * 1024;  // more than half the window, so an update is due
  std::vector<nghttp2_nv> nva = to_nva(kRequestHeaders);
  ASSERT_EQ(nghttp2_submit_headers(client_.get(), NGHTTP2_FLAG_NONE, -1, nullptr, nva.data(),
                                   nva.size(), nullptr), 1);
  pump(client_.get(), server_.get());  // the stream exists once its HEADERS are out
  theirs_.outbound[1].body = std::string(kBody, 'x');
  nghttp2_data_provider provider = peer_data_provider();
  ASSERT_EQ(nghttp2_submit_data(client_.get(), NGHTTP2_FLAG_NONE, 1, &provider), 0);
  pump(client_.get(), server_.get());
  ASSERT_EQ(ours_.data[1].size(), kBody);

  pump(server_.get(), client_.get());
  EXPECT_EQ(theirs_.events_on(1), Lines{}) << "window returned before the bytes were consumed";

  ASSERT_EQ(nghttp2_session_consume(server_.get(), 1, kBody), 0);
  pump(server_.get(), client_.get());
  EXPECT_EQ(theirs_.events_on(1), Lines{"frame_recv WINDOW_UPDATE +" + std::to_string(kBody)});
}

// Our client session; the server side is hand-assembled frames.
class Http2ClientSession : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = make_session(Http2Role::kClient, &ours_, Http2Settings{});
    ASSERT_NE(client_, nullptr);
    ours_.session = client_.get();
  }
  // Starts stream 1 the way ClientConnection does and sends it; returns the bytes written.
  std::string start_call() {
    std::vector<nghttp2_nv> nva = to_nva(kRequestHeaders);
    nghttp2_data_provider provider = data_provider();
    EXPECT_EQ(nghttp2_submit_request(client_.get(), nullptr, nva.data(), nva.size(), &provider,
                                     &call_marker_), 1);
    ours_.outbound[1].body = framed("ping");
    return drain(client_.get());
  }
  const std::string kServerSettings = frame(NGHTTP2_SETTINGS, 0, 0, "");

  int call_marker_ = 0;
  Recorder ours_;
  SessionPtr client_;
};

TEST_F(Http2ClientSession, SendsPrefaceAndOurSettings) {
  std::string bytes = start_call();
  ASSERT_EQ(bytes.substr(0, sizeof(NGHTTP2_CLIENT_MAGIC) - 1), NGHTTP2_CLIENT_MAGIC);

  Recorder theirs;
  SessionPtr server = make_peer(Http2Role::kServer, &theirs);
  deliver(server.get(), bytes);
  auto remote = [&](nghttp2_settings_id id) {
    return nghttp2_session_get_remote_settings(server.get(), id);
  };
  EXPECT_EQ(remote(NGHTTP2_SETTINGS_ENABLE_PUSH), 0u);
  EXPECT_EQ(remote(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE), 1u << 20);
  EXPECT_EQ(remote(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE), 16u << 10);
  EXPECT_EQ(nghttp2_session_get_remote_window_size(server.get()), 16 << 20);
  // And the request itself arrived whole, through data_provider().
  EXPECT_EQ(theirs.data[1], framed("ping"));
  EXPECT_EQ(theirs.events_on(1).back(), "frame_recv DATA END_STREAM");
  ASSERT_FALSE(ours_.read_data_user_data.empty());
  for (void* p : ours_.read_data_user_data) EXPECT_EQ(p, &call_marker_);
}

TEST_F(Http2ClientSession, ReceivesScriptedResponse) {
  start_call();
  deliver(client_.get(),
          kServerSettings +
              frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, 1,
                    kHpackStatus200 + hpack_literal("content-type", "application/grpc")) +
              frame(NGHTTP2_DATA, 0, 1, framed("pong")) +
              frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, 1,
                    hpack_literal("grpc-status", "0") + hpack_literal("grpc-message", "ok")));
  EXPECT_EQ(ours_.received_on(0), Lines{"frame_recv SETTINGS"});
  EXPECT_EQ(ours_.received_on(1),
            (Lines{"begin_headers response", "header :status=200",
                   "header content-type=application/grpc", "frame_recv HEADERS", "frame_recv DATA",
                   "begin_headers trailers", "header grpc-status=0", "header grpc-message=ok",
                   "frame_recv HEADERS END_STREAM", "stream_close NO_ERROR"}));
  EXPECT_EQ(ours_.data[1], framed("pong"));
}

// gRPC's Trailers-Only response: one HEADERS frame with :status and grpc-status, END_STREAM.
TEST_F(Http2ClientSession, ReceivesTrailersOnlyResponse) {
  start_call();
  deliver(client_.get(),
          kServerSettings +
              frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, 1,
                    kHpackStatus200 + hpack_literal("content-type", "application/grpc") +
                        hpack_literal("grpc-status", "12")));
  EXPECT_EQ(ours_.received_on(1),
            (Lines{"begin_headers response", "header :status=200",
                   "header content-type=application/grpc", "header grpc-status=12",
                   "frame_recv HEADERS END_STREAM", "stream_close NO_ERROR"}));
  EXPECT_TRUE(ours_.data.empty());
}

TEST_F(Http2ClientSession, ResetStreamClosesWithItsErrorCode) {
  start_call();
  const std::string kCancel = {0, 0, 0, char(NGHTTP2_CANCEL)};  // 32-bit error code
  deliver(client_.get(), kServerSettings + frame(NGHTTP2_RST_STREAM, 0, 1, kCancel));
  EXPECT_EQ(ours_.received_on(1), (Lines{"frame_recv RST_STREAM", "stream_close CANCEL"}));
}

}  // namespace
}  // namespace turbogrpc::internal
