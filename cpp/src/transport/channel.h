// Channel: the engine side of one client channel — resolving its target, dialling, holding
// calls until a connection is ready, and replacing connections that fail or drain (GOAWAY).
// Poller thread only.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "io/address.h"
#include "rpc/client_call.h"
#include "tls/tls_stream.h"
#include "turbogrpc/options.h"

namespace turbogrpc::internal {

class TransportContext;
class ClientConnection;

class Channel {
 public:
  Channel(TransportContext& context, uint64_t id, std::string target, ChannelOptions options);
  ~Channel();

  const ChannelOptions& options() const { return options_; }
  // TLS: the name the server's certificate must carry, and this channel's resumable session.
  std::string tls_server_name() const;
  const std::shared_ptr<TlsResumption>& tls_resumption() const { return tls_resumption_; }

  void start_call(std::unique_ptr<ClientCall> call);
  // A call held for its credentials' metadata (ClientCall::awaits_metadata) gets it and starts.
  void release_call(uint64_t call_id, Metadata&& metadata);
  // Cancels every call and closes every connection. The channel is dead afterwards.
  void close();

  // From its connections and the engine's timers.
  void on_connected(ClientConnection* connection);
  // The connection failed before it was ready (`reason`: connect() or the TLS handshake).
  void on_connect_failed(ClientConnection* connection, const std::string& reason);
  void on_connection_closed(ClientConnection* connection, const Status& reason);
  void on_goaway(ClientConnection* connection);
  void on_reconnect_timer();
  void on_resolved(ResolvedTarget result);  // a host-name lookup finished (io/resolver.h)

 private:
  void connect();
  // Starts `call` on the ready connection, or keeps it until one is.
  void submit(std::unique_ptr<ClientCall> call);
  // Takes a finished resolution; false (pending calls failed) when it is an error.
  bool use_addresses(ResolvedTarget result);
  void all_addresses_failed();
  void fail_pending(const Status& status);
  void submit_pending();

  TransportContext& context_;  // the owner; outlives this
  const uint64_t id_;
  const std::string target_;
  const ChannelOptions options_;
  std::string user_agent_;
  const std::shared_ptr<TlsResumption> tls_resumption_;  // null without TLS

  bool resolved_ = false;   // addresses_ is usable; cleared to look the name up again
  bool resolving_ = false;  // a lookup is running on the resolver
  ResolvedTarget addresses_;
  size_t address_index_ = 0;
  std::string last_connect_error_;

  ClientConnection* active_ = nullptr;  // connecting or ready; owned by the transport context
  std::vector<ClientConnection*> draining_;  // got GOAWAY; finishing their streams
  std::vector<std::unique_ptr<ClientCall>> pending_;  // waiting for a ready connection
  std::vector<std::unique_ptr<ClientCall>> held_;  // waiting for their call credentials
  bool reconnect_scheduled_ = false;
  std::chrono::milliseconds backoff_{1000};
  bool closed_ = false;
};

}  // namespace turbogrpc::internal
