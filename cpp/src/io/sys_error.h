// System-call results that keep errno: every syscall in the engine goes through sys_call(),
// so a failure always carries its cause up to the status a user finally sees.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>

namespace turbogrpc::internal {

struct SysResult {
  long value = 0;  // the syscall's return value
  int error = 0;   // errno when value < 0, else 0

  bool ok() const { return value >= 0; }
  std::string message() const { return std::strerror(error); }
};

// Retries on EINTR; captures errno at once so nothing in between can clobber it.
template <typename Fn>
SysResult sys_call(Fn&& fn) {
  for (;;) {
    long v = static_cast<long>(fn());
    if (v >= 0) return {v, 0};
    if (errno != EINTR) return {v, errno};
  }
}

}  // namespace turbogrpc::internal
