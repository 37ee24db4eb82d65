// round_robin on real loopback servers, without Python or an EngineCore: one subchannel per
// address, calls rotating over the READY ones, a new resolution keeping the subchannels of
// addresses still listed while the dropped ones drain, and health watches (A17) keeping calls
// off a backend that is not SERVING.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "io/address.h"
#include "rpc/client_call.h"
#include "transport/channel.h"
#include "transport/health_watch.h"
#include "transport/server.h"
#include "loop_transport_context.h"

namespace turbogrpc::internal {
namespace {

using std::chrono::milliseconds;
using State = ConnectivityState;

constexpr uint64_t kChannelId = 7;
constexpr const char* kMethod = "/test.Echo/Unary";

struct Replica {
  int port = 0;
  std::shared_ptr<CompletionQueue> cq = std::make_shared<CompletionQueue>();
  std::unique_ptr<Server> server;
  int calls = 0;  // answered
  int health = 1;  // what its health service answers a Watch with (SERVING)
  std::vector<uint64_t> watches;  // the Watch calls it holds open
};

class RoundRobinTest : public ::testing::Test {
 protected:
  void start_replicas(size_t count) {
    for (size_t i = 0; i < count; ++i) {
      auto replica = std::make_unique<Replica>();
      SysResult s = listen_socket(resolve_listen_address("127.0.0.1:0").addresses.at(0), &replica->port);
      ASSERT_TRUE(s.ok()) << s.message();
      StartServerCommand command;
      command.server_id = 100 + i;
      command.cq = replica->cq;
      command.listen_fds = {static_cast<int>(s.value)};
      command.unary_request_methods = {kMethod};
      command.security = {ListenerSecurity{}};
      replica->server = std::make_unique<Server>(context_, std::move(command));
      replicas_.push_back(std::move(replica));
    }
  }

  void make_channel(const std::string& target, std::optional<std::string> health_service = std::nullopt,
                    std::shared_ptr<const ServiceConfig> config = nullptr) {
    ChannelOptions options;
    options.health_check_service = health_service;
    options.service_config = std::move(config);
    options.lb_policy = LbPolicy::kRoundRobin;
    options.initial_reconnect_backoff_ms = 100;
    options.max_reconnect_backoff_ms = 200;
    options_ = options;
    channel_ = std::make_unique<Channel>(context_, kChannelId, target, options_);
    context_.route_channel_timers(kChannelId, channel_.get());
  }

  std::string ipv4_list() const {
    std::string target = "ipv4:";
    for (const auto& r : replicas_) target += (target.size() > 5 ? "," : "") + address_of(*r);
    return target;
  }

  static std::string address_of(const Replica& r) { return "127.0.0.1:" + std::to_string(r.port); }

  SocketAddress socket_address(const Replica& r) const {
    return resolve_target_without_lookup(address_of(r)).addresses.at(0);
  }

  void TearDown() override {
    if (channel_) channel_->close();
    for (auto& r : replicas_) r->server->stop(StopPhase::kCloseAll);
    context_.run_once(0);
    EXPECT_EQ(context_.live_connections(), 0u);
  }

  // Starts `count` calls and runs until each has ended; every replica answers what reaches it.
  void call_and_wait(int count) {
    std::vector<uint64_t> ids;
    for (int i = 0; i < count; ++i) {
      StartCallCommand command =
          unary_call_command(kChannelId, context_.new_id(), client_cq_, kMethod, WaitForReady::kNo);
      ids.push_back(command.call_id);
      channel_->start_call(
          std::make_unique<ClientCall>(std::move(command), options_, nullptr, nullptr, context_.calls(), nullptr));
    }
    size_t ended = 0;
    ASSERT_TRUE(run_until([&] {
      for (auto& r : replicas_) answer(*r);
      for (Event& e : client_cq_->drain()) {
        if (e.kind != EventKind::kUnaryDone) continue;
        EXPECT_EQ(e.status.code, StatusCode::kOk) << e.status.details;
        ++ended;
      }
      return ended == ids.size();
    }));
  }

  void answer(Replica& r) {
    for (Event& e : r.cq->drain()) {
      if (e.kind != EventKind::kServerCall) continue;
      if (e.method == "/grpc.health.v1.Health/Watch") {
        r.watches.push_back(e.call_id);
        tell_health(r);
        continue;
      }
      FinishCommand finish;
      finish.call_id = e.call_id;
      finish.message = "pong";
      if (Call* call = context_.calls().find(e.call_id)) call->finish(std::move(finish));
      ++r.calls;
    }
  }

  // Every open Watch on `r` hears its current status.
  void tell_health(Replica& r) {
    for (uint64_t id : r.watches) {
      SendMessageCommand message;
      message.call_id = id;
      message.message = std::string("\x08") + static_cast<char>(r.health);
      if (Call* call = context_.calls().find(id)) call->send(std::move(message));
    }
  }

  template <typename Done>
  bool run_until(Done done, milliseconds limit = milliseconds(5000)) {
    return context_.run_until(done, limit);
  }

  LoopTransportContext context_;
  std::shared_ptr<CompletionQueue> client_cq_ = std::make_shared<CompletionQueue>();
  std::vector<std::unique_ptr<Replica>> replicas_;
  ChannelOptions options_;
  std::unique_ptr<Channel> channel_;
};

TEST_F(RoundRobinTest, ConnectsEveryAddressAndRotatesCallsOverThem) {
  start_replicas(3);
  make_channel(ipv4_list());
  channel_->connect_if_idle();
  ASSERT_TRUE(run_until([&] { return channel_->ready_subchannels() == 3; }));  // every address
  EXPECT_EQ(channel_->state(), State::kReady);
  call_and_wait(30);
  for (const auto& r : replicas_) EXPECT_EQ(r->calls, 10) << "port " << r->port;
}

TEST_F(RoundRobinTest, ANewResolutionKeepsListedAddressesAndDrainsDroppedOnes) {
  start_replicas(4);
  make_channel("replicas.invalid:443");  // never resolves: the test hands the channel its addresses
  channel_->connect_if_idle();
  EXPECT_EQ(channel_->state(), State::kConnecting);  // looking the name up
  ResolvedTarget first;
  first.authority = "replicas.invalid:443";
  for (int i : {0, 1, 2}) first.addresses.push_back(socket_address(*replicas_[i]));
  channel_->on_resolved(first);
  ASSERT_TRUE(run_until([&] { return channel_->ready_subchannels() == 3; }));

  ResolvedTarget second = first;  // replica 1 gone, replica 3 new
  second.addresses = {socket_address(*replicas_[0]), socket_address(*replicas_[2]),
                      socket_address(*replicas_[3])};
  channel_->on_resolved(second);
  // Replica 1's connection drains and closes (both ends); replica 3's opens.
  ASSERT_TRUE(run_until([&] { return channel_->ready_subchannels() == 3 && context_.live_connections() == 6; }));
  EXPECT_EQ(channel_->state(), State::kReady);
  call_and_wait(30);
  EXPECT_EQ(replicas_[1]->calls, 0);
  for (int i : {0, 2, 3}) EXPECT_EQ(replicas_[i]->calls, 10) << "replica " << i;
}

TEST_F(RoundRobinTest, StaysReadyWhileOneAddressIsDownAndSendsItNothing) {
  start_replicas(2);
  make_channel(ipv4_list() + ",127.0.0.1:1");  // port 1: refused
  channel_->connect_if_idle();
  ASSERT_TRUE(run_until([&] { return channel_->ready_subchannels() == 2; }));
  EXPECT_EQ(channel_->state(), State::kReady);
  call_and_wait(20);
  for (const auto& r : replicas_) EXPECT_EQ(r->calls, 10);
}

TEST_F(RoundRobinTest, AHedgeGoesToAReplicaTheCallHasNoAttemptOn) {
  start_replicas(3);
  auto config = std::make_shared<ServiceConfig>();
  auto hedged = std::make_shared<MethodConfig>();
  hedged->hedging = HedgingPolicy{3, 0, {}};  // all three attempts at once
  config->fallback = hedged;
  make_channel(ipv4_list(), std::nullopt, config);
  channel_->connect_if_idle();
  ASSERT_TRUE(run_until([&] { return channel_->ready_subchannels() == 3; }));
  // The hedged call's first attempt, then a plain call on the next replica: by rotation alone
  // the hedged call's third attempt would land where its first is.
  for (const char* who : {"hedged", "plain"}) {
    StartCallCommand command = unary_call_command(kChannelId, context_.new_id(), client_cq_, kMethod);
    command.metadata.emplace_back("who", who);
    const MethodConfig* method = std::string(who) == "hedged" ? channel_->method_config(kMethod) : nullptr;
    channel_->start_call(std::make_unique<ClientCall>(std::move(command), options_, method, nullptr,
                                                      context_.calls(), nullptr));
  }
  std::vector<std::vector<std::string>> seen(replicas_.size());  // "who" of each server call
  size_t calls = 0;
  ASSERT_TRUE(run_until([&] {
    for (size_t i = 0; i < replicas_.size(); ++i) {
      for (Event& e : replicas_[i]->cq->drain()) {
        if (e.kind != EventKind::kServerCall) continue;
        ++calls;
        for (const auto& [key, value] : e.initial_metadata)
          if (key == "who") seen[i].push_back(value);
      }
    }
    return calls == 4;
  }));
  for (size_t i = 0; i < seen.size(); ++i)
    EXPECT_EQ(std::count(seen[i].begin(), seen[i].end(), "hedged"), 1) << "replica " << i;
}

TEST_F(RoundRobinTest, HealthWatchesKeepCallsOffANotServingBackend) {
  start_replicas(3);
  replicas_[1]->health = 2;  // NOT_SERVING
  make_channel(ipv4_list(), "test.Echo");
  channel_->connect_if_idle();
  ASSERT_TRUE(run_until([&] {
    for (auto& r : replicas_) answer(*r);
    return channel_->ready_subchannels() == 2;
  }));
  call_and_wait(30);
  EXPECT_EQ(replicas_[0]->calls, 15);
  EXPECT_EQ(replicas_[1]->calls, 0);
  EXPECT_EQ(replicas_[2]->calls, 15);

  replicas_[1]->health = 1;  // SERVING again: back in the rotation, on the same connection
  tell_health(*replicas_[1]);
  ASSERT_TRUE(run_until([&] { return channel_->ready_subchannels() == 3; }));
  call_and_wait(30);
  EXPECT_EQ(replicas_[1]->calls, 10);

  for (auto& r : replicas_) r->health = 2;  // none serving: TRANSIENT_FAILURE, fail fast
  for (auto& r : replicas_) tell_health(*r);
  ASSERT_TRUE(run_until([&] { return channel_->state() == State::kTransientFailure; }));
}

TEST(HealthMessages, RequestsAndResponsesInProtobufWireFormat) {
  EXPECT_EQ(encode_health_request(""), "");
  EXPECT_EQ(encode_health_request("a.B"), std::string("\x0a\x03" "a.B"));
  std::string long_name(200, 'x');  // a two-byte length varint
  EXPECT_EQ(encode_health_request(long_name).substr(0, 3), std::string("\x0a\xc8\x01"));
  EXPECT_EQ(decode_health_status(""), 0);  // UNKNOWN: proto3's default
  EXPECT_EQ(decode_health_status(std::string("\x08\x01")), 1);
  EXPECT_EQ(decode_health_status(std::string("\x08\x03")), 3);
  // Unknown fields of every wire type are skipped; the last status wins.
  EXPECT_EQ(decode_health_status(std::string("\x10\x05\x1a\x02zz\x08\x02\x25\x00\x00\x00\x00\x08\x01", 15)), 1);
  EXPECT_EQ(decode_health_status(std::string("\x08")), std::nullopt);         // truncated varint
  EXPECT_EQ(decode_health_status(std::string("\x1a\x05zz")), std::nullopt);  // length past the end
  EXPECT_EQ(decode_health_status(std::string("\x0b")), std::nullopt);         // wire type 3 (groups)
  EXPECT_EQ(decode_health_status(std::string("\x09\x00")), std::nullopt);    // fixed64 past the end
  // An enum is an int32: the low 32 bits count, so 2^32 + 1 is SERVING and 2^31 + 1 is not.
  EXPECT_EQ(decode_health_status(std::string("\x08\x81\x80\x80\x80\x10")), 1);
  EXPECT_EQ(decode_health_status(std::string("\x08\x81\x80\x80\x80\x08")), INT32_MIN + 1);
}

}  // namespace
}  // namespace turbogrpc::internal
