#include "io/poller.h"

#include <unistd.h>

#include <system_error>

#include "io/sys_error.h"

namespace turbogrpc::internal {

Poller::Poller() : epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (epoll_fd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
}

Poller::~Poller() { ::close(epoll_fd_); }

namespace {
SysResult control(int epoll_fd, int op, int fd, uint32_t events, IoHandler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  return sys_call([&] { return ::epoll_ctl(epoll_fd, op, fd, &ev); });
}

constexpr int kMaxEvents = 256;

int dispatch(const epoll_event* events, const SysResult& n) {
  if (!n.ok()) return 0;
  for (long i = 0; i < n.value; ++i) {
    static_cast<IoHandler*>(events[i].data.ptr)->on_io(events[i].events);
  }
  return static_cast<int>(n.value);
}
}  // namespace

SysResult Poller::add(int fd, uint32_t events, IoHandler* handler) {
  return control(epoll_fd_, EPOLL_CTL_ADD, fd, events, handler);
}

SysResult Poller::modify(int fd, uint32_t events, IoHandler* handler) {
  return control(epoll_fd_, EPOLL_CTL_MOD, fd, events, handler);
}

SysResult Poller::remove(int fd) { return control(epoll_fd_, EPOLL_CTL_DEL, fd, 0, nullptr); }

int Poller::wait(int timeout_ms) {
  epoll_event events[kMaxEvents];
  return dispatch(events, sys_call([&] {
                    return ::epoll_wait(epoll_fd_, events, kMaxEvents, timeout_ms);
                  }));
}

int Poller::wait_for(std::chrono::nanoseconds timeout) {
  epoll_event events[kMaxEvents];
  timespec ts{static_cast<time_t>(timeout.count() / 1'000'000'000),
              static_cast<long>(timeout.count() % 1'000'000'000)};
  return dispatch(events, sys_call([&] {
                    return ::epoll_pwait2(epoll_fd_, events, kMaxEvents, &ts, nullptr);
                  }));
}

}  // namespace turbogrpc::internal
