// libFuzzer target for codec/base64: the encoding of "-bin" metadata values.
// Checks decode(encode(x)) == x for the unpadded form we send and the padded form peers may send,
// the shape of encoded text, and the decoder on arbitrary input against a group-by-group
// restatement of RFC 4648 written here (accepting exactly what the header rules allow).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "codec/base64.h"
#include "fuzz_check.h"

namespace {

namespace ti = turbogrpc::internal;

int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Unpadded: any length but 4n+1. Padded: a multiple of 4 ending in "=" or "==" (the padding a
// 3n+2 or 3n+1 byte input gets). No '=' anywhere else; only the standard alphabet.
std::optional<std::string> spec_decode(std::string_view text) {
  size_t pad = 0;
  while (pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  if (pad > 2) return std::nullopt;
  if (pad > 0 && text.size() % 4 != 0) return std::nullopt;
  std::string_view body = text.substr(0, text.size() - pad);
  if (body.size() % 4 == 1) return std::nullopt;
  for (char c : body) {
    if (sextet(c) < 0) return std::nullopt;
  }
  std::string out;
  size_t i = 0;
  for (; i + 4 <= body.size(); i += 4) {
    uint32_t g = (sextet(body[i]) << 18) | (sextet(body[i + 1]) << 12) |
                 (sextet(body[i + 2]) << 6) | sextet(body[i + 3]);
    out.push_back(static_cast<char>(g >> 16));
    out.push_back(static_cast<char>((g >> 8) & 0xFF));
    out.push_back(static_cast<char>(g & 0xFF));
  }
  size_t rest = body.size() - i;  // 0, 2 or 3
  if (rest >= 2) {
    uint32_t g = (sextet(body[i]) << 18) | (sextet(body[i + 1]) << 12);
    if (rest == 3) g |= sextet(body[i + 2]) << 6;
    out.push_back(static_cast<char>(g >> 16));
    if (rest == 3) out.push_back(static_cast<char>((g >> 8) & 0xFF));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  // Encoding: unpadded, standard alphabet, ceil(4n/3) characters.
  std::string encoded = ti::base64_encode(input);
  FUZZ_CHECK(encoded.size() == (input.size() * 4 + 2) / 3, "encoded length is not ceil(4n/3)");
  for (char c : encoded) FUZZ_CHECK(sextet(c) >= 0, "encoded text outside the alphabet");
  FUZZ_CHECK(ti::base64_decode(encoded) == std::optional<std::string>(std::string(input)),
             "decode(encode(x)) != x");
  std::string padded = encoded;
  while (padded.size() % 4 != 0) padded.push_back('=');
  FUZZ_CHECK(ti::base64_decode(padded) == std::optional<std::string>(std::string(input)),
             "decode(padded encode(x)) != x");

  // Decoding arbitrary text: exactly what the spec accepts, with the same bytes.
  std::optional<std::string> decoded = ti::base64_decode(input);
  FUZZ_CHECK(decoded == spec_decode(input), "base64_decode disagrees with the spec");
  if (decoded) {
    // Re-encoding gives the input back without its padding, except that the unused low bits
    // of the last character (ignored when decoding) come back as zeros.
    std::string_view body = input;
    while (!body.empty() && body.back() == '=') body.remove_suffix(1);
    std::string again = ti::base64_encode(*decoded);
    FUZZ_CHECK(again.size() == body.size(), "re-encoded length differs");
    if (!body.empty()) {
      FUZZ_CHECK(std::string_view(again).substr(0, body.size() - 1) ==
                     body.substr(0, body.size() - 1),
                 "re-encoding changed more than the last character");
    }
  }
  return 0;
}
