// Resolver: host-name lookups off the poller thread. getaddrinfo can block for seconds on a
// slow or unreachable DNS server; on the poller that would stall every connection and deadline
// in the process. Lookups run on short-lived threads, at most kMaxConcurrentLookups at once,
// and come back through an eventfd the poller watches. Targets that need no lookup (numeric
// addresses, unix sockets) never come here: see resolve_target_without_lookup().
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "io/address.h"
#include "io/poller.h"

namespace turbogrpc::internal {

class Resolver final : public IoHandler {
 public:
  using Lookup = std::function<ResolvedTarget(const std::string& target)>;
  using Done = std::function<void(uint64_t requester, ResolvedTarget result)>;

  // A dead DNS server must not cost a thread per channel that is trying to reach it: beyond
  // this many running lookups, the next ones wait their turn (first come, first served) and
  // run on the thread of a lookup that finished.
  static constexpr size_t kMaxConcurrentLookups = 8;

  // `done` runs on the poller thread, from on_io. `lookup` is the blocking call (tests may
  // pass their own); it runs on the lookup threads. Throws std::system_error when the eventfd
  // cannot be made or watched.
  Resolver(Poller& poller, Done done, Lookup lookup = resolve_target);
  ~Resolver() override;  // running lookups finish into the void; waiting ones never start
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Poller thread. Returns at once; `done(requester, result)` follows.
  void start(uint64_t requester, std::string target);

  void on_io(uint32_t epoll_events) override;

 private:
  struct Shared;  // the lookup queue and results: shared with lookup threads that outlive us

  Poller& poller_;
  const Done done_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace turbogrpc::internal
