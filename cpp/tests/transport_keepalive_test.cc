// Keepalive and connection lifetimes on real loopback sockets, without Python or an EngineCore:
// the server's ping policing (GOAWAY ENHANCE_YOUR_CALM "too_many_pings"), its maximum connection
// age (two GOAWAYs, then the grace period), its keepalive pings, and the client's keepalive
// (an unanswered PING closes the connection; "too_many_pings" doubles the interval). Where the
// peer must misbehave it is a hand-driven socket speaking raw HTTP/2 frames.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/address.h"
#include "rpc/client_call.h"
#include "transport/channel.h"
#include "transport/server.h"
#include "loop_transport_context.h"

namespace turbogrpc::internal {
namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

constexpr const char* kMethod = "/test.Echo/Unary";
constexpr uint64_t kServerId = 1;
constexpr uint64_t kChannelId = 2;
constexpr uint8_t kSettings = 0x4, kPing = 0x6, kGoaway = 0x7, kAck = 0x1;
constexpr uint32_t kEnhanceYourCalm = 0xb;
constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct Frame {
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t stream_id = 0;
  std::string payload;
};

uint32_t read_u32(const std::string& s, size_t at) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(s[at + i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

std::string frame_bytes(uint8_t type, uint8_t flags, uint32_t stream_id, std::string_view payload) {
  std::string out;
  size_t n = payload.size();
  out += {static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n),
          static_cast<char>(type), static_cast<char>(flags),
          static_cast<char>(stream_id >> 24), static_cast<char>(stream_id >> 16),
          static_cast<char>(stream_id >> 8), static_cast<char>(stream_id)};
  out += payload;
  return out;
}

// A hand-driven HTTP/2 peer on a nonblocking socket: bytes out, whole frames in.
class RawPeer {
 public:
  explicit RawPeer(int fd) : fd_(fd) { ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK); }
  ~RawPeer() { ::close(fd_); }
  RawPeer(const RawPeer&) = delete;
  RawPeer& operator=(const RawPeer&) = delete;

  void send(std::string_view bytes) {
    ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }
  // Takes what has arrived: complete frames into frames, eof once the other side closed.
  void poll() {
    char buf[16384];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) eof = true;
      if (n <= 0) break;
      in_.append(buf, static_cast<size_t>(n));
    }
    if (skip_preface_ && in_.size() >= kClientPreface.size()) {
      in_.erase(0, kClientPreface.size());
      skip_preface_ = false;
    }
    while (!skip_preface_ && in_.size() >= 9) {
      size_t length = static_cast<uint8_t>(in_[0]) << 16 | static_cast<uint8_t>(in_[1]) << 8 |
                      static_cast<uint8_t>(in_[2]);
      if (in_.size() < 9 + length) break;
      Frame f{static_cast<uint8_t>(in_[3]), static_cast<uint8_t>(in_[4]), read_u32(in_, 5) & 0x7fffffffu,
              in_.substr(9, length)};
      frames.push_back(std::move(f));
      in_.erase(0, 9 + length);
    }
  }
  // This peer is a server: what arrives starts with the client's preface.
  void expect_client_preface() { skip_preface_ = true; }
  int fd() const { return fd_; }

  std::deque<Frame> frames;
  bool eof = false;

 private:
  int fd_;
  std::string in_;
  bool skip_preface_ = false;
};

class KeepaliveTest : public ::testing::Test {
 protected:
  int listen_here(int* port) {
    SysResult listening = listen_socket(resolve_listen_address("127.0.0.1:0").addresses.at(0), port);
    EXPECT_TRUE(listening.ok()) << listening.message();
    return static_cast<int>(listening.value);
  }

  void start_server(ServerOptions options) {
    StartServerCommand command;
    command.server_id = kServerId;
    command.cq = server_cq_;
    command.listen_fds = {listen_here(&port_)};
    command.options = options;
    command.unary_request_methods = {kMethod};
    command.security = {ListenerSecurity{}};
    server_ = std::make_unique<Server>(context_, std::move(command));
  }

  void start_channel(int port, ChannelOptions options) {
    channel_options_ = options;
    channel_ = std::make_unique<Channel>(context_, kChannelId, "127.0.0.1:" + std::to_string(port), options);
    context_.route_channel_timers(kChannelId, channel_.get());
  }

  // A raw client connected to our server; it has sent its preface and SETTINGS.
  std::unique_ptr<RawPeer> raw_client() {
    SysResult s = start_connect(resolve_listen_address("127.0.0.1:" + std::to_string(port_)).addresses.at(0));
    EXPECT_TRUE(s.ok()) << s.message();
    auto peer = std::make_unique<RawPeer>(static_cast<int>(s.value));
    run_until([&] { return connect_error(peer->fd()) == 0 && context_.live_connections() > 0; });
    peer->send(std::string(kClientPreface) + frame_bytes(kSettings, 0, 0, ""));
    return peer;
  }

  uint64_t start_unary() {
    StartCallCommand command = unary_call_command(kChannelId, context_.new_id(), client_cq_, kMethod);
    uint64_t id = command.call_id;
    channel_->start_call(std::make_unique<ClientCall>(std::move(command), channel_options_, nullptr, nullptr, context_.calls(), nullptr));
    return id;
  }

  void finish_ok(uint64_t server_call_id) {
    FinishCommand finish;
    finish.call_id = server_call_id;
    finish.message = "pong";
    finish.status = {StatusCode::kOk, ""};
    Call* call = context_.calls().find(server_call_id);
    ASSERT_NE(call, nullptr);
    call->finish(std::move(finish));
  }

  // Runs the poller until `done()` (true) or `limit` (false), collecting events.
  template <typename Done>
  bool run_until(Done done, milliseconds limit = 5000ms) {
    return context_.run_until([&] {
      for (Event& e : server_cq_->drain()) server_events_.push_back(std::move(e));
      for (Event& e : client_cq_->drain()) client_events_.push_back(std::move(e));
      return done();
    }, limit, 2);
  }
  void run_for(milliseconds duration) {
    run_until([] { return false; }, duration);
  }

  const Event* event_for(const std::vector<Event>& events, EventKind kind, uint64_t call_id = 0) {
    for (const Event& e : events) {
      if (e.kind == kind && (call_id == 0 || e.call_id == call_id)) return &e;
    }
    return nullptr;
  }

  // Waits for the next frame of `type` from `peer` (dropping others); null after `limit`.
  std::unique_ptr<Frame> next_frame(RawPeer& peer, uint8_t type, milliseconds limit = 3000ms) {
    std::unique_ptr<Frame> found;
    run_until([&] {
      peer.poll();
      while (!peer.frames.empty() && !found) {
        Frame f = std::move(peer.frames.front());
        peer.frames.pop_front();
        if (f.type == type) found = std::make_unique<Frame>(std::move(f));
      }
      return found != nullptr || peer.eof;
    }, limit);
    return found;
  }

  bool wait_eof(RawPeer& peer, milliseconds limit = 3000ms) {
    return run_until([&] {
      peer.poll();
      peer.frames.clear();
      return peer.eof;
    }, limit);
  }

  void TearDown() override {
    if (channel_) channel_->close();
    if (server_) server_->stop(StopPhase::kCloseAll);
    context_.run_once(0);
    EXPECT_EQ(context_.live_connections(), 0u);
  }

  LoopTransportContext context_;  // first: outlives the server and channel whose connections it owns
  std::shared_ptr<CompletionQueue> server_cq_ = std::make_shared<CompletionQueue>();
  std::shared_ptr<CompletionQueue> client_cq_ = std::make_shared<CompletionQueue>();
  std::vector<Event> server_events_;
  std::vector<Event> client_events_;
  ChannelOptions channel_options_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Channel> channel_;
  int port_ = 0;
};

std::string ping_frame(std::string_view opaque, uint8_t flags = 0) { return frame_bytes(kPing, flags, 0, opaque); }

// --- The server's ping policing ---------------------------------------------------------

TEST_F(KeepaliveTest, PingsBeyondTheStrikeLimitGetGoawayTooManyPingsAndAClose) {
  start_server({});  // defaults: 5 min between pings, 2 strikes, no pings without calls
  auto client = raw_client();
  // The first PING is free; the next three come too soon: strikes 1, 2, 3 > 2.
  for (int i = 0; i < 4; ++i) client->send(ping_frame("pingpong"));
  auto goaway = next_frame(*client, kGoaway);
  ASSERT_NE(goaway, nullptr) << "no GOAWAY";
  ASSERT_GE(goaway->payload.size(), 8u);
  EXPECT_EQ(read_u32(goaway->payload, 4), kEnhanceYourCalm);
  EXPECT_EQ(goaway->payload.substr(8), "too_many_pings");
  EXPECT_TRUE(wait_eof(*client)) << "the connection stayed open";
  EXPECT_EQ(context_.live_connections(), 0u);
}

TEST_F(KeepaliveTest, PingsUpToTheStrikeLimitAreAnswered) {
  start_server({});
  auto client = raw_client();
  for (int i = 0; i < 3; ++i) client->send(ping_frame("pingpong"));  // strikes 1, 2: allowed
  int acks = 0;
  run_until([&] {
    client->poll();
    for (const Frame& f : client->frames) {
      EXPECT_NE(f.type, kGoaway);
      if (f.type == kPing && (f.flags & kAck)) ++acks;
    }
    client->frames.clear();
    return acks == 3;
  }, 1000ms);
  EXPECT_EQ(acks, 3);
  run_for(50ms);
  client->poll();
  EXPECT_FALSE(client->eof);
  EXPECT_EQ(context_.live_connections(), 1u);
}

TEST_F(KeepaliveTest, PingsAtThePermittedIntervalAreNoStrikes) {
  ServerOptions options;
  options.min_ping_interval_without_data_ms = 40;
  options.keepalive_permit_without_calls = true;
  start_server(options);
  auto client = raw_client();
  for (int i = 0; i < 6; ++i) {
    client->send(ping_frame("pingpong"));
    run_for(60ms);
  }
  client->poll();
  for (const Frame& f : client->frames) EXPECT_NE(f.type, kGoaway);
  EXPECT_FALSE(client->eof);
}

TEST_F(KeepaliveTest, WithoutCallsEveryPingAfterTheFirstIsAStrikeUnlessPermitted) {
  ServerOptions options;
  options.min_ping_interval_without_data_ms = 10;  // would allow these, were calls open
  start_server(options);
  auto client = raw_client();
  for (int i = 0; i < 4; ++i) {
    client->send(ping_frame("pingpong"));
    run_for(20ms);
  }
  auto goaway = next_frame(*client, kGoaway, 1000ms);
  ASSERT_NE(goaway, nullptr) << "pings without calls were not policed";
  EXPECT_EQ(goaway->payload.substr(8), "too_many_pings");
}

// HEADERS of a unary request on `stream_id`, HPACK literals without indexing (no table needed).
std::string request_headers(uint32_t stream_id) {
  std::string block;
  for (auto [name, value] : {std::pair<std::string_view, std::string_view>{":method", "POST"},
                             {":scheme", "http"}, {":path", kMethod}, {":authority", "test"},
                             {"content-type", "application/grpc"}, {"te", "trailers"}}) {
    block += '\0';
    block += static_cast<char>(name.size());
    block += name;
    block += static_cast<char>(value.size());
    block += value;
  }
  constexpr uint8_t kHeaders = 0x1, kEndHeaders = 0x4;
  return frame_bytes(kHeaders, kEndHeaders, stream_id, block);
}

TEST_F(KeepaliveTest, StrikesResetWhenTheServerSendsHeadersOrData) {
  start_server({});
  auto client = raw_client();
  auto acks = [&](int wanted) {
    int seen = 0;
    return run_until([&] {
      client->poll();
      for (const Frame& f : client->frames) {
        EXPECT_NE(f.type, kGoaway) << "GOAWAY after " << seen << " ACKs";
        if (f.type == kPing && (f.flags & kAck)) ++seen;
      }
      client->frames.clear();
      return seen == wanted || client->eof;
    }, 1000ms) && !client->eof;
  };
  for (int i = 0; i < 3; ++i) client->send(ping_frame("pingpong"));  // free, strike 1, strike 2
  ASSERT_TRUE(acks(3));
  // A call: the server's HEADERS and DATA reset the strikes.
  constexpr uint8_t kData = 0x0, kEndStream = 0x1;
  client->send(request_headers(1) + frame_bytes(kData, kEndStream, 1, std::string("\0\0\0\0\4ping", 9)));
  ASSERT_TRUE(run_until([&] { return event_for(server_events_, EventKind::kServerCall) != nullptr; }));
  finish_ok(event_for(server_events_, EventKind::kServerCall)->call_id);
  ASSERT_NE(next_frame(*client, 0x0 /* DATA */), nullptr) << "no response";
  // Free again, then strikes 1 and 2: still within the limit. Without the reset the first of
  // these would be strike 3.
  for (int i = 0; i < 3; ++i) client->send(ping_frame("pingpong"));
  EXPECT_TRUE(acks(3));
  run_for(30ms);
  client->poll();
  EXPECT_FALSE(client->eof);
}

// --- The server's maximum connection age ------------------------------------------------

TEST_F(KeepaliveTest, MaxAgeSendsAHeadsUpGoawayAndPingThenTheFinalGoawayAndCloses) {
  ServerOptions options;
  options.max_connection_age_ms = 100;
  options.max_connection_age_grace_ms = 5000;
  start_server(options);
  auto started = Clock::now();
  auto client = raw_client();

  auto first = next_frame(*client, kGoaway);
  ASSERT_NE(first, nullptr);
  EXPECT_GE(Clock::now() - started, 90ms);  // 100 ms - 10 % jitter
  EXPECT_EQ(read_u32(first->payload, 0), 0x7fffffffu);  // every stream may still come
  EXPECT_EQ(read_u32(first->payload, 4), 0u);           // NO_ERROR
  auto ping = next_frame(*client, kPing);
  ASSERT_NE(ping, nullptr);
  ASSERT_EQ(ping->flags & kAck, 0);
  EXPECT_FALSE(client->eof) << "closed before the final GOAWAY";

  client->send(ping_frame(ping->payload, kAck));
  auto final_goaway = next_frame(*client, kGoaway, 1000ms);
  ASSERT_NE(final_goaway, nullptr) << "the ACK did not bring the final GOAWAY";
  EXPECT_EQ(read_u32(final_goaway->payload, 0), 0u);  // no stream was processed
  EXPECT_TRUE(wait_eof(*client, 1000ms));
}

TEST_F(KeepaliveTest, MaxAgeLetsACallFinishWithinGraceAndTheNextCallUsesANewConnection) {
  ServerOptions options;
  options.max_connection_age_ms = 100;
  options.max_connection_age_grace_ms = 5000;
  start_server(options);
  start_channel(port_, {});
  uint64_t first = start_unary();
  ASSERT_TRUE(run_until([&] { return event_for(server_events_, EventKind::kServerCall) != nullptr; }));
  uint64_t server_call = event_for(server_events_, EventKind::kServerCall)->call_id;
  // Past the age (and both GOAWAYs): the channel has moved off this connection.
  ASSERT_TRUE(run_until([&] { return channel_->state() == ConnectivityState::kIdle; }, 1000ms));
  finish_ok(server_call);
  ASSERT_TRUE(run_until([&] { return event_for(client_events_, EventKind::kUnaryDone, first) != nullptr; }));
  EXPECT_EQ(event_for(client_events_, EventKind::kUnaryDone, first)->status.code, StatusCode::kOk);
  ASSERT_TRUE(run_until([&] { return context_.live_connections() == 0; }, 1000ms)) << "drained connection kept";

  server_events_.clear();
  uint64_t second = start_unary();
  ASSERT_TRUE(run_until([&] { return event_for(server_events_, EventKind::kServerCall) != nullptr; }));
  finish_ok(event_for(server_events_, EventKind::kServerCall)->call_id);
  ASSERT_TRUE(run_until([&] { return event_for(client_events_, EventKind::kUnaryDone, second) != nullptr; }));
  EXPECT_EQ(event_for(client_events_, EventKind::kUnaryDone, second)->status.code, StatusCode::kOk);
}

TEST_F(KeepaliveTest, MaxAgeGraceOverCancelsTheCallsStillRunning) {
  ServerOptions options;
  options.max_connection_age_ms = 100;
  options.max_connection_age_grace_ms = 200;
  start_server(options);
  start_channel(port_, {});
  auto started = Clock::now();
  uint64_t call = start_unary();
  ASSERT_TRUE(run_until([&] { return event_for(server_events_, EventKind::kServerCall) != nullptr; }));
  uint64_t server_call = event_for(server_events_, EventKind::kServerCall)->call_id;
  ASSERT_TRUE(run_until([&] { return event_for(client_events_, EventKind::kUnaryDone, call) != nullptr; }, 2000ms));
  auto took = Clock::now() - started;
  EXPECT_GE(took, 290ms);   // age (at least 90 ms) + grace
  EXPECT_LT(took, 1000ms);
  EXPECT_EQ(event_for(client_events_, EventKind::kUnaryDone, call)->status.code, StatusCode::kUnavailable);
  ASSERT_TRUE(run_until([&] { return event_for(server_events_, EventKind::kServerDone, server_call) != nullptr; }));
  EXPECT_EQ(event_for(server_events_, EventKind::kServerDone, server_call)->status.code, StatusCode::kCancelled);
}

// --- Keepalive pings ----------------------------------------------------------------------

TEST_F(KeepaliveTest, ServerClosesAConnectionWhosePeerDoesNotAnswerItsPing) {
  ServerOptions options;
  options.keepalive_time_ms = 50;
  options.keepalive_timeout_ms = 50;
  start_server(options);
  auto client = raw_client();
  auto started = Clock::now();
  auto ping = next_frame(*client, kPing);
  ASSERT_NE(ping, nullptr) << "no keepalive ping";
  EXPECT_EQ(ping->flags & kAck, 0);
  EXPECT_TRUE(wait_eof(*client, 2000ms)) << "an unanswered ping did not end the connection";
  EXPECT_GE(Clock::now() - started, 90ms);
}

TEST_F(KeepaliveTest, ClientClosesAConnectionWhosePeerStopsAnswering) {
  int port = 0;
  int listener = listen_here(&port);
  ChannelOptions options;
  options.keepalive_time_ms = 100;
  options.keepalive_timeout_ms = 100;
  start_channel(port, options);
  uint64_t call = start_unary();
  std::unique_ptr<RawPeer> server;
  ASSERT_TRUE(run_until([&] {
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) server = std::make_unique<RawPeer>(fd);
    return server != nullptr;
  }));
  server->expect_client_preface();
  server->send(frame_bytes(kSettings, 0, 0, ""));  // READY; then the server goes silent
  ASSERT_TRUE(run_until([&] { return channel_->state() == ConnectivityState::kReady; }));
  auto ready = Clock::now();
  ASSERT_TRUE(run_until([&] { return event_for(client_events_, EventKind::kUnaryDone, call) != nullptr; }, 3000ms));
  auto took = Clock::now() - ready;
  const Event* done = event_for(client_events_, EventKind::kUnaryDone, call);
  EXPECT_EQ(done->status.code, StatusCode::kUnavailable);
  EXPECT_NE(done->status.details.find("keepalive"), std::string::npos) << done->status.details;
  EXPECT_GE(took, 190ms);  // time + timeout
  EXPECT_LT(took, 1000ms);
  EXPECT_EQ(channel_->state(), ConnectivityState::kIdle);
  server->poll();
  bool pinged = false;
  for (const Frame& f : server->frames) pinged |= f.type == kPing && (f.flags & kAck) == 0;
  EXPECT_TRUE(pinged) << "the client never pinged";
  ::close(listener);
}

TEST_F(KeepaliveTest, AnsweredPingsKeepTheClientsConnection) {
  ServerOptions server_options;
  server_options.min_ping_interval_without_data_ms = 10;
  server_options.keepalive_permit_without_calls = true;
  start_server(server_options);
  ChannelOptions options;
  options.keepalive_time_ms = 30;
  options.keepalive_timeout_ms = 30;
  options.keepalive_permit_without_calls = true;
  options.max_pings_without_data = 0;
  start_channel(port_, options);
  channel_->connect_if_idle();
  ASSERT_TRUE(run_until([&] { return channel_->state() == ConnectivityState::kReady; }));
  run_for(400ms);  // ~13 keepalive rounds
  EXPECT_EQ(channel_->state(), ConnectivityState::kReady);
  EXPECT_EQ(context_.live_connections(), 2u);
}

TEST_F(KeepaliveTest, TooManyPingsFromTheServerDoublesTheChannelsKeepaliveTime) {
  start_server({});  // default policing
  ChannelOptions options;
  options.keepalive_time_ms = 20;
  options.keepalive_permit_without_calls = true;
  options.max_pings_without_data = 0;
  start_channel(port_, options);
  channel_->connect_if_idle();
  ASSERT_TRUE(run_until([&] { return channel_->state() == ConnectivityState::kReady; }));
  ASSERT_TRUE(run_until([&] { return channel_->state() == ConnectivityState::kIdle; }, 2000ms))
      << "the server did not refuse the pings";
  EXPECT_EQ(channel_->keepalive_settings().time, 40ms);
}

}  // namespace
}  // namespace turbogrpc::internal
