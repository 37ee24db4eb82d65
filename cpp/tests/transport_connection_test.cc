// Connections driven alone: a real Server and Channel — and the ServerConnection and
// ClientConnection they make — talk over loopback TCP, owned by a small TransportContext whose
// poller runs on the test thread. No EngineCore, no poller thread, no codec worker.
#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "io/address.h"
#include "rpc/client_call.h"
#include "rpc/server_call.h"
#include "transport/channel.h"
#include "transport/connection.h"
#include "transport/server.h"
#include "transport/server_connection.h"
#include "transport/transport_context.h"
#include "loop_transport_context.h"
#include "tls_test_pki.h"

namespace turbogrpc::internal {
namespace {

constexpr const char* kMethod = "/test.Echo/Unary";
constexpr uint64_t kServerId = 1;
constexpr uint64_t kChannelId = 2;

using TestContext = LoopTransportContext;

// A completion queue and the events drained from it but not yet looked at.
struct EventInbox {
  std::shared_ptr<CompletionQueue> cq = std::make_shared<CompletionQueue>();
  std::deque<Event> events;
};

bool has(const Metadata& metadata, const std::string& key, const std::string& value) {
  for (const auto& [k, v] : metadata) {
    if (k == key && v == value) return true;
  }
  return false;
}

class TransportConnectionTest : public ::testing::Test {
 protected:
  void start(ServerOptions server_options = {}, ChannelOptions channel_options = {},
             ListenerSecurity security = {}) {
    ResolvedTarget listen_address = resolve_listen_address("127.0.0.1:0");
    ASSERT_TRUE(listen_address.error.empty()) << listen_address.error;
    int port = 0;
    SysResult listening = listen_socket(listen_address.addresses.at(0), &port);
    ASSERT_TRUE(listening.ok()) << listening.message();

    StartServerCommand command;
    command.server_id = kServerId;
    command.cq = server_.cq;
    command.listen_fds = {static_cast<int>(listening.value)};
    command.options = server_options;
    command.unary_request_methods = {kMethod};
    command.security = {security};
    server_side_ = std::make_unique<Server>(context_, std::move(command));
    channel_options_ = channel_options;
    channel_ = std::make_unique<Channel>(context_, kChannelId, "127.0.0.1:" + std::to_string(port),
                                         channel_options);
  }

  void TearDown() override {
    if (channel_) channel_->close();
    if (server_side_) server_side_->stop(StopPhase::kCloseAll);
    context_.run_once(0);
    EXPECT_EQ(context_.live_connections(), 0u);
    EXPECT_EQ(context_.calls().size(), 0u) << "a call outlived its connection";
  }

  void start_unary(std::string request, Metadata metadata = {}, double timeout_seconds = -1) {
    StartCallCommand command;
    command.channel_id = kChannelId;
    command.call_id = context_.new_id();
    command.cq = client_.cq;
    command.method = kMethod;
    command.metadata = std::move(metadata);
    command.timeout_seconds = timeout_seconds;
    command.shape = CallShape::kUnary;
    command.message = std::move(request);
    channel_->start_call(std::make_unique<ClientCall>(std::move(command), channel_options_, nullptr, nullptr,
                                                      context_.calls(), nullptr));
  }

  // Runs the poller until `inbox` holds an event, and takes it (kind kFinished with
  // call_id 0 and "timed out" as details after 5 s without one).
  Event next_event(EventInbox& inbox) {
    auto give_up = Clock::now() + std::chrono::seconds(5);
    while (inbox.events.empty() && Clock::now() < give_up) {
      context_.run_once(10);
      for (Event& e : inbox.cq->drain()) inbox.events.push_back(std::move(e));
    }
    if (inbox.events.empty()) return Event{EventKind::kFinished, 0, {StatusCode::kUnknown, "timed out"}};
    Event event = std::move(inbox.events.front());
    inbox.events.pop_front();
    return event;
  }

  // Runs the poller for `duration`, collecting events.
  void run_for(std::chrono::milliseconds duration) {
    auto until = Clock::now() + duration;
    while (Clock::now() < until) context_.run_once(5);
    for (Event& e : server_.cq->drain()) server_.events.push_back(std::move(e));
    for (Event& e : client_.cq->drain()) client_.events.push_back(std::move(e));
  }

  TestContext context_;  // first: outlives the server and channel whose connections it owns
  EventInbox client_;
  EventInbox server_;
  ChannelOptions channel_options_;
  std::unique_ptr<Server> server_side_;
  std::unique_ptr<Channel> channel_;
};

TEST_F(TransportConnectionTest, UnaryRequestReachesTheServerAndItsAnswerTheClient) {
  start();
  start_unary("ping", {{"x-request", "r1"}, {"x-blob-bin", std::string("\0\1\2", 3)}});

  Event call = next_event(server_);
  ASSERT_EQ(call.kind, EventKind::kServerCall) << call.status.details;
  EXPECT_EQ(call.server_id, kServerId);
  EXPECT_EQ(call.method, kMethod);
  EXPECT_TRUE(call.request_preread);
  EXPECT_EQ(call.message, "ping");
  EXPECT_TRUE(has(call.initial_metadata, "x-request", "r1"));
  EXPECT_TRUE(has(call.initial_metadata, "x-blob-bin", std::string("\0\1\2", 3)));
  EXPECT_EQ(call.peer.rfind("ipv4:127.0.0.1:", 0), 0u) << call.peer;

  Call* server_call = context_.calls().find(call.call_id);
  ASSERT_NE(server_call, nullptr);
  FinishCommand finish;
  finish.call_id = call.call_id;
  finish.initial_metadata = {{"x-initial", "i1"}};
  finish.message = "pong";
  finish.status = {StatusCode::kOk, ""};
  finish.trailing_metadata = {{"x-trailing", "t1"}};
  server_call->finish(std::move(finish));

  Event done = next_event(client_);
  ASSERT_EQ(done.kind, EventKind::kUnaryDone) << done.status.details;
  EXPECT_EQ(done.status.code, StatusCode::kOk) << done.status.details;
  EXPECT_EQ(done.message, "pong");
  EXPECT_TRUE(has(done.initial_metadata, "x-initial", "i1"));
  EXPECT_TRUE(has(done.trailing_metadata, "x-trailing", "t1"));
}

TEST_F(TransportConnectionTest, ApplicationStatusReachesTheClient) {
  start();
  start_unary("ping");
  Event call = next_event(server_);
  ASSERT_EQ(call.kind, EventKind::kServerCall);
  FinishCommand finish;
  finish.call_id = call.call_id;
  finish.status = {StatusCode::kNotFound, "no such thing: \xc3\xa9 100%"};
  context_.calls().find(call.call_id)->finish(std::move(finish));

  Event done = next_event(client_);
  ASSERT_EQ(done.kind, EventKind::kUnaryDone);
  EXPECT_EQ(done.status.code, StatusCode::kNotFound);
  EXPECT_EQ(done.status.details, "no such thing: \xc3\xa9 100%");  // percent-encoded on the wire
  EXPECT_FALSE(done.message.has_value());
}

TEST_F(TransportConnectionTest, ConnectionClosedMidCallFailsTheCallUnavailable) {
  start();
  start_unary("ping");
  Event call = next_event(server_);
  ASSERT_EQ(call.kind, EventKind::kServerCall);

  auto* server_connection = context_.find_connection<ServerConnection>();
  ASSERT_NE(server_connection, nullptr);
  server_connection->close({StatusCode::kUnavailable, "test closes the connection"});

  Event done = next_event(client_);
  ASSERT_EQ(done.kind, EventKind::kUnaryDone);
  EXPECT_EQ(done.status.code, StatusCode::kUnavailable) << done.status.details;
  // The server's handler learns that its call is gone, exactly once.
  Event gone = next_event(server_);
  EXPECT_EQ(gone.kind, EventKind::kServerDone);
  EXPECT_EQ(gone.call_id, call.call_id);
  EXPECT_EQ(gone.status.code, StatusCode::kCancelled);
}

TEST_F(TransportConnectionTest, RequestHeaderListOverTheHardLimitIsResourceExhausted) {
  ServerOptions server_options;
  server_options.max_metadata_size = 1024;
  server_options.absolute_max_metadata_size = 2048;
  start(server_options);
  start_unary("ping", {{"x-big", std::string(4096, 'a')}});

  Event done = next_event(client_);
  ASSERT_EQ(done.kind, EventKind::kUnaryDone);
  EXPECT_EQ(done.status.code, StatusCode::kResourceExhausted) << done.status.details;
  run_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(server_.events.empty()) << "the handler saw a refused request";
}

TEST_F(TransportConnectionTest, ResponseTrailersOverTheClientsHardLimitAreResourceExhausted) {
  ChannelOptions channel_options;
  channel_options.max_metadata_size = 1024;
  channel_options.absolute_max_metadata_size = 2048;
  start({}, channel_options);
  start_unary("ping");
  Event call = next_event(server_);
  ASSERT_EQ(call.kind, EventKind::kServerCall);
  FinishCommand finish;
  finish.call_id = call.call_id;
  finish.message = "pong";
  finish.trailing_metadata = {{"x-big", std::string(4096, 'b')}};
  context_.calls().find(call.call_id)->finish(std::move(finish));

  Event done = next_event(client_);
  ASSERT_EQ(done.kind, EventKind::kUnaryDone);
  EXPECT_EQ(done.status.code, StatusCode::kResourceExhausted) << done.status.details;
}

TEST_F(TransportConnectionTest, DeadlineSetThroughTheContextsTimersEndsTheCall) {
  start();
  start_unary("ping", {}, /*timeout_seconds=*/0.05);
  Event call = next_event(server_);
  ASSERT_EQ(call.kind, EventKind::kServerCall);
  EXPECT_GT(call.timeout_seconds, 0);  // grpc-timeout went on the wire

  Event done = next_event(client_);  // the server never answers
  ASSERT_EQ(done.kind, EventKind::kUnaryDone);
  EXPECT_EQ(done.status.code, StatusCode::kDeadlineExceeded) << done.status.details;
}


// ---- TLS: the same connections through TlsStream, over real sockets -------------------------

class TransportTlsTest : public TransportConnectionTest {
 protected:
  void SetUp() override {
    ca_ = testing::make_identity("ca", "", nullptr);
    other_ca_ = testing::make_identity("other-ca", "", nullptr);
    server_id_ = testing::make_identity("server", "IP:127.0.0.1", &ca_);
  }
  void TearDown() override {
    TransportConnectionTest::TearDown();
    for (auto* id : {&ca_, &other_ca_, &server_id_}) testing::free_identity(*id);
  }
  ListenerSecurity tls_listener(bool fetch = false) {
    TlsServerConfig config;
    config.key_cert_pairs.push_back({server_id_.key_pem, server_id_.cert_pem});
    ListenerSecurity security;
    security.kind = ListenerSecurity::Kind::kTls;
    security.tls = make_tls_server_context(config).context;
    security.fetch_certificates = fetch;
    return security;
  }
  ChannelOptions trusting(const testing::TestIdentity& root) {
    TlsClientConfig config;
    config.use_system_roots = false;
    config.root_certificates = root.cert_pem;
    ChannelOptions options;
    options.tls = make_tls_client_context(config).context;
    return options;
  }
  Event answer_call(const std::string& response) {
    Event call = next_event(server_);
    if (call.kind != EventKind::kServerCall) return call;
    FinishCommand finish;
    finish.call_id = call.call_id;
    finish.message = response;
    finish.status = {StatusCode::kOk, ""};
    context_.calls().find(call.call_id)->finish(std::move(finish));
    return call;
  }
  static std::string property(const AuthContext& auth, const std::string& name) {
    for (const auto& [k, v] : auth.properties)
      if (k == name) return v;
    return "<absent>";
  }

  testing::TestIdentity ca_, other_ca_, server_id_;
};

TEST_F(TransportTlsTest, LargeMessagesCrossBothWaysAndTheServerSeesTheTlsAuthContext) {
  start({}, trusting(ca_), tls_listener());
  std::string request(1 << 20, 'q'), response(3 << 20, 'r');  // many records, partial writes
  start_unary(request);
  Event call = answer_call(response);
  ASSERT_EQ(call.kind, EventKind::kServerCall) << call.status.details;
  EXPECT_EQ(call.message, request);
  ASSERT_NE(call.auth, nullptr);
  EXPECT_EQ(property(*call.auth, "transport_security_type"), "ssl");
  EXPECT_EQ(property(*call.auth, "security_level"), "TSI_PRIVACY_AND_INTEGRITY");
  Event done = next_event(client_);
  ASSERT_EQ(done.kind, EventKind::kUnaryDone);
  EXPECT_EQ(done.status.code, StatusCode::kOk) << done.status.details;
  EXPECT_EQ(done.message, response);
}

TEST_F(TransportTlsTest, UntrustedServerFailsTheWaitingCallUnavailableWithTheReason) {
  start({}, trusting(other_ca_), tls_listener());
  start_unary("ping");
  Event done = next_event(client_);
  ASSERT_EQ(done.kind, EventKind::kUnaryDone);
  EXPECT_EQ(done.status.code, StatusCode::kUnavailable);
  EXPECT_NE(done.status.details.find("TLS handshake failed: certificate verify failed"), std::string::npos)
      << done.status.details;
  run_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(server_.events.empty()) << "no call may reach the server";
}

TEST_F(TransportTlsTest, PlaintextClientOnATlsPortFailsUnavailable) {
  start({}, {}, tls_listener());
  start_unary("ping");
  Event done = next_event(client_);
  ASSERT_EQ(done.kind, EventKind::kUnaryDone);
  EXPECT_EQ(done.status.code, StatusCode::kUnavailable) << done.status.details;
}

TEST_F(TransportTlsTest, FetchingListenerHoldsTheHandshakeUntilTheApplicationAnswers) {
  start({}, trusting(ca_), tls_listener(/*fetch=*/true));
  start_unary("ping");
  Event fetch = next_event(server_);
  ASSERT_EQ(fetch.kind, EventKind::kCertificateFetch);
  EXPECT_EQ(fetch.server_id, kServerId);
  EXPECT_EQ(fetch.listener, 0u);
  run_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(client_.events.empty()) << "the handshake waits for the answer";
  EXPECT_TRUE(server_.events.empty()) << "one question at a time";
  server_side_->on_certificates({kServerId, 0, nullptr});  // keep the current certificates
  Event call = answer_call("pong");
  ASSERT_EQ(call.kind, EventKind::kServerCall) << call.status.details;
  Event done = next_event(client_);
  EXPECT_EQ(done.status.code, StatusCode::kOk) << done.status.details;
}

}  // namespace
}  // namespace turbogrpc::internal
