// Validity rules for custom metadata keys and values, and which received headers are hidden.
// See metadata_rules.h.
#include "codec/metadata_rules.h"

namespace turbogrpc::internal {

namespace {

// Headers the transport writes itself or that HTTP/2 forbids (connection-specific).
constexpr std::string_view kReservedKeys[] = {
    "content-type", "te",         "user-agent",       "host",
    "connection",   "keep-alive", "proxy-connection", "transfer-encoding",
    "upgrade",
};

// The grpc-* keys applications set themselves: rich error details, and a server's retry
// pushback (gRPC's A6: how long the client waits before its next attempt, or not to retry).
constexpr std::string_view kStatusDetailsKey = "grpc-status-details-bin";
constexpr std::string_view kRetryPushbackKey = "grpc-retry-pushback-ms";

// Consumed by the transport / call layer; surfacing them would duplicate status and deadline.
constexpr std::string_view kHiddenReceivedHeaders[] = {
    "content-type",  "te",
    "grpc-status",   "grpc-message",
    "grpc-timeout",  "grpc-encoding",
    "grpc-accept-encoding", "grpc-internal-encoding-request",
};

bool is_key_character(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

bool is_reserved_key(std::string_view key) {
  if (key.starts_with(':')) return true;
  if (key.starts_with("grpc-")) return key != kStatusDetailsKey && key != kRetryPushbackKey;
  for (std::string_view reserved : kReservedKeys) {
    if (key == reserved) return true;
  }
  return false;
}

}  // namespace

KeyProblem check_metadata_key(std::string_view key) {
  if (key.empty()) return KeyProblem::kEmpty;
  if (is_reserved_key(key)) return KeyProblem::kReserved;
  for (char c : key) {
    if (!is_key_character(c)) return KeyProblem::kInvalidCharacter;
  }
  return KeyProblem::kNone;
}

const char* describe(KeyProblem p) {
  switch (p) {
    case KeyProblem::kNone:
      return "metadata key is valid";
    case KeyProblem::kEmpty:
      return "metadata key is empty";
    case KeyProblem::kInvalidCharacter:
      return "metadata key has a character outside [0-9a-z_.-]";
    case KeyProblem::kReserved:
      return "metadata key is reserved";
  }
  return "metadata key problem unknown";  // only if someone casts a bad value in
}

bool is_binary_key(std::string_view key) { return key.ends_with("-bin"); }

bool is_valid_ascii_value(std::string_view value) {
  for (char ch : value) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

bool is_hidden_received_header(std::string_view name) {
  if (name.starts_with(':')) return true;
  for (std::string_view hidden : kHiddenReceivedHeaders) {
    if (name == hidden) return true;
  }
  return false;
}

}  // namespace turbogrpc::internal
