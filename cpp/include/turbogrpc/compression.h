// Message compression algorithms, numbered as grpcio's `grpc.Compression` enum.
#pragma once

#include <cstdint>

namespace turbogrpc {

enum class Compression : uint8_t {
  kNone = 0,     // "identity" on the wire
  kDeflate = 1,  // zlib format (RFC 1950), as gRPC's "deflate"
  kGzip = 2,
};

}  // namespace turbogrpc
