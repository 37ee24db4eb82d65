// Connectivity: a channel's state as gRPC's connectivity-semantics doc defines it, and the
// cell through which any thread can read it without asking the poller.
#pragma once

#include <atomic>
#include <cstdint>

namespace turbogrpc {

// grpcio's ChannelConnectivity values.
enum class ConnectivityState : uint8_t {
  kIdle = 0,              // no connection and no attempt; the next call (or a request) starts one
  kConnecting = 1,        // resolving, connecting, handshaking, waiting for the server's SETTINGS
  kReady = 2,             // a connection that takes calls
  kTransientFailure = 3,  // every address failed; retrying after a backoff
  kShutdown = 4,          // closed by the application
};

// Written by the poller thread on every change; read by any thread (get_state()).
struct ChannelStateCell {
  std::atomic<ConnectivityState> state{ConnectivityState::kIdle};
};

}  // namespace turbogrpc
