// Server: the engine side of one server — its listening sockets, its connections, and the
// two-phase stop (stop accepting + GOAWAY, then close everything). Poller thread only.
#pragma once

#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "http2/session.h"
#include "io/poller.h"
#include "turbogrpc/commands.h"

namespace turbogrpc::internal {

class EngineCore;
class ServerConnection;

class Server {
 public:
  Server(EngineCore& core, StartServerCommand&& command);
  ~Server();

  uint64_t id() const { return id_; }
  const std::shared_ptr<CompletionQueue>& cq() const { return cq_; }
  const ServerOptions& options() const { return options_; }
  const Http2Settings& http2_settings() const { return settings_; }
  bool preread(const std::string& path) const { return unary_request_methods_.count(path) != 0; }

  void stop(StopPhase phase);
  void on_connection_closed(ServerConnection* connection);

 private:
  class Listener : public IoHandler {
   public:
    Listener(Server& server, int fd) : server_(server), fd_(fd) {}
    void on_io(uint32_t) override { server_.accept_from(fd_); }
    int fd() const { return fd_; }

   private:
    Server& server_;
    int fd_;
  };

  void accept_from(int listen_fd);
  void close_listeners();

  EngineCore& core_;
  const uint64_t id_;
  const std::shared_ptr<CompletionQueue> cq_;
  const ServerOptions options_;
  const std::unordered_set<std::string> unary_request_methods_;
  Http2Settings settings_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::unordered_set<ServerConnection*> connections_;  // owned by the engine core
  bool accepting_ = true;
};

}  // namespace turbogrpc::internal
