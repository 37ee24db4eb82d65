#include "turbogrpc/completion_queue.h"

#include <unistd.h>

#include "io/wakeup_fd.h"

namespace turbogrpc {

CompletionQueue::CompletionQueue() : fd_(internal::make_wakeup_fd()) {}

CompletionQueue::CompletionQueue(std::function<void()> on_ready)
    : fd_(internal::make_wakeup_fd()), on_ready_(std::move(on_ready)) {}

CompletionQueue::~CompletionQueue() { ::close(fd_); }

void CompletionQueue::push(Event event, bool wake) {
  bool signal = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(event));
    // One signal per batch: the consumer drains everything per wake-up.
    if (wake && !signalled_) signal = signalled_ = true;
  }
  if (signal && on_ready_) {
    on_ready_();
  } else if (signal) {
    internal::signal_wakeup_fd(fd_);
  }
}

std::vector<Event> CompletionQueue::drain() {
  internal::clear_wakeup_fd(fd_);  // clear before taking events
  std::vector<Event> out;
  std::lock_guard<std::mutex> lock(mu_);
  out.swap(events_);
  signalled_ = false;
  return out;
}

void CompletionQueue::wake() {
  bool signal = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!signalled_) signal = signalled_ = true;
  }
  if (signal) internal::signal_wakeup_fd(fd_);
}

}  // namespace turbogrpc
