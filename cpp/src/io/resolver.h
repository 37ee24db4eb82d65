// Resolver: host-name lookups off the poller thread. getaddrinfo can block for seconds on a
// slow or unreachable DNS server; on the poller that would stall every connection and deadline
// in the process. Each lookup runs on its own short-lived thread and comes back through an
// eventfd the poller watches. Targets that need no lookup (numeric addresses, unix sockets)
// never come here: see resolve_target_without_lookup().
#pragma once

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

  // `done` runs on the poller thread, from on_io. `lookup` is the blocking call (tests may
  // pass their own); it runs on the lookup threads.
  Resolver(Poller& poller, Done done, Lookup lookup = resolve_target);
  ~Resolver() override;  // lookups still running finish into the void
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Poller thread. Returns at once; `done(requester, result)` follows.
  void start(uint64_t requester, std::string target);

  void on_io(uint32_t epoll_events) override;

 private:
  struct Mailbox;  // shared with the lookup threads, which may outlive the Resolver

  Poller& poller_;
  const Done done_;
  const Lookup lookup_;
  std::shared_ptr<Mailbox> mailbox_;
};

}  // namespace turbogrpc::internal
