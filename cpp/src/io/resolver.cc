#include "io/resolver.h"

#include <unistd.h>

#include <deque>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "io/wakeup_fd.h"

namespace turbogrpc::internal {

struct Resolver::Shared {
  explicit Shared(Lookup lookup_fn)
      : lookup(std::move(lookup_fn)), fd(make_wakeup_fd()) {}
  ~Shared() { ::close(fd); }

  // A lookup thread's whole life: its own lookup, then the oldest waiting one, and so on until
  // none is waiting. Reusing the thread keeps the number of lookups in flight at the cap.
  void run(uint64_t requester, std::string target) {
    for (;;) {
      ResolvedTarget result = lookup(target);
      bool reported, more;
      {
        std::lock_guard<std::mutex> lock(mu);
        reported = !closed;
        if (reported) finished.emplace_back(requester, std::move(result));
        more = !closed && !waiting.empty();
        if (more) {
          requester = waiting.front().first;
          target = std::move(waiting.front().second);
          waiting.pop_front();
        } else {
          --running;
        }
      }
      if (reported) wake_poller();
      if (!more) return;
    }
  }

  void post(uint64_t requester, ResolvedTarget result) {
    {
      std::lock_guard<std::mutex> lock(mu);
      finished.emplace_back(requester, std::move(result));
    }
    wake_poller();
  }

  void wake_poller() { signal_wakeup_fd(fd); }

  const Lookup lookup;  // immutable
  const int fd;         // immutable: the eventfd the poller watches

  std::mutex mu;
  // Guarded by mu.
  std::deque<std::pair<uint64_t, std::string>> waiting;  // beyond the cap, oldest first
  size_t running = 0;   // lookup threads alive
  bool closed = false;  // the Resolver is gone: report nothing, start nothing
  std::vector<std::pair<uint64_t, ResolvedTarget>> finished;
};

Resolver::Resolver(Poller& poller, Done done, Lookup lookup)
    : poller_(poller),
      done_(std::move(done)),
      shared_(std::make_shared<Shared>(std::move(lookup))) {
  SysResult watched = poller_.add(shared_->fd, EPOLLIN, this);
  if (!watched.ok()) {
    throw std::system_error(watched.error, std::generic_category(), "epoll_ctl(resolver eventfd)");
  }
}

Resolver::~Resolver() {
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->closed = true;
    shared_->waiting.clear();
  }
  // The constructor watched this fd, so removing it fails only on a bug; nothing to undo then.
  poller_.remove(shared_->fd);
}

void Resolver::start(uint64_t requester, std::string target) {
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    if (shared_->running >= kMaxConcurrentLookups) {
      shared_->waiting.emplace_back(requester, std::move(target));
      return;  // a running lookup's thread takes it when it finishes
    }
    ++shared_->running;
  }
  // Detached: a lookup stuck in DNS must not hold up engine shutdown or process exit.
  try {
    std::thread([shared = shared_, requester, target]() mutable {
      shared->run(requester, std::move(target));
    }).detach();
  } catch (const std::system_error& e) {  // no thread to be had: report it as this lookup's failure
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      --shared_->running;
    }
    ResolvedTarget failed;
    failed.error = "cannot resolve '" + target + "': no thread for the lookup (" + e.what() + ")";
    shared_->post(requester, std::move(failed));
  }
}

void Resolver::on_io(uint32_t) {
  clear_wakeup_fd(shared_->fd);
  std::vector<std::pair<uint64_t, ResolvedTarget>> finished;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    finished.swap(shared_->finished);
  }
  for (auto& [requester, result] : finished) done_(requester, std::move(result));
}

}  // namespace turbogrpc::internal
