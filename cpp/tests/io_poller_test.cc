// Poller: add / modify / remove report what epoll refused, so no caller waits on an fd that
// is not watched; a watched fd reaches its handler.
#include "io/poller.h"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace turbogrpc::internal {
namespace {

struct CountingHandler : IoHandler {
  void on_io(uint32_t epoll_events) override {
    ++calls;
    events = epoll_events;
  }
  int calls = 0;
  uint32_t events = 0;
};

// An eventfd that is readable (or not), closed at the end of the test.
class EventFd {
 public:
  EventFd() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~EventFd() { ::close(fd_); }
  int fd() const { return fd_; }
  void signal() {
    uint64_t one = 1;
    ASSERT_EQ(::write(fd_, &one, sizeof(one)), static_cast<ssize_t>(sizeof(one)));
  }

 private:
  const int fd_;
};

TEST(Poller, AWatchedFdReachesItsHandler) {
  Poller poller;
  EventFd efd;
  CountingHandler handler;
  SysResult added = poller.add(efd.fd(), EPOLLIN, &handler);
  ASSERT_TRUE(added.ok()) << added.message();
  EXPECT_EQ(poller.wait(0), 0);  // nothing to read yet
  efd.signal();
  EXPECT_EQ(poller.wait(1000), 1);
  EXPECT_EQ(handler.calls, 1);
  EXPECT_TRUE(handler.events & EPOLLIN);

  EXPECT_TRUE(poller.modify(efd.fd(), EPOLLOUT, &handler).ok());  // an eventfd is always writable
  EXPECT_EQ(poller.wait(1000), 1);
  EXPECT_TRUE(handler.events & EPOLLOUT);

  EXPECT_TRUE(poller.remove(efd.fd()).ok());
  EXPECT_EQ(poller.wait(0), 0);
  EXPECT_EQ(handler.calls, 2);
}

TEST(Poller, AddingABadFdFails) {
  Poller poller;
  CountingHandler handler;
  SysResult negative = poller.add(-1, EPOLLIN, &handler);
  EXPECT_FALSE(negative.ok());
  EXPECT_EQ(negative.error, EBADF);

  int closed = ::eventfd(0, EFD_CLOEXEC);
  ::close(closed);
  SysResult stale = poller.add(closed, EPOLLIN, &handler);
  EXPECT_FALSE(stale.ok());
  EXPECT_EQ(stale.error, EBADF) << stale.message();
}

TEST(Poller, AddingAnFdTwiceFails) {
  Poller poller;
  EventFd efd;
  CountingHandler first, second;
  ASSERT_TRUE(poller.add(efd.fd(), EPOLLIN, &first).ok());
  SysResult again = poller.add(efd.fd(), EPOLLIN, &second);
  EXPECT_FALSE(again.ok());
  EXPECT_EQ(again.error, EEXIST) << again.message();

  efd.signal();  // the failed add changed nothing: the first handler still gets the fd
  EXPECT_EQ(poller.wait(1000), 1);
  EXPECT_EQ(first.calls, 1);
  EXPECT_EQ(second.calls, 0);
}

TEST(Poller, ModifyingOrRemovingAnUnwatchedFdFails) {
  Poller poller;
  EventFd efd;
  CountingHandler handler;
  SysResult modified = poller.modify(efd.fd(), EPOLLIN, &handler);
  EXPECT_FALSE(modified.ok());
  EXPECT_EQ(modified.error, ENOENT) << modified.message();
  SysResult removed = poller.remove(efd.fd());
  EXPECT_FALSE(removed.ok());
  EXPECT_EQ(removed.error, ENOENT) << removed.message();

  efd.signal();  // and the failed modify did not start watching it
  EXPECT_EQ(poller.wait(0), 0);
  EXPECT_EQ(handler.calls, 0);
}

}  // namespace
}  // namespace turbogrpc::internal
