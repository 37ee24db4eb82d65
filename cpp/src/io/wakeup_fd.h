// Wakeup fds: the one way a thread wakes the poller or a consumer — an eventfd whose counter
// means "something happened, come and look". Used by the command and completion queues, the
// codec worker and the resolver.
#pragma once

namespace turbogrpc::internal {

// A non-blocking, close-on-exec eventfd; throws std::system_error when none can be made.
int make_wakeup_fd();
// Adds one to the counter: wakes whoever waits on the fd. Never blocks.
void signal_wakeup_fd(int fd);
// Resets the counter, so the fd reads as idle until the next signal.
void clear_wakeup_fd(int fd);

}  // namespace turbogrpc::internal
