// Channel and server options the engine understands (parsed from grpc-style option pairs
// by the binding). Defaults match grpcio's.
#pragma once

#include <cstdint>
#include <string>

namespace turbogrpc {

struct ChannelOptions {
  int64_t max_receive_message_length = 4 * 1024 * 1024;  // -1 = unlimited
  int64_t max_send_message_length = -1;                  // -1 = unlimited
  std::string authority;                                 // default: the target's host:port
  std::string user_agent;                                // prefixed to ours
};

struct ServerOptions {
  int64_t max_receive_message_length = 4 * 1024 * 1024;
  int64_t max_send_message_length = -1;
  int64_t max_concurrent_streams = -1;  // per connection; -1 = nghttp2's default (unlimited)
};

}  // namespace turbogrpc
