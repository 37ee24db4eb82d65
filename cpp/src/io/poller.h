// Poller: the epoll loop of the engine's I/O thread. Knows file descriptors and readiness,
// nothing of HTTP/2. Owned and used by the poller thread only.
#pragma once

#include <sys/epoll.h>

#include <chrono>
#include <cstdint>

#include "io/sys_error.h"

namespace turbogrpc::internal {

// Implemented by everything that owns a watched fd (connections, listeners, the wakeup fd).
class IoHandler {
 public:
  virtual ~IoHandler() = default;
  virtual void on_io(uint32_t epoll_events) = 0;
};

class Poller {
 public:
  Poller();  // throws std::system_error without an epoll fd
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  // epoll_ctl ADD / MOD / DEL. A failure (bad fd, already watched, not watched, no memory for
  // another watch) comes back with its errno and leaves the poller as it was: the caller decides
  // what an fd it cannot watch means, since it would otherwise wait forever for that fd.
  SysResult add(int fd, uint32_t events, IoHandler* handler);
  SysResult modify(int fd, uint32_t events, IoHandler* handler);
  SysResult remove(int fd);

  // Waits up to timeout_ms (-1 = forever, 0 = just look) and calls on_io for each ready fd;
  // returns how many were ready. Handlers must not be destroyed while wait() runs: close them,
  // free them afterwards.
  int wait(int timeout_ms);
  // The same with a sub-millisecond timeout (epoll_pwait2).
  int wait_for(std::chrono::nanoseconds timeout);

 private:
  const int epoll_fd_;  // immutable after construction
};

}  // namespace turbogrpc::internal
