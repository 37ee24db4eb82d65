// What the connection fuzzers share: the transport tests' LoopTransportContext (a poller the
// fuzzer runs itself), a listening unix socket to dial or accept through, and helpers for the raw
// peer end of a connection.
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../tests/loop_transport_context.h"
#include "fuzz_check.h"
#include "rpc/call.h"
#include "rpc/call_registry.h"
#include "transport/connection.h"
#include "transport/transport_context.h"

namespace turbogrpc::internal::fuzz {

using FuzzContext = LoopTransportContext;

// A listening unix socket under /tmp, made once per process and removed at exit.
class UnixListener {
 public:
  explicit UnixListener(const char* role) {
    path_ = "/tmp/turbogrpc-fuzz-" + std::to_string(::getpid()) + "-" + role + ".sock";
    ::unlink(path_.c_str());
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path_.c_str());
    FUZZ_CHECK(fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                   ::listen(fd_, 16) == 0,
               "cannot listen on a unix socket under /tmp");
  }
  ~UnixListener() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  // A blocking client socket connected to this listener (unix connect completes at once).
  int dial() const {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path_.c_str());
    FUZZ_CHECK(fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0,
               "cannot dial the fuzzer's own unix socket");
    return fd;
  }
  // The next pending connection, or -1.
  int accept_one() const { return ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC); }

 private:
  std::string path_;
  int fd_ = -1;
};

// Writes as much of `bytes` from `*offset` as the socket takes now (the peer end is
// nonblocking-by-flag); the engine consumes it in later iterations.
inline void feed(int fd, std::string_view bytes, size_t* offset) {
  while (*offset < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + *offset, bytes.size() - *offset, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n <= 0) return;
    *offset += static_cast<size_t>(n);
  }
}

// Reads and drops whatever the engine wrote, so its socket never fills. Returns the bytes read;
// sets *eof when the engine closed its end.
inline size_t drain(int fd, bool* eof) {
  char buf[64 * 1024];
  size_t total = 0;
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0) {
      *eof = true;
      return total;
    }
    if (n < 0) return total;  // EAGAIN, or ECONNRESET (the engine reset: eof comes next)
    total += static_cast<size_t>(n);
  }
}

// HTTP/2 frame header: 24-bit length, type, flags, 31-bit stream id.
inline void append_frame(std::string& out, uint8_t type, uint8_t flags, uint32_t stream_id,
                         std::string_view payload) {
  size_t len = payload.size();
  out.push_back(static_cast<char>((len >> 16) & 0xff));
  out.push_back(static_cast<char>((len >> 8) & 0xff));
  out.push_back(static_cast<char>(len & 0xff));
  out.push_back(static_cast<char>(type));
  out.push_back(static_cast<char>(flags));
  out.push_back(static_cast<char>((stream_id >> 24) & 0x7f));
  out.push_back(static_cast<char>((stream_id >> 16) & 0xff));
  out.push_back(static_cast<char>((stream_id >> 8) & 0xff));
  out.push_back(static_cast<char>(stream_id & 0xff));
  out.append(payload);
}

// TURBOGRPC_FUZZ_VERBOSE=1: print every event (to check what a seed reaches).
inline bool verbose() {
  static const bool on = std::getenv("TURBOGRPC_FUZZ_VERBOSE") != nullptr;
  return on;
}
inline void print_event(const Event& e) {
  std::fprintf(stderr, "event kind=%d call=%llu status=%d '%s' method='%s' message=%s%zu\n",
               static_cast<int>(e.kind), static_cast<unsigned long long>(e.call_id),
               static_cast<int>(e.status.code), e.status.details.c_str(), e.method.c_str(),
               e.message ? "" : "none/", e.message ? e.message->size() : 0);
}

constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

}  // namespace turbogrpc::internal::fuzz
