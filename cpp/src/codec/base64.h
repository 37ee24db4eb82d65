// Base64 (RFC 4648 standard alphabet) for the values of "-bin" metadata keys.
// Used by the transport when sending and receiving binary metadata; no line breaks anywhere.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace turbogrpc::internal {

// Standard alphabet, NO padding: the gRPC spec says senders should emit unpadded values.
std::string base64_encode(std::string_view bytes);

// Accepts padded and unpadded input (the spec requires both). nullopt on a character outside
// the alphabet, misplaced or excess '=', or a length no encoder can produce (4n+1, or padded
// input that is not a multiple of 4). Unused low bits of the last character are ignored.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace turbogrpc::internal
