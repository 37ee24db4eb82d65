// Server: the engine side of one server — its listening sockets, its connections, and the
// two-phase stop (stop accepting + GOAWAY, then close everything). Poller thread only.
#pragma once

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "http2/session.h"
#include "io/poller.h"
#include "io/sys_error.h"
#include "turbogrpc/commands.h"

namespace turbogrpc::internal {

class TransportContext;
class ServerConnection;

class Server {
 public:
  Server(TransportContext& context, StartServerCommand&& command);
  ~Server();

  uint64_t id() const { return id_; }
  const std::shared_ptr<CompletionQueue>& cq() const { return cq_; }
  const ServerOptions& options() const { return options_; }
  const Http2Settings& http2_settings() const { return settings_; }
  bool preread(const std::string& path) const { return unary_request_methods_.count(path) != 0; }
  // max_connection_age_ms with +-10% jitter (as grpc-go), so connections made together do not
  // all go away together.
  std::chrono::milliseconds jittered_age();

  void stop(StopPhase phase);
  void on_connection_closed(ServerConnection* connection);
  // How connections from listener `listener` are secured.
  const ListenerSecurity& security(uint32_t listener) const { return listeners_security_[listener]; }
  // `connection` waits for certificates from the application (ListenerSecurity::fetch_certificates).
  void fetch_certificates(uint32_t listener, ServerConnection* connection);
  void on_certificates(ServerCertificatesCommand&& command);
  // The pause after running out of descriptors is over: listen again.
  void on_accept_timer();

 private:
  class Listener : public IoHandler {
   public:
    Listener(Server& server, int fd, uint32_t index) : server_(server), fd_(fd), index_(index) {}
    void on_io(uint32_t) override { server_.accept_from(fd_, index_); }
    int fd() const { return fd_; }
    uint32_t index() const { return index_; }

   private:
    Server& server_;
    int fd_;
    uint32_t index_;  // into listeners_security_
  };

  // A listener waiting for the application's certificates: which connections wait with it.
  struct CertificateFetch {
    bool asked = false;  // a kCertificateFetch is out, unanswered
    std::vector<ServerConnection*> waiting;
  };

  void accept_from(int listen_fd, uint32_t listener);
  void close_listeners();
  // Out of descriptors (or memory) for new connections: the listener stays readable, so stop
  // watching it for a while instead of spinning on accept (grpc-go backs off the same way).
  void pause_accepting(const SysResult& failure);

  TransportContext& context_;  // the owner; outlives this
  const uint64_t id_;
  const std::shared_ptr<CompletionQueue> cq_;
  const ServerOptions options_;
  const std::unordered_set<std::string> unary_request_methods_;
  Http2Settings settings_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<ListenerSecurity> listeners_security_;  // by listener index; certificates may change
  std::unordered_map<uint32_t, CertificateFetch> fetches_;  // by listener index
  std::unordered_set<ServerConnection*> connections_;  // owned by the transport context
  bool accepting_ = true;
  bool accept_paused_ = false;
  bool accept_pause_reported_ = false;  // said once on stderr, not once per pause
  std::chrono::milliseconds accept_backoff_{0};
  std::mt19937_64 random_{std::random_device{}()};
};

}  // namespace turbogrpc::internal
