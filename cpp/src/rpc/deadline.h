// Deadlines from timeouts, saturating: a timeout too large for the clock (a huge or infinite
// value from the application, "99999999H" from a peer) means no deadline, as grpc treats it,
// instead of overflowing into the past. Used by both call state machines.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "io/timer_queue.h"

namespace turbogrpc::internal {

// The deadline `nanos` from `now`; nullopt when it lies beyond what Clock can represent.
// A negative `nanos` is treated as 0 (the deadline has passed).
std::optional<Clock::time_point> deadline_after_ns(int64_t nanos, Clock::time_point now);

// Same for a timeout in seconds (negative: passed; +inf or too large: none). NaN is the
// caller's error to report; here it means no deadline.
std::optional<Clock::time_point> deadline_after_seconds(double seconds, Clock::time_point now);

}  // namespace turbogrpc::internal
