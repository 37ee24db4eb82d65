// Resolver: lookups run off the poller thread and come back through the poller; targets that
// need no lookup resolve at once.
#include "io/resolver.h"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

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

// Sleeps until `done` holds or five seconds pass (for states the lookup threads change).
template <typename Pred>
bool wait_until(Pred done) {
  auto give_up = std::chrono::steady_clock::now() + 5s;
  while (!done() && std::chrono::steady_clock::now() < give_up) std::this_thread::sleep_for(1ms);
  return done();
}

// A DNS server that answers only when the test says so, and records who asked and when.
class Gate : public std::enable_shared_from_this<Gate> {
 public:
  Resolver::Lookup lookup() {
    return [self = shared_from_this()](const std::string& target) { return self->answer(target); };
  }
  void release(int lookups) {
    std::lock_guard<std::mutex> lock(mu_);
    permits_ += lookups;
    cv_.notify_all();
  }
  std::vector<std::string> started() {
    std::lock_guard<std::mutex> lock(mu_);
    return started_;
  }
  int finished() {
    std::lock_guard<std::mutex> lock(mu_);
    return finished_;
  }
  int peak() {
    std::lock_guard<std::mutex> lock(mu_);
    return peak_;
  }

 private:
  ResolvedTarget answer(const std::string& target) {
    std::unique_lock<std::mutex> lock(mu_);
    started_.push_back(target);
    peak_ = std::max(peak_, static_cast<int>(started_.size()) - finished_);
    cv_.wait(lock, [&] { return permits_ > 0; });
    --permits_;
    ++finished_;
    return fake_result(target);
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> started_;  // in the order the lookups began
  int finished_ = 0;
  int peak_ = 0;  // most lookups in progress at once
  int permits_ = 0;
};

std::string host(size_t n) { return "host" + std::to_string(n) + ":1"; }

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

TEST(Resolver, ALookupThatOutlivesItsResolverTouchesNothingOfIt) {
  Poller poller;  // outlives the resolver and is polled after it is gone
  auto gate = std::make_shared<Gate>();
  int reports = 0;
  {
    Resolver resolver(poller, [&](uint64_t, ResolvedTarget) { ++reports; }, gate->lookup());
    resolver.start(1, "stuck.example:1");
    ASSERT_TRUE(wait_until([&] { return gate->started().size() == 1; }));
  }
  // The lowest free fd number: the resolver's eventfd's, were it closed under the lookup, which
  // would then write its wakeup into whatever file took the number.
  int probe = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(probe, 0);
  gate->release(1);
  ASSERT_TRUE(wait_until([&] { return gate->finished() == 1; }));
  std::this_thread::sleep_for(20ms);  // let its thread post and exit
  EXPECT_EQ(poller.wait(50), 0) << "a gone resolver's eventfd is still watched and signalled";
  EXPECT_EQ(reports, 0) << "reported after the resolver went";
  uint64_t value = 0;
  EXPECT_LT(::read(probe, &value, sizeof(value)), 0) << "the lookup signalled an fd not its own";
  ::close(probe);
}

TEST(Resolver, RunsAtMostTheCapAtOnceAndTheRestInArrivalOrder) {
  constexpr size_t kCap = Resolver::kMaxConcurrentLookups;
  Poller poller;
  auto gate = std::make_shared<Gate>();
  std::map<uint64_t, std::string> results;
  Resolver resolver(
      poller, [&](uint64_t id, ResolvedTarget r) { results[id] = r.authority; }, gate->lookup());
  for (size_t n = 1; n <= kCap + 3; ++n) resolver.start(n, host(n));

  ASSERT_TRUE(wait_until([&] { return gate->started().size() >= kCap; }));
  std::this_thread::sleep_for(50ms);  // time enough for any lookup beyond the cap to begin
  EXPECT_EQ(gate->started().size(), kCap) << "more lookups running than the cap";

  // Each time one finishes, the oldest waiting lookup starts.
  for (size_t next = kCap + 1; next <= kCap + 3; ++next) {
    gate->release(1);
    ASSERT_TRUE(wait_until([&] { return gate->started().size() == next; }));
    EXPECT_EQ(gate->started().back(), host(next));
  }
  gate->release(static_cast<int>(kCap));
  ASSERT_TRUE(poll_until(poller, [&] { return results.size() == kCap + 3; }));
  EXPECT_EQ(gate->peak(), static_cast<int>(kCap));
  for (size_t n = 1; n <= kCap + 3; ++n) EXPECT_EQ(results[n], host(n));
}

TEST(Resolver, WaitingLookupsNeverStartOnceTheResolverIsGone) {
  constexpr size_t kCap = Resolver::kMaxConcurrentLookups;
  Poller poller;
  auto gate = std::make_shared<Gate>();
  {
    Resolver resolver(poller, [](uint64_t, ResolvedTarget) {}, gate->lookup());
    for (size_t n = 1; n <= kCap + 2; ++n) resolver.start(n, host(n));
    ASSERT_TRUE(wait_until([&] { return gate->started().size() == kCap; }));
  }
  gate->release(static_cast<int>(kCap + 2));
  ASSERT_TRUE(wait_until([&] { return gate->finished() >= static_cast<int>(kCap); }));
  std::this_thread::sleep_for(50ms);  // time enough for a waiting lookup to begin, were it started
  EXPECT_EQ(gate->started().size(), kCap);
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
