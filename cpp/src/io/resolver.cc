#include "io/resolver.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace turbogrpc::internal {

struct Resolver::Mailbox {
  Mailbox() : fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  }
  ~Mailbox() { ::close(fd); }

  void post(uint64_t requester, ResolvedTarget result) {
    {
      std::lock_guard<std::mutex> lock(mu);
      finished.emplace_back(requester, std::move(result));
    }
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof(one));
  }

  const int fd;
  std::mutex mu;
  std::vector<std::pair<uint64_t, ResolvedTarget>> finished;  // guarded by mu
};

Resolver::Resolver(Poller& poller, Done done, Lookup lookup)
    : poller_(poller), done_(std::move(done)), lookup_(std::move(lookup)),
      mailbox_(std::make_shared<Mailbox>()) {
  poller_.add(mailbox_->fd, EPOLLIN, this);
}

Resolver::~Resolver() { poller_.remove(mailbox_->fd); }

void Resolver::start(uint64_t requester, std::string target) {
  // Detached: a lookup stuck in DNS must not hold up engine shutdown or process exit.
  try {
    std::thread([mailbox = mailbox_, lookup = lookup_, requester, target] {
      mailbox->post(requester, lookup(target));
    }).detach();
  } catch (const std::system_error& e) {  // no thread to be had: report it as this lookup's failure
    ResolvedTarget failed;
    failed.error = "cannot resolve '" + target + "': no thread for the lookup (" + e.what() + ")";
    mailbox_->post(requester, std::move(failed));
  }
}

void Resolver::on_io(uint32_t) {
  uint64_t count;
  [[maybe_unused]] ssize_t n = ::read(mailbox_->fd, &count, sizeof(count));
  std::vector<std::pair<uint64_t, ResolvedTarget>> finished;
  {
    std::lock_guard<std::mutex> lock(mailbox_->mu);
    finished.swap(mailbox_->finished);
  }
  for (auto& [requester, result] : finished) done_(requester, std::move(result));
}

}  // namespace turbogrpc::internal
