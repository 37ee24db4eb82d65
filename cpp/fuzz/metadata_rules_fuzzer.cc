// libFuzzer target for codec/metadata_rules: key checks, value checks and hidden received headers.
// Each rule is compared with a plain restatement of the gRPC spec written here, and the rules are
// checked against each other (a header we hide must be one an application cannot send) and
// against the encoders whose output becomes metadata values.
//
// Input: the bytes are tried as a key, as a value and as a received header name; so are the
// part before and after the first NUL, so one input can hold a key and a value.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "codec/base64.h"
#include "codec/metadata_rules.h"
#include "codec/percent_encoding.h"
#include "fuzz_check.h"

namespace {

using turbogrpc::internal::KeyProblem;

bool spec_key_char(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '_' || c == '-' || c == '.';
}

bool spec_reserved(std::string_view key) {
  static constexpr std::string_view kHttpOwned[] = {
      "content-type", "te", "user-agent", "host", "connection", "keep-alive", "proxy-connection",
      "transfer-encoding", "upgrade"};
  if (!key.empty() && key[0] == ':') return true;
  // Applications may send two grpc-* keys: rich error details, and a server's retry pushback.
  if (key.size() >= 5 && key.substr(0, 5) == "grpc-")
    return key != "grpc-status-details-bin" && key != "grpc-retry-pushback-ms";
  for (std::string_view k : kHttpOwned) {
    if (key == k) return true;
  }
  return false;
}

KeyProblem spec_check_key(std::string_view key) {
  if (key.empty()) return KeyProblem::kEmpty;
  if (spec_reserved(key)) return KeyProblem::kReserved;  // reported before bad characters
  for (char c : key) {
    if (!spec_key_char(static_cast<unsigned char>(c))) return KeyProblem::kInvalidCharacter;
  }
  return KeyProblem::kNone;
}

bool spec_hidden(std::string_view name) {
  static constexpr std::string_view kHidden[] = {
      "content-type", "te", "grpc-status", "grpc-message", "grpc-timeout", "grpc-encoding",
      "grpc-accept-encoding", "grpc-internal-encoding-request"};
  if (!name.empty() && name[0] == ':') return true;
  for (std::string_view h : kHidden) {
    if (name == h) return true;
  }
  return false;
}

bool spec_ascii_value(std::string_view value) {
  for (char ch : value) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

void check_one(std::string_view s) {
  namespace ti = turbogrpc::internal;
  KeyProblem problem = ti::check_metadata_key(s);
  FUZZ_CHECK(problem == spec_check_key(s), "check_metadata_key disagrees with the spec");
  const char* text = ti::describe(problem);
  FUZZ_CHECK(text != nullptr && std::strlen(text) > 0, "describe() gave no text");

  FUZZ_CHECK(ti::is_binary_key(s) == (s.size() >= 4 && s.substr(s.size() - 4) == "-bin"),
             "is_binary_key disagrees with the spec");
  FUZZ_CHECK(ti::is_valid_ascii_value(s) == spec_ascii_value(s),
             "is_valid_ascii_value disagrees with the spec");

  bool hidden = ti::is_hidden_received_header(s);
  FUZZ_CHECK(hidden == spec_hidden(s), "is_hidden_received_header disagrees with the spec");
  // Whatever we hide on receipt, an application must not be able to send as custom metadata.
  if (hidden) FUZZ_CHECK(problem != KeyProblem::kNone, "a hidden header is a valid custom key");
  // A valid key is lowercase ASCII, so it is also a valid (non-binary) value.
  if (problem == KeyProblem::kNone) {
    FUZZ_CHECK(ti::is_valid_ascii_value(s), "a valid key is not a valid ASCII value");
  }

  // Values we produce for the wire always pass the value rule: grpc-message is percent-encoded,
  // "-bin" values are base64-encoded.
  FUZZ_CHECK(ti::is_valid_ascii_value(ti::percent_encode(s)), "percent_encode output not ASCII");
  FUZZ_CHECK(ti::is_valid_ascii_value(ti::base64_encode(s)), "base64_encode output not ASCII");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  check_one(input);
  size_t nul = input.find('\0');
  if (nul != std::string_view::npos) {
    check_one(input.substr(0, nul));
    check_one(input.substr(nul + 1));
  }
  return 0;
}
