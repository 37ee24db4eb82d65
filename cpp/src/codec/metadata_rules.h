// Validity rules for custom metadata keys and values, and which received headers are hidden.
// Used where applications hand metadata to the engine and where received headers become metadata.
#pragma once

#include <cstdint>
#include <string_view>

namespace turbogrpc::internal {

enum class KeyProblem : uint8_t {
  kNone,              // the key may be sent as custom metadata
  kEmpty,             // zero-length key
  kInvalidCharacter,  // a byte outside [0-9a-z_.-] (keys must be lowercase)
  kReserved,          // a pseudo-header, a grpc-* key, or a header owned by HTTP/2 or the transport
};

// Legal: [0-9a-z_.-]. Reserved: starts with ':' or "grpc-" (but "grpc-status-details-bin" is
// allowed), or one of content-type, te, user-agent, host, connection, keep-alive,
// proxy-connection, transfer-encoding, upgrade. Reserved is reported before invalid characters,
// so ":path" says "reserved" rather than "invalid character".
KeyProblem check_metadata_key(std::string_view key);

// Short text for error messages, e.g. "metadata key is reserved".
const char* describe(KeyProblem p);

// Ends with "-bin": the value is raw bytes, base64-encoded on the wire.
bool is_binary_key(std::string_view key);

// Printable ASCII 0x20-0x7E only (the rule for non-binary values).
bool is_valid_ascii_value(std::string_view value);

// Headers received from a peer that are NOT surfaced to users as metadata: pseudo-headers (':...'),
// content-type, te, grpc-status, grpc-message, grpc-timeout, grpc-encoding, grpc-accept-encoding,
// grpc-internal-encoding-request. (user-agent and grpc-status-details-bin ARE surfaced.)
// `name` is compared exactly: HTTP/2 header names are lowercase (nghttp2 enforces it).
bool is_hidden_received_header(std::string_view name);

}  // namespace turbogrpc::internal
