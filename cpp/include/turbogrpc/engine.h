// The engine facade: the only entry the binding uses. One engine per process, started lazily;
// a forked child gets a fresh one on first use (the parent's threads do not exist there).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "turbogrpc/commands.h"

namespace turbogrpc {

namespace internal {
class EngineCore;
}

class Engine {
 public:
  // The process's engine, starting its poller thread on first use.
  static Engine& instance();
  // Incremented in a forked child; ids made under another generation are void there.
  static uint64_t generation();

  // Ids for calls, channels and servers: unique within the process (across engine restarts),
  // never 0.
  static uint64_t next_id();

  // Hands a command to the poller thread (any thread; never blocks on I/O).
  void submit(Command command);

  // Stops the process's poller thread and drops every connection (process exit). A later
  // instance() starts a fresh engine.
  static void shutdown();

  ~Engine();

 private:
  Engine();
  std::unique_ptr<internal::EngineCore> core_;
};

struct ListenResult {
  int fd = -1;
  int port = 0;
  std::string error;  // non-empty on failure: what went wrong, with the address
};

// Binds and listens on "host:port", "[v6]:port", "unix:/path" (port 0 picks one). Runs on the
// calling thread so add_insecure_port() can report the port and errors at once.
// `reuse_port`: SO_REUSEPORT on TCP listeners (grpc.so_reuseport, on by default as grpcio).
ListenResult listen_on(const std::string& address, bool reuse_port = true);

}  // namespace turbogrpc
