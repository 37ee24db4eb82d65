// Channel and server options the engine understands (parsed from grpc-style option pairs
// by the binding). Defaults match grpcio's.
#pragma once

#include <cstdint>
#include <string>

namespace turbogrpc {

// Received header list size (RFC 9113: name + value + 32 per field), per header block: over
// the soft limit a block is refused with growing probability, over the hard one always (the
// call ends RESOURCE_EXHAUSTED). grpcio's grpc.max_metadata_size and
// grpc.absolute_max_metadata_size, with its defaults. The hard limit is what we advertise in
// SETTINGS_MAX_HEADER_LIST_SIZE.
constexpr int64_t kDefaultMaxMetadataSize = 8 * 1024;
constexpr int64_t kDefaultAbsoluteMaxMetadataSize = 16 * 1024;

struct ChannelOptions {
  int64_t max_receive_message_length = 4 * 1024 * 1024;  // -1 = unlimited
  int64_t max_send_message_length = -1;                  // -1 = unlimited
  int64_t max_metadata_size = kDefaultMaxMetadataSize;
  int64_t absolute_max_metadata_size = kDefaultAbsoluteMaxMetadataSize;
  std::string authority;                                 // default: the target's host:port
  std::string user_agent;                                // prefixed to ours
};

constexpr int64_t kDefaultMaxConcurrentStreams = 100;

struct ServerOptions {
  int64_t max_receive_message_length = 4 * 1024 * 1024;
  int64_t max_send_message_length = -1;
  int64_t max_metadata_size = kDefaultMaxMetadataSize;
  int64_t absolute_max_metadata_size = kDefaultAbsoluteMaxMetadataSize;
  // Streams one client may have open on a connection (SETTINGS_MAX_CONCURRENT_STREAMS); more
  // are refused (REFUSED_STREAM, which clients retry). grpcio leaves it unlimited; we do not:
  // each open stream may hold ~1.25 MiB of received data plus a partial message (docs/limits.md).
  int64_t max_concurrent_streams = kDefaultMaxConcurrentStreams;
};

}  // namespace turbogrpc
