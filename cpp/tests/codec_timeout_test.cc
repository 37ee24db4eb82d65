// Tests for codec/timeout_codec: parsing and formatting the grpc-timeout header.
#include "codec/timeout_codec.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>

namespace turbogrpc::internal {
namespace {

constexpr int64_t kMicro = 1'000;
constexpr int64_t kMilli = 1'000'000;
constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

TEST(ParseGrpcTimeout, EachUnit) {
  EXPECT_EQ(parse_grpc_timeout_ns("7n"), 7);
  EXPECT_EQ(parse_grpc_timeout_ns("7u"), 7 * kMicro);
  EXPECT_EQ(parse_grpc_timeout_ns("7m"), 7 * kMilli);
  EXPECT_EQ(parse_grpc_timeout_ns("7S"), 7 * kSecond);
  EXPECT_EQ(parse_grpc_timeout_ns("7M"), 7 * kMinute);
  EXPECT_EQ(parse_grpc_timeout_ns("7H"), 7 * kHour);
}

TEST(ParseGrpcTimeout, DigitCounts) {
  EXPECT_EQ(parse_grpc_timeout_ns("12345678n"), 12345678);
  EXPECT_EQ(parse_grpc_timeout_ns("00000001S"), kSecond);  // leading zeros are still digits
  EXPECT_EQ(parse_grpc_timeout_ns("100m"), 100 * kMilli);
  EXPECT_EQ(parse_grpc_timeout_ns("0S"), 0);
}

TEST(ParseGrpcTimeout, Malformed) {
  for (const char* bad : {"", "1", "S", "123456789S", "1x", "-1S", "+1S", "1s", "1h", " 1S",
                          "1S ", "1.5S", "1 S", "1SS", "0x1S", "１S"}) {
    EXPECT_EQ(parse_grpc_timeout_ns(bad), std::nullopt) << '"' << bad << '"';
  }
}

TEST(ParseGrpcTimeout, SaturatesOnOverflow) {
  // 99999999 hours is ~3.6e20 ns, past int64.
  EXPECT_EQ(parse_grpc_timeout_ns("99999999H"), kInt64Max);
  // 99999999 minutes is ~6.0e18 ns: still fits, no saturation.
  EXPECT_EQ(parse_grpc_timeout_ns("99999999M"), 99'999'999 * kMinute);
  // 99999999 seconds fits (~1e17 ns).
  EXPECT_EQ(parse_grpc_timeout_ns("99999999S"), 99'999'999 * kSecond);
  // Largest hour value that fits: floor(INT64_MAX / 1h) = 2562047.
  EXPECT_EQ(parse_grpc_timeout_ns("2562047H"), 2'562'047 * kHour);
  EXPECT_EQ(parse_grpc_timeout_ns("2562048H"), kInt64Max);
}

TEST(FormatGrpcTimeout, FinestUnitThatFits) {
  EXPECT_EQ(format_grpc_timeout(1), "1n");
  EXPECT_EQ(format_grpc_timeout(99'999'999), "99999999n");
  EXPECT_EQ(format_grpc_timeout(100'000'000), "100000u");
  EXPECT_EQ(format_grpc_timeout(5 * kSecond), "5000000u");
  EXPECT_EQ(format_grpc_timeout(100 * kSecond), "100000m");
  EXPECT_EQ(format_grpc_timeout(100'000 * kSecond), "100000S");
  EXPECT_EQ(format_grpc_timeout(100'000'000 * kSecond), "1666667M");
  EXPECT_EQ(format_grpc_timeout(100'000'000 * kMinute), "1666667H");
  EXPECT_EQ(format_grpc_timeout(kInt64Max), "2562048H");
}

TEST(FormatGrpcTimeout, RoundsUp) {
  EXPECT_EQ(format_grpc_timeout(100'000'001), "100001u");
  EXPECT_EQ(format_grpc_timeout(99'999'999 * kMicro + 1), "100000m");
  // Rounded-up value is never shorter than the real timeout.
  for (int64_t nanos : {int64_t{1}, int64_t{123'456'789'012}, 7 * kHour + 3, kInt64Max / 3}) {
    auto parsed = parse_grpc_timeout_ns(format_grpc_timeout(nanos));
    ASSERT_TRUE(parsed.has_value()) << nanos;
    EXPECT_GE(*parsed, nanos);
  }
}

TEST(FormatGrpcTimeout, NonPositiveIsOneNanosecond) {
  EXPECT_EQ(format_grpc_timeout(0), "1n");
  EXPECT_EQ(format_grpc_timeout(-5 * kSecond), "1n");
  EXPECT_EQ(format_grpc_timeout(std::numeric_limits<int64_t>::min()), "1n");
}

TEST(FormatGrpcTimeout, AtMostEightDigitsAndRoundTrips) {
  int64_t nanos = 1;
  for (int i = 0; i < 62; ++i, nanos = nanos * 2 + 1) {
    std::string text = format_grpc_timeout(nanos);
    ASSERT_GE(text.size(), 2u);
    EXPECT_LE(text.size(), 9u) << text;
    auto parsed = parse_grpc_timeout_ns(text);
    ASSERT_TRUE(parsed.has_value()) << text;
    EXPECT_GE(*parsed, nanos) << text;
  }
}

TEST(FormatGrpcTimeout, WholeMillisecondsComeBackExactly) {
  // Any whole number of milliseconds below 10^8 ms is representable in "n", "u" or "m".
  for (int64_t millis : {int64_t{1}, int64_t{99}, int64_t{100'001}, int64_t{99'999'999}}) {
    EXPECT_EQ(parse_grpc_timeout_ns(format_grpc_timeout(millis * kMilli)), millis * kMilli)
        << millis;
  }
}

TEST(TimeoutRoundTrip, ParsedValueFormatsBack) {
  for (const char* text : {"1n", "250u", "30m", "15S", "5M", "2H", "99999999u"}) {
    auto parsed = parse_grpc_timeout_ns(text);
    ASSERT_TRUE(parsed.has_value()) << text;
    auto again = parse_grpc_timeout_ns(format_grpc_timeout(*parsed));
    EXPECT_EQ(again, parsed) << text;
  }
}

}  // namespace
}  // namespace turbogrpc::internal
