// The grpc-timeout header: 1-8 ASCII digits followed by a unit (H M S m u n).
// Used by the client call to send its deadline and by the server call to read the peer's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace turbogrpc::internal {

// Nanoseconds encoded by `value`, or nullopt if it is malformed (the server then answers
// INTERNAL). Values too large for int64 nanoseconds (e.g. "99999999H") saturate to INT64_MAX.
std::optional<int64_t> parse_grpc_timeout_ns(std::string_view value);

// Encodes a remaining time using at most 8 digits and the finest unit that fits. Rounds up, so
// a positive timeout never encodes as 0; nanos <= 0 (already expired) encodes as "1n".
std::string format_grpc_timeout(int64_t nanos);

}  // namespace turbogrpc::internal
