// Base64 (RFC 4648 standard alphabet) for the values of "-bin" metadata keys.
// See base64.h.
#include "codec/base64.h"

#include <array>
#include <cstdint>

namespace turbogrpc::internal {

namespace {

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr int8_t kInvalidSextet = -1;

// Reverse table built at compile time: byte -> sextet, or kInvalidSextet.
constexpr std::array<int8_t, 256> make_decode_table() {
  std::array<int8_t, 256> table{};
  for (auto& entry : table) entry = kInvalidSextet;
  for (int i = 0; i < 64; ++i) {
    table[static_cast<unsigned char>(kBase64Alphabet[i])] = static_cast<int8_t>(i);
  }
  return table;
}

constexpr std::array<int8_t, 256> kDecodeTable = make_decode_table();

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t group = (uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                     (uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
                     uint32_t{static_cast<unsigned char>(bytes[i + 2])};
    out.push_back(kBase64Alphabet[(group >> 18) & 0x3F]);
    out.push_back(kBase64Alphabet[(group >> 12) & 0x3F]);
    out.push_back(kBase64Alphabet[(group >> 6) & 0x3F]);
    out.push_back(kBase64Alphabet[group & 0x3F]);
  }
  size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t group = uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
    if (rest == 2) group |= uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8;
    out.push_back(kBase64Alphabet[(group >> 18) & 0x3F]);
    out.push_back(kBase64Alphabet[(group >> 12) & 0x3F]);
    if (rest == 2) out.push_back(kBase64Alphabet[(group >> 6) & 0x3F]);
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (!text.empty() && text.back() == '=') {
    // Padded form: whole 4-character groups, ending in one or two '='.
    if (text.size() % 4 != 0) return std::nullopt;
    text.remove_suffix(1);
    if (text.back() == '=') text.remove_suffix(1);
  }
  // 4n+1 characters cannot come from any input: one sextet is not a whole byte.
  if (text.size() % 4 == 1) return std::nullopt;

  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t bits = 0;
  int bit_count = 0;
  for (char ch : text) {
    int8_t sextet = kDecodeTable[static_cast<unsigned char>(ch)];
    if (sextet == kInvalidSextet) return std::nullopt;  // includes a '=' before the end
    bits = (bits << 6) | static_cast<uint32_t>(sextet);
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      out.push_back(static_cast<char>((bits >> bit_count) & 0xFF));
    }
  }
  return out;
}

}  // namespace turbogrpc::internal
