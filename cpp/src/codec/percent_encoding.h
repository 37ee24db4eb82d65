// Percent-encoding of the grpc-message trailer, as the gRPC HTTP/2 spec defines it.
// Used when sending a status message and when reading one from the peer.
#pragma once

#include <string>
#include <string_view>

namespace turbogrpc::internal {

// Encodes every byte outside 0x20-0x7E, and '%', as %XX (uppercase hex) over the UTF-8 bytes.
std::string percent_encode(std::string_view utf8);

// Decodes %XX (either hex case). Lenient, as the spec asks of receivers: an invalid or truncated
// %-sequence is kept literally rather than failing the whole status.
std::string percent_decode(std::string_view encoded);

}  // namespace turbogrpc::internal
