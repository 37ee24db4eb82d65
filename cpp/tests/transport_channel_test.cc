// The channel's connectivity state machine on real loopback sockets, without Python or an
// EngineCore: IDLE → CONNECTING → TRANSIENT_FAILURE (sticky while it retries) → READY → IDLE,
// fail-fast and wait-for-ready calls, the connect deadline, the idle timeout, watchers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "io/address.h"
#include "rpc/client_call.h"
#include "transport/channel.h"
#include "transport/server.h"
#include "loop_transport_context.h"

namespace turbogrpc::internal {
namespace {

using std::chrono::milliseconds;
using State = ConnectivityState;

constexpr uint64_t kChannelId = 7;
constexpr uint64_t kServerId = 8;
constexpr const char* kMethod = "/test.Echo/Unary";

// A port nobody listens on (for now): bound, then closed.
int free_port() {
  int port = 0;
  SysResult s = listen_socket(resolve_listen_address("127.0.0.1:0").addresses.at(0), &port);
  EXPECT_TRUE(s.ok()) << s.message();
  close(static_cast<int>(s.value));
  return port;
}

int listen_on(int port) {
  SysResult s = listen_socket(resolve_listen_address("127.0.0.1:" + std::to_string(port)).addresses.at(0),
                              &port);
  EXPECT_TRUE(s.ok()) << s.message();
  return static_cast<int>(s.value);
}

class ChannelStateTest : public ::testing::Test {
 protected:
  void make_channel(int port, ChannelOptions options = fast_options()) {
    make_channel_to("127.0.0.1:" + std::to_string(port), options);
  }
  void make_channel_to(const std::string& target, ChannelOptions options = fast_options()) {
    options_ = options;
    channel_ = std::make_unique<Channel>(context_, kChannelId, target, options_, cell_);
    context_.route_channel_timers(kChannelId, channel_.get());
  }

  static ChannelOptions fast_options() {
    ChannelOptions options;
    options.initial_reconnect_backoff_ms = 100;
    options.max_reconnect_backoff_ms = 200;
    options.min_reconnect_backoff_ms = 300;
    return options;
  }

  void start_server(int port) {
    StartServerCommand command;
    command.server_id = kServerId;
    command.cq = server_cq_;
    command.listen_fds = {listen_on(port)};
    command.unary_request_methods = {kMethod};
    command.security = {ListenerSecurity{}};
    server_ = std::make_unique<Server>(context_, std::move(command));
  }

  void stop_server() {
    server_->stop(StopPhase::kCloseAll);
    context_.run_once(0);
    server_.reset();
  }

  void TearDown() override {
    if (channel_) channel_->close();
    if (server_) server_->stop(StopPhase::kCloseAll);
    context_.run_once(0);
    EXPECT_EQ(context_.live_connections(), 0u);
  }

  uint64_t start_unary(bool wait_for_ready) {
    StartCallCommand command = unary_call_command(
        kChannelId, context_.new_id(), client_cq_, kMethod,
        wait_for_ready ? WaitForReady::kYes : WaitForReady::kNo);
    uint64_t id = command.call_id;
    channel_->start_call(std::make_unique<ClientCall>(std::move(command), options_, nullptr, nullptr, context_.calls(), nullptr));
    return id;
  }

  // Runs the poller until `done()` or `limit`; true if done.
  template <typename Done>
  bool run_until(Done done, milliseconds limit = milliseconds(5000)) {
    return context_.run_until([&] {
      for (Event& e : server_cq_->drain()) server_events_.push_back(std::move(e));
      return done();
    }, limit);
  }

  // Every state the channel reports to a watcher that re-arms itself, until `done`.
  template <typename Done>
  std::vector<State> watch_states(Done done, milliseconds limit) {
    std::vector<State> seen{channel_->state()};
    auto cq = std::make_shared<CompletionQueue>();
    channel_->watch(cq, 1, seen.back());
    run_until([&] {
      for (Event& e : cq->drain()) {
        EXPECT_EQ(e.kind, EventKind::kConnectivity);
        seen.push_back(e.connectivity);
        if (e.connectivity != State::kShutdown) channel_->watch(cq, 1, e.connectivity);
      }
      return done();
    }, limit);
    return seen;
  }

  // The call's event, if it has arrived (takes what the queue holds first).
  const Event* client_event(uint64_t call_id) {
    for (Event& e : client_cq_->drain()) client_events_.push_back(std::move(e));
    for (const Event& e : client_events_) {
      if (e.call_id == call_id) return &e;
    }
    return nullptr;
  }

  // Answers every call that reached the server with OK.
  void answer_server_calls() {
    for (Event& e : server_events_) {
      if (e.kind != EventKind::kServerCall) continue;
      FinishCommand finish;
      finish.call_id = e.call_id;
      finish.message = "pong";
      if (Call* call = context_.calls().find(e.call_id)) call->finish(std::move(finish));
    }
    server_events_.clear();
  }

  LoopTransportContext context_;
  std::shared_ptr<ChannelStateCell> cell_ = std::make_shared<ChannelStateCell>();
  std::shared_ptr<CompletionQueue> client_cq_ = std::make_shared<CompletionQueue>();
  std::shared_ptr<CompletionQueue> server_cq_ = std::make_shared<CompletionQueue>();
  std::vector<Event> client_events_;
  std::vector<Event> server_events_;
  ChannelOptions options_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Channel> channel_;
};

TEST_F(ChannelStateTest, StartsIdleAndConnectsOnlyWhenAsked) {
  make_channel(free_port());
  EXPECT_EQ(channel_->state(), State::kIdle);
  EXPECT_EQ(cell_->state.load(), State::kIdle);
  context_.run_once(50);
  EXPECT_EQ(channel_->state(), State::kIdle);  // nothing dials an unused channel
  channel_->connect_if_idle();
  EXPECT_EQ(channel_->state(), State::kConnecting);
}

TEST_F(ChannelStateTest, NoServerMeansTransientFailureWhichStaysWhileRetrying) {
  make_channel(free_port());
  channel_->connect_if_idle();
  std::vector<State> seen = watch_states([] { return false; }, milliseconds(700));
  // CONNECTING was already the state when watching began; retries (every ~100-200 ms) do not
  // go back to CONNECTING: sticky TRANSIENT_FAILURE, as grpc's pick_first.
  EXPECT_EQ(seen, (std::vector<State>{State::kConnecting, State::kTransientFailure}));
  EXPECT_EQ(cell_->state.load(), State::kTransientFailure);
}

TEST_F(ChannelStateTest, FailFastCallsFailInTransientFailureAndWaitForReadyCallsWait) {
  int port = free_port();
  make_channel(port);
  uint64_t waiting = start_unary(/*wait_for_ready=*/true);
  uint64_t failing = start_unary(/*wait_for_ready=*/false);  // pending while CONNECTING
  ASSERT_TRUE(run_until([&] { return client_event(failing) != nullptr; }));
  EXPECT_EQ(client_event(failing)->status.code, StatusCode::kUnavailable);
  EXPECT_NE(client_event(failing)->status.details.find("failed to connect to all addresses of '127.0.0.1:"),
            std::string::npos) << client_event(failing)->status.details;
  EXPECT_EQ(channel_->state(), State::kTransientFailure);

  uint64_t late = start_unary(false);  // in TRANSIENT_FAILURE: fails at once
  ASSERT_NE(client_event(late), nullptr);  // no poller run needed
  EXPECT_EQ(client_event(late)->status.code, StatusCode::kUnavailable);

  EXPECT_EQ(client_event(waiting), nullptr);  // still waiting
  start_server(port);
  ASSERT_TRUE(run_until([&] {
    answer_server_calls();
    return client_event(waiting) != nullptr;
  }));
  EXPECT_EQ(client_event(waiting)->status.code, StatusCode::kOk) << client_event(waiting)->status.details;
  EXPECT_EQ(channel_->state(), State::kReady);
}

// Local credentials: an address that is not local is never dialled; the call says why.
TEST_F(ChannelStateTest, LocalCredentialsDialOnlyLocalAddresses) {
  ChannelOptions options = fast_options();
  options.local_connection = LocalConnection::kLoopbackTcp;
  make_channel_to("ipv4:192.0.2.1:1", options);  // TEST-NET-1: not loopback
  uint64_t call = start_unary(false);
  ASSERT_TRUE(run_until([&] { return client_event(call) != nullptr; }));
  EXPECT_EQ(client_event(call)->status.code, StatusCode::kUnavailable);
  EXPECT_NE(client_event(call)->status.details.find(
                "local credentials (LOCAL_TCP): ipv4:192.0.2.1:1 is not a loopback address"),
            std::string::npos) << client_event(call)->status.details;
  EXPECT_EQ(context_.live_connections(), 0u);  // nothing was dialled
}

TEST_F(ChannelStateTest, LocalCredentialsSkipNonLocalAddressesOfATarget) {
  int port = free_port();
  start_server(port);
  ChannelOptions options = fast_options();
  options.local_connection = LocalConnection::kLoopbackTcp;
  make_channel_to("ipv4:192.0.2.1:1,127.0.0.1:" + std::to_string(port), options);
  uint64_t call = start_unary(false);
  ASSERT_TRUE(run_until([&] {
    answer_server_calls();
    return client_event(call) != nullptr;
  }));
  EXPECT_EQ(client_event(call)->status.code, StatusCode::kOk) << client_event(call)->status.details;
}

TEST_F(ChannelStateTest, UdsLocalCredentialsRefuseATcpAddress) {
  int port = free_port();
  start_server(port);
  ChannelOptions options = fast_options();
  options.local_connection = LocalConnection::kUds;
  make_channel(port, options);
  uint64_t call = start_unary(false);
  ASSERT_TRUE(run_until([&] { return client_event(call) != nullptr; }));
  EXPECT_EQ(client_event(call)->status.code, StatusCode::kUnavailable);
  EXPECT_NE(client_event(call)->status.details.find("local credentials (UDS): ipv4:127.0.0.1:"),
            std::string::npos) << client_event(call)->status.details;
}

TEST_F(ChannelStateTest, RetriesWithoutCallsAndBecomesReadyWhenTheServerComesUp) {
  int port = free_port();
  make_channel(port);
  channel_->connect_if_idle();
  ASSERT_TRUE(run_until([&] { return channel_->state() == State::kTransientFailure; }));
  start_server(port);
  std::vector<State> seen = watch_states([&] { return channel_->state() == State::kReady; },
                                         milliseconds(3000));
  EXPECT_EQ(seen, (std::vector<State>{State::kTransientFailure, State::kReady}));
}

TEST_F(ChannelStateTest, ServerGoingAwayMakesAReadyChannelIdle) {
  int port = free_port();
  start_server(port);
  make_channel(port);
  channel_->connect_if_idle();
  ASSERT_TRUE(run_until([&] { return channel_->state() == State::kReady; }));
  stop_server();
  ASSERT_TRUE(run_until([&] { return channel_->state() == State::kIdle; }));
  context_.run_once(300);
  EXPECT_EQ(channel_->state(), State::kIdle);  // no call: it does not reconnect by itself
}

TEST_F(ChannelStateTest, APortThatNeverSpeaksHttp2FailsAtTheConnectDeadline) {
  int port = free_port();
  int silent = listen_on(port);  // accepts (in the kernel's backlog) and never answers
  make_channel(port);
  uint64_t call = start_unary(false);
  auto began = Clock::now();
  ASSERT_TRUE(run_until([&] { return client_event(call) != nullptr; }));
  auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - began);
  EXPECT_GE(took.count(), 250);  // min_reconnect_backoff_ms = 300 is the attempt's time
  EXPECT_LT(took.count(), 2000);
  EXPECT_NE(client_event(call)->status.details.find("no HTTP/2 SETTINGS from the server in time"),
            std::string::npos) << client_event(call)->status.details;
  EXPECT_EQ(channel_->state(), State::kTransientFailure);
  close(silent);
}

SocketAddress loopback(int port) {
  return resolve_listen_address("127.0.0.1:" + std::to_string(port)).addresses.at(0);
}

// "ipv4:127.0.0.1:<port>,..." for each port, in order.
std::string ipv4_list(std::initializer_list<int> ports) {
  std::string target = "ipv4:";
  for (int port : ports) target += (target.size() > 5 ? ",127.0.0.1:" : "127.0.0.1:") + std::to_string(port);
  return target;
}

// A loopback port whose connection attempts neither succeed nor fail: a listener with a backlog
// of 0, its one queue slot taken by `filler`, that never accepts (the kernel drops later SYNs).
struct BlackHole {
  int port = free_port();
  int listener = listen_socket_with_backlog(port);
  SysResult filler = start_connect(loopback(port));
  ~BlackHole() {
    if (filler.ok()) close(static_cast<int>(filler.value));
    close(listener);
  }
  static int listen_socket_with_backlog(int port) {
    int fd = listen_on(port);
    ::listen(fd, 0);  // shrink the backlog: one connection fills the queue
    return fd;
  }
};

TEST_F(ChannelStateTest, HappyEyeballsDialsTheNextAddressWhenOneIsSilent) {
  BlackHole hole;
  ASSERT_TRUE(hole.filler.ok());
  usleep(50'000);  // the filler's handshake completes and takes the queue's slot
  int port = free_port();
  start_server(port);
  ChannelOptions options = fast_options();
  options.min_reconnect_backoff_ms = 20'000;  // without Happy Eyeballs: 20 s on the silent one
  make_channel_to(ipv4_list({hole.port, port}), options);
  auto began = Clock::now();
  channel_->connect_if_idle();
  ASSERT_TRUE(run_until([&] { return channel_->state() == State::kReady; }));
  auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - began).count();
  EXPECT_GE(took, 240);  // the default delay, 250 ms
  EXPECT_LT(took, 2000);
  context_.run_once(0);
  EXPECT_EQ(context_.live_connections(), 2u);  // the winner and the server's end: the silent attempt is closed
}

TEST_F(ChannelStateTest, HappyEyeballsGivesUpWhenEveryAddressFailsIncludingEarlierOnes) {
  BlackHole first, second;
  usleep(50'000);
  make_channel_to(ipv4_list({first.port, second.port}));
  auto began = Clock::now();
  channel_->connect_if_idle();
  // Both dialled (the second after 250 ms), both time out at the pass's connect deadline.
  ASSERT_TRUE(run_until([&] { return channel_->state() == State::kTransientFailure; }));
  auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - began).count();
  EXPECT_GE(took, 250);
  EXPECT_LT(took, 2000);
}

TEST_F(ChannelStateTest, IdleTimeoutClosesTheConnectionAndTheNextCallReconnects) {
  int port = free_port();
  start_server(port);
  ChannelOptions options = fast_options();
  options.idle_timeout_ms = 150;
  make_channel(port, options);
  uint64_t first = start_unary(false);
  ASSERT_TRUE(run_until([&] {
    answer_server_calls();
    return client_event(first) != nullptr;
  }));
  EXPECT_EQ(channel_->state(), State::kReady);
  ASSERT_TRUE(run_until([&] { return channel_->state() == State::kIdle; }, milliseconds(2000)));
  ASSERT_TRUE(run_until([&] { return context_.live_connections() == 1; }));  // the server's is gone too

  uint64_t second = start_unary(false);
  EXPECT_EQ(channel_->state(), State::kConnecting);
  ASSERT_TRUE(run_until([&] {
    answer_server_calls();
    return client_event(second) != nullptr;
  }));
  EXPECT_EQ(client_event(second)->status.code, StatusCode::kOk);
}

TEST_F(ChannelStateTest, ClosingTheChannelEndsItsCallsInFlightCancelled) {
  int port = free_port();
  start_server(port);
  make_channel(port);
  uint64_t call = start_unary(false);
  ASSERT_TRUE(run_until([&] { return channel_->state() == State::kReady; }));
  ASSERT_TRUE(run_until([&] { return context_.live_connections() == 2; }));  // the server has it
  channel_->close();
  ASSERT_TRUE(run_until([&] { return client_event(call) != nullptr; }));
  EXPECT_EQ(client_event(call)->status.code, StatusCode::kCancelled);
  EXPECT_EQ(client_event(call)->status.details, "Channel closed!");
}

TEST_F(ChannelStateTest, WatchersHearOfTheNextChangeOnceAndOfShutdown) {
  make_channel(free_port());
  auto cq = std::make_shared<CompletionQueue>();
  channel_->watch(cq, 11, State::kReady);  // not the state: answered at once
  channel_->watch(cq, 12, State::kIdle);   // waits
  std::vector<Event> events = cq->drain();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].call_id, 11u);
  EXPECT_EQ(events[0].connectivity, State::kIdle);

  channel_->close();
  events = cq->drain();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].call_id, 12u);
  EXPECT_EQ(events[0].connectivity, State::kShutdown);
  EXPECT_EQ(cell_->state.load(), State::kShutdown);
  uint64_t refused = start_unary(true);
  ASSERT_NE(client_event(refused), nullptr);
  EXPECT_EQ(client_event(refused)->status.code, StatusCode::kCancelled);
}

}  // namespace
}  // namespace turbogrpc::internal
