// CompletionQueue: where the engine leaves finished events for one consumer (one asyncio loop).
// The engine pushes from the poller thread; the consumer watches fd() and drains in batches.
// Wakeups are coalesced: the eventfd is signalled at most once between two drains. An event
// pushed without a wakeup waits for the next drain that something else causes.
#pragma once

#include <functional>
#include <mutex>
#include <vector>

#include "turbogrpc/events.h"

namespace turbogrpc {

class CompletionQueue {
 public:
  CompletionQueue();  // throws std::system_error if no eventfd can be made
  // A queue the engine drains itself (a call it makes on its own behalf, e.g. a health watch):
  // where the eventfd would be signalled, `on_ready` runs instead, on the pushing thread (the
  // poller), at most once between two drains. It must not drain from inside (defer instead).
  explicit CompletionQueue(std::function<void()> on_ready);
  ~CompletionQueue();
  CompletionQueue(const CompletionQueue&) = delete;
  CompletionQueue& operator=(const CompletionQueue&) = delete;

  // A nonblocking eventfd that is readable while events are queued.
  int fd() const { return fd_; }

  // Engine side (any thread). Never blocks on the consumer. `wake` false: nobody is waiting for
  // this event, so it costs the consumer no wakeup; it is delivered, in order, with the next
  // batch (used for acknowledgements of writes the writer did not wait for).
  void push(Event event, bool wake = true);

  // Consumer side: takes every queued event and clears the eventfd.
  std::vector<Event> drain();

  // Makes the eventfd readable without an event (a consumer blocked on it returns; its
  // drain may then be empty): how a blocking consumer is asked to stop. Any thread.
  void wake();

 private:
  const int fd_;  // immutable after construction
  const std::function<void()> on_ready_;  // null: signal fd_

  std::mutex mu_;
  std::vector<Event> events_;  // guarded by mu_
  bool signalled_ = false;     // the eventfd was written since the last drain; guarded by mu_
};

}  // namespace turbogrpc
