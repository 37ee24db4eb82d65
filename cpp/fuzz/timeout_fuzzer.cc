// libFuzzer target for codec/timeout_codec: the grpc-timeout header, parsed and formatted.
// Checks the parser against the spec's grammar with exact (128-bit) arithmetic, that parsed
// values are never negative, and that formatting rounds up by less than one unit and round trips.
//
// Input: the bytes are parsed as a header value; the first 8 bytes (little endian), and that
// number shifted right by the 9th byte, are formatted as remaining nanoseconds.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "codec/metadata_rules.h"
#include "codec/timeout_codec.h"
#include "fuzz_check.h"

namespace {

namespace ti = turbogrpc::internal;

constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();

// Nanoseconds per unit, or 0 when `c` is not a unit.
int64_t unit_nanos(char c) {
  switch (c) {
    case 'n': return 1;
    case 'u': return 1'000;
    case 'm': return 1'000'000;
    case 'S': return 1'000'000'000;
    case 'M': return int64_t{60} * 1'000'000'000;
    case 'H': return int64_t{3600} * 1'000'000'000;
  }
  return 0;
}

// The spec: TimeoutValue = 1*8 DIGIT, TimeoutUnit = one of H M S m u n; we saturate at INT64_MAX.
std::optional<int64_t> spec_parse(std::string_view v) {
  if (v.size() < 2 || v.size() > 9) return std::nullopt;
  int64_t unit = unit_nanos(v.back());
  if (unit == 0) return std::nullopt;
  __int128 amount = 0;
  for (char c : v.substr(0, v.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    amount = amount * 10 + (c - '0');
  }
  __int128 nanos = amount * unit;
  return nanos > kMaxInt64 ? kMaxInt64 : static_cast<int64_t>(nanos);
}

// Ceiling division for n > 0, d > 0.
int64_t ceil_div(int64_t n, int64_t d) { return n / d + (n % d != 0 ? 1 : 0); }

void check_format(int64_t nanos) {
  std::string text = ti::format_grpc_timeout(nanos);
  FUZZ_CHECK(ti::is_valid_ascii_value(text), "formatted timeout is not a valid header value");
  // Grammar: 1-8 digits without a leading zero, then a unit.
  FUZZ_CHECK(text.size() >= 2 && text.size() <= 9, "formatted timeout has a bad length");
  FUZZ_CHECK(text[0] >= '1' && text[0] <= '9', "formatted timeout has a leading zero or is 0");
  const int64_t unit = unit_nanos(text.back());
  FUZZ_CHECK(unit != 0, "formatted timeout has no unit");

  std::optional<int64_t> back = ti::parse_grpc_timeout_ns(text);
  FUZZ_CHECK(back.has_value(), "our own formatted timeout does not parse");
  FUZZ_CHECK(back == spec_parse(text), "parse of a formatted timeout disagrees with the spec");
  if (nanos <= 0) {
    FUZZ_CHECK(text == "1n", "an expired deadline must encode as 1n");
    return;
  }
  // Rounded up, never down (a deadline must not come earlier), by less than one unit.
  FUZZ_CHECK(*back >= nanos, "formatted timeout is shorter than the deadline");
  if (*back != kMaxInt64) FUZZ_CHECK(*back - nanos < unit, "rounded up by a whole unit or more");
  // The finest unit that fits in 8 digits: the next finer one would not have.
  static constexpr char kFinerUnit[] = {'n', 'u', 'm', 'S', 'M', 'H'};
  for (size_t i = 1; i < sizeof kFinerUnit; ++i) {
    if (kFinerUnit[i] == text.back()) {
      FUZZ_CHECK(ceil_div(nanos, unit_nanos(kFinerUnit[i - 1])) > 99'999'999,
                 "a finer unit would have fitted");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  std::optional<int64_t> parsed = ti::parse_grpc_timeout_ns(input);
  FUZZ_CHECK(parsed == spec_parse(input), "parse_grpc_timeout_ns disagrees with the spec");
  if (parsed) {
    FUZZ_CHECK(*parsed >= 0, "a parsed timeout is negative");
    // Re-encoding what we parsed never shortens it (unless the value saturated, when the
    // encoding may be the largest one and parse back to the same saturated value).
    std::optional<int64_t> again = ti::parse_grpc_timeout_ns(ti::format_grpc_timeout(*parsed));
    FUZZ_CHECK(again.has_value(), "re-encoded timeout does not parse");
    FUZZ_CHECK(*again >= *parsed, "re-encoding shortened a timeout");
    check_format(*parsed);
  }

  if (size >= 8) {
    uint64_t bits = 0;
    std::memcpy(&bits, data, 8);
    const int64_t n = static_cast<int64_t>(bits);
    check_format(n);
    if (size >= 9) check_format(n >> (data[8] % 64));
    if (n != std::numeric_limits<int64_t>::min()) check_format(n < 0 ? -n : n);
  }
  return 0;
}
