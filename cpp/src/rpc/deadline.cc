#include "rpc/deadline.h"

#include <cmath>
#include <limits>

namespace turbogrpc::internal {

std::optional<Clock::time_point> deadline_after_ns(int64_t nanos, Clock::time_point now) {
  using Ticks = Clock::duration;
  Ticks wait = std::chrono::duration_cast<Ticks>(std::chrono::nanoseconds(nanos < 0 ? 0 : nanos));
  if (wait > Clock::time_point::max() - now) return std::nullopt;
  return now + wait;
}

std::optional<Clock::time_point> deadline_after_seconds(double seconds, Clock::time_point now) {
  if (std::isnan(seconds)) return std::nullopt;
  if (seconds <= 0) return now;
  // Compare in floating point before converting: the conversion itself overflows otherwise.
  constexpr double kMaxNanos = static_cast<double>(std::numeric_limits<int64_t>::max());
  double nanos = seconds * 1e9;
  if (!(nanos < kMaxNanos)) return std::nullopt;
  return deadline_after_ns(static_cast<int64_t>(nanos), now);
}

}  // namespace turbogrpc::internal
