// TokenBucket: "at most `burst` at once, then `per_second`" — the shape of every frame-flood
// limit we count ourselves (nghttp2 counts the others). Poller thread only.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace turbogrpc::internal {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  TokenBucket(uint64_t burst, uint64_t per_second)
      : burst_(static_cast<double>(burst)), per_second_(static_cast<double>(per_second)), tokens_(burst_) {}

  // Takes one token; false when the bucket is empty (the peer is over the limit).
  bool take(Clock::time_point now = Clock::now()) {
    if (last_ != Clock::time_point{}) {
      double elapsed = std::chrono::duration<double>(now - last_).count();
      tokens_ = std::min(burst_, tokens_ + elapsed * per_second_);
    }
    last_ = now;
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }

 private:
  const double burst_;
  const double per_second_;
  double tokens_;
  Clock::time_point last_{};
};

}  // namespace turbogrpc::internal
