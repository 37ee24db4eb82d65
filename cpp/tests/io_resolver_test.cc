// Resolver: lookups run off the poller thread and come back through the poller; targets that
// need no lookup resolve at once.
#include "io/resolver.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <thread>

namespace turbogrpc::internal {
namespace {

using namespace std::chrono_literals;

ResolvedTarget fake_result(const std::string& target) {
  ResolvedTarget r;
  r.authority = target;
  return r;
}

// Polls until `done` holds or two seconds pass.
template <typename Pred>
bool poll_until(Poller& poller, Pred done) {
  auto give_up = std::chrono::steady_clock::now() + 2s;
  while (!done() && std::chrono::steady_clock::now() < give_up) poller.wait(50);
  return done();
}

TEST(Resolver, StartReturnsWhileTheLookupBlocks) {
  Poller poller;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::map<uint64_t, std::string> results;
  Resolver resolver(
      poller, [&](uint64_t id, ResolvedTarget r) { results[id] = r.authority; },
      [released](const std::string& target) {
        released.wait();  // a DNS server that takes its time
        return fake_result(target);
      });
  auto before = std::chrono::steady_clock::now();
  resolver.start(7, "slow.example:1");
  EXPECT_LT(std::chrono::steady_clock::now() - before, 100ms);
  poller.wait(50);
  EXPECT_TRUE(results.empty()) << "reported before the lookup finished";
  release.set_value();
  ASSERT_TRUE(poll_until(poller, [&] { return results.size() == 1; }));
  EXPECT_EQ(results[7], "slow.example:1");
}

TEST(Resolver, ParallelLookupsEachReportOnce) {
  Poller poller;
  std::map<uint64_t, std::string> results;
  int reports = 0;
  Resolver resolver(
      poller,
      [&](uint64_t id, ResolvedTarget r) {
        results[id] = r.authority;
        ++reports;
      },
      [](const std::string& target) {
        std::this_thread::sleep_for(10ms);
        return fake_result(target);
      });
  for (uint64_t id = 1; id <= 5; ++id) resolver.start(id, "host" + std::to_string(id) + ":1");
  ASSERT_TRUE(poll_until(poller, [&] { return reports == 5; }));
  poller.wait(50);
  EXPECT_EQ(reports, 5);
  for (uint64_t id = 1; id <= 5; ++id) EXPECT_EQ(results[id], "host" + std::to_string(id) + ":1");
}

TEST(Resolver, OutlivedByALookupThatIsStillRunning) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> returned{false};
  {
    Poller poller;
    Resolver resolver(
        poller, [](uint64_t, ResolvedTarget) { FAIL() << "reported after the resolver went"; },
        [released, &returned](const std::string& target) {
          released.wait();
          returned = true;
          return fake_result(target);
        });
    resolver.start(1, "stuck.example:1");
  }
  release.set_value();  // the lookup ends after its resolver: it must post into the void safely
  auto give_up = std::chrono::steady_clock::now() + 2s;
  while (!returned && std::chrono::steady_clock::now() < give_up) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(returned);
  std::this_thread::sleep_for(20ms);  // let it post and exit
}

TEST(Resolver, RealLookupOfLocalhost) {
  Poller poller;
  bool done = false;
  ResolvedTarget got;
  Resolver resolver(poller, [&](uint64_t, ResolvedTarget r) {
    got = std::move(r);
    done = true;
  });
  resolver.start(1, "localhost:5555");
  ASSERT_TRUE(poll_until(poller, [&] { return done; }));
  EXPECT_TRUE(got.error.empty()) << got.error;
  EXPECT_FALSE(got.addresses.empty());
  EXPECT_EQ(got.authority, "localhost:5555");
}

TEST(ResolveWithoutLookup, NumericAndUnixTargetsResolveAtOnce) {
  for (const char* target : {"127.0.0.1:80", "[::1]:80", "ipv4:10.0.0.1:5", "unix:/tmp/x.sock",
                             "dns:///192.168.1.1:443"}) {
    ResolvedTarget r = resolve_target_without_lookup(target);
    EXPECT_FALSE(r.needs_lookup) << target;
    EXPECT_TRUE(r.error.empty()) << target << ": " << r.error;
    EXPECT_EQ(r.addresses.size(), 1u) << target;
  }
}

TEST(ResolveWithoutLookup, HostNamesAreLeftToTheResolver) {
  for (const char* target : {"localhost:80", "dns:///example.com:443", "some-host"}) {
    ResolvedTarget r = resolve_target_without_lookup(target);
    EXPECT_TRUE(r.needs_lookup) << target;
    EXPECT_TRUE(r.addresses.empty()) << target;
  }
  ResolvedTarget malformed = resolve_target_without_lookup("[::1");
  EXPECT_FALSE(malformed.needs_lookup);
  EXPECT_FALSE(malformed.error.empty());
}

}  // namespace
}  // namespace turbogrpc::internal
