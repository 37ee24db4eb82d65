// Percent-encoding of the grpc-message trailer, as the gRPC HTTP/2 spec defines it.
// See percent_encoding.h.
#include "codec/percent_encoding.h"

namespace turbogrpc::internal {

namespace {

constexpr char kUpperHexDigits[] = "0123456789ABCDEF";

bool needs_escape(unsigned char c) { return c < 0x20 || c > 0x7E || c == '%'; }

// Value of a hex digit, or -1.
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::string percent_encode(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  for (char ch : utf8) {
    auto c = static_cast<unsigned char>(ch);
    if (needs_escape(c)) {
      out.push_back('%');
      out.push_back(kUpperHexDigits[c >> 4]);
      out.push_back(kUpperHexDigits[c & 0x0F]);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

std::string percent_decode(std::string_view encoded) {
  std::string out;
  out.reserve(encoded.size());
  size_t i = 0;
  while (i < encoded.size()) {
    if (encoded[i] == '%' && i + 2 < encoded.size()) {
      int high = hex_value(encoded[i + 1]);
      int low = hex_value(encoded[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>((high << 4) | low));
        i += 3;
        continue;
      }
    }
    out.push_back(encoded[i]);  // plain byte, or a '%' that does not start a valid escape
    ++i;
  }
  return out;
}

}  // namespace turbogrpc::internal
