#include "turbogrpc/completion_queue.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace turbogrpc {
namespace {
int make_eventfd() {
  int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  return fd;
}
}  // namespace

CompletionQueue::CompletionQueue() : fd_(make_eventfd()) {}

CompletionQueue::~CompletionQueue() { ::close(fd_); }

void CompletionQueue::push(Event event, bool wake) {
  bool signal = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(event));
    // One signal per batch: the consumer drains everything per wake-up.
    if (wake && !signalled_) signal = signalled_ = true;
  }
  if (signal) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(fd_, &one, sizeof(one));
  }
}

std::vector<Event> CompletionQueue::drain() {
  uint64_t value;
  [[maybe_unused]] ssize_t n = ::read(fd_, &value, sizeof(value));  // clear before taking events
  std::vector<Event> out;
  std::lock_guard<std::mutex> lock(mu_);
  out.swap(events_);
  signalled_ = false;
  return out;
}

}  // namespace turbogrpc
