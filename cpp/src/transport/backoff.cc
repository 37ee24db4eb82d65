#include "transport/backoff.h"

#include <algorithm>

namespace turbogrpc::internal {

ConnectionBackoff::ConnectionBackoff(BackoffSettings settings, uint64_t seed)
    : settings_(settings), random_(seed) {}

ConnectionBackoff::Attempt ConnectionBackoff::begin_attempt(Clock::time_point now) {
  using Millis = std::chrono::duration<double, std::milli>;
  if (!started_) {
    started_ = true;
    current_ = Millis(settings_.initial);
  } else {
    current_ = std::min(current_ * settings_.multiplier, Millis(settings_.max));
  }
  std::uniform_real_distribution<double> spread(1.0 - settings_.jitter, 1.0 + settings_.jitter);
  Millis backoff = current_ * spread(random_);
  auto retry_at = now + std::chrono::duration_cast<Clock::duration>(backoff);
  return {std::max(retry_at, now + settings_.min_connect_timeout), retry_at};
}

void ConnectionBackoff::reset() {
  started_ = false;
  current_ = {};
}

}  // namespace turbogrpc::internal
