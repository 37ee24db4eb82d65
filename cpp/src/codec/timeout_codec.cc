// The grpc-timeout header: 1-8 ASCII digits followed by a unit (H M S m u n).
// See timeout_codec.h.
#include "codec/timeout_codec.h"

#include <limits>

namespace turbogrpc::internal {

namespace {

constexpr size_t kMaxTimeoutDigits = 8;
constexpr int64_t kMaxTimeoutValue = 99'999'999;

struct TimeoutUnit {
  char symbol;
  int64_t nanos;
};

// Finest first: format_grpc_timeout takes the first unit whose value fits in 8 digits.
constexpr TimeoutUnit kTimeoutUnits[] = {
    {'n', 1},
    {'u', 1'000},
    {'m', 1'000'000},
    {'S', 1'000'000'000},
    {'M', int64_t{60} * 1'000'000'000},
    {'H', int64_t{3600} * 1'000'000'000},
};

}  // namespace

std::optional<int64_t> parse_grpc_timeout_ns(std::string_view value) {
  if (value.size() < 2 || value.size() > kMaxTimeoutDigits + 1) return std::nullopt;
  int64_t unit_nanos = 0;
  for (const TimeoutUnit& unit : kTimeoutUnits) {
    if (unit.symbol == value.back()) unit_nanos = unit.nanos;
  }
  if (unit_nanos == 0) return std::nullopt;
  int64_t amount = 0;
  for (char c : value.substr(0, value.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    amount = amount * 10 + (c - '0');  // at most 8 digits: cannot overflow
  }
  // The spec says "positive", but "0S" is accepted (as grpc-go does): it just means the deadline
  // has already passed, which the call turns into DEADLINE_EXCEEDED.
  if (amount > std::numeric_limits<int64_t>::max() / unit_nanos) {
    return std::numeric_limits<int64_t>::max();
  }
  return amount * unit_nanos;
}

std::string format_grpc_timeout(int64_t nanos) {
  if (nanos <= 0) return "1n";
  for (const TimeoutUnit& unit : kTimeoutUnits) {
    int64_t amount = nanos / unit.nanos + (nanos % unit.nanos != 0 ? 1 : 0);
    if (amount <= kMaxTimeoutValue) return std::to_string(amount) + unit.symbol;
  }
  // Unreachable: INT64_MAX nanoseconds is about 2.6 million hours, which fits in 8 digits.
  return std::to_string(kMaxTimeoutValue) + 'H';
}

}  // namespace turbogrpc::internal
