// libFuzzer target for codec/percent_encoding: the grpc-message trailer's encoding.
// Checks decode(encode(x)) == x, the shape of encoded text, and the lenient decoder (arbitrary
// input) against a plain restatement of the spec written here.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "codec/percent_encoding.h"
#include "fuzz_check.h"

namespace {

namespace ti = turbogrpc::internal;

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_upper_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

// %XX with two hex digits (either case) is a byte; anything else, a stray '%' included, is itself.
std::string spec_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  // Encoding: printable ASCII except '%' passes through; every other byte becomes %XX.
  std::string encoded = ti::percent_encode(input);
  size_t escaped = 0;
  for (size_t i = 0, j = 0; i < input.size(); ++i) {
    auto c = static_cast<unsigned char>(input[i]);
    bool escape = c < 0x20 || c > 0x7E || c == '%';
    FUZZ_CHECK(j < encoded.size(), "encoded text too short");
    if (escape) {
      FUZZ_CHECK(j + 2 < encoded.size() && encoded[j] == '%' && is_upper_hex(encoded[j + 1]) &&
                     is_upper_hex(encoded[j + 2]) &&
                     hex(encoded[j + 1]) * 16 + hex(encoded[j + 2]) == c,
                 "byte not escaped as %XX in uppercase hex");
      j += 3;
      ++escaped;
    } else {
      FUZZ_CHECK(encoded[j] == input[i], "a printable byte was changed");
      ++j;
    }
  }
  FUZZ_CHECK(encoded.size() == input.size() + 2 * escaped, "encoded text has extra bytes");
  for (char ch : encoded) {
    auto c = static_cast<unsigned char>(ch);
    FUZZ_CHECK(c >= 0x20 && c <= 0x7E, "encoded text is not printable ASCII");
  }

  // Round trip.
  FUZZ_CHECK(ti::percent_decode(encoded) == input, "decode(encode(x)) != x");

  // Decoding arbitrary text: never fails, never grows, matches the spec; text without '%'
  // is left alone.
  std::string decoded = ti::percent_decode(input);
  FUZZ_CHECK(decoded.size() <= input.size(), "decoding grew the text");
  FUZZ_CHECK(decoded == spec_decode(input), "percent_decode disagrees with the spec");
  if (input.find('%') == std::string_view::npos) FUZZ_CHECK(decoded == input, "no-% text changed");
  FUZZ_CHECK(ti::percent_decode(ti::percent_encode(decoded)) == decoded, "round trip of decoded");
  return 0;
}
