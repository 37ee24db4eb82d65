#include "io/wakeup_fd.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace turbogrpc::internal {

int make_wakeup_fd() {
  int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  return fd;
}

void signal_wakeup_fd(int fd) {
  uint64_t one = 1;
  // EAGAIN would need 2^64-1 unread signals; nothing else can fail on a valid eventfd.
  [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof(one));
}

void clear_wakeup_fd(int fd) {
  uint64_t count;
  [[maybe_unused]] ssize_t n = ::read(fd, &count, sizeof(count));  // EAGAIN: already clear
}

}  // namespace turbogrpc::internal
