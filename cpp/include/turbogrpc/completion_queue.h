// CompletionQueue: where the engine leaves finished events for one consumer (one asyncio loop).
// The engine pushes from the poller thread; the consumer watches fd() and drains in batches.
// Wakeups are coalesced: the eventfd is signalled only on the empty → non-empty transition.
#pragma once

#include <mutex>
#include <vector>

#include "turbogrpc/events.h"

namespace turbogrpc {

class CompletionQueue {
 public:
  CompletionQueue();  // throws std::system_error if no eventfd can be made
  ~CompletionQueue();
  CompletionQueue(const CompletionQueue&) = delete;
  CompletionQueue& operator=(const CompletionQueue&) = delete;

  // A nonblocking eventfd that is readable while events are queued.
  int fd() const { return fd_; }

  // Engine side (any thread). Never blocks on the consumer.
  void push(Event event);

  // Consumer side: takes every queued event and clears the eventfd.
  std::vector<Event> drain();

 private:
  const int fd_;  // immutable after construction

  std::mutex mu_;
  std::vector<Event> events_;  // guarded by mu_
};

}  // namespace turbogrpc
