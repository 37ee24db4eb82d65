// Channel: the engine side of one client channel — gRPC's connectivity state machine (IDLE,
// CONNECTING, READY, TRANSIENT_FAILURE, SHUTDOWN), resolving its target, dialling its
// addresses in order (pick_first) with the connection-backoff rules, holding calls until a
// connection is ready, going IDLE after its idle timeout, and replacing connections that fail
// or drain (GOAWAY). Poller thread only.
//
//   IDLE ──call / try_to_connect──► CONNECTING ──server's SETTINGS──► READY
//     ▲                               │  every address failed             │ lost, GOAWAY,
//     │                               ▼                                   │ idle timeout
//     └───────────────────────── TRANSIENT_FAILURE ◄─┐                     ▼
//                                 │ backoff over: try again; stays   ──► IDLE (CONNECTING at
//                                 └─ TRANSIENT_FAILURE until READY        once if calls wait)
//   any ──close()──► SHUTDOWN
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "io/address.h"
#include "rpc/client_call.h"
#include "rpc/retry.h"
#include "tls/tls_stream.h"
#include "transport/backoff.h"
#include "transport/keepalive.h"
#include "turbogrpc/completion_queue.h"
#include "turbogrpc/connectivity.h"
#include "turbogrpc/options.h"

namespace turbogrpc::internal {

class TransportContext;
class ClientConnection;

class Channel {
 public:
  // `state`: where the state is published for other threads (may be null).
  Channel(TransportContext& context, uint64_t id, std::string target, ChannelOptions options,
          std::shared_ptr<ChannelStateCell> state = nullptr);
  ~Channel();

  const ChannelOptions& options() const { return options_; }
  ConnectivityState state() const { return state_; }
  // TLS: the name the server's certificate must carry, and this channel's resumable session.
  std::string tls_server_name() const;
  const std::shared_ptr<TlsResumption>& tls_resumption() const { return tls_resumption_; }
  // When the connection being attempted must be ready by (its connect timer).
  Clock::time_point connect_deadline() const { return attempt_.connect_deadline; }
  // What its connections ping with (off unless grpc.keepalive_time_ms is set).
  KeepaliveSettings keepalive_settings() const;

  // The service config's entry for `method` (null: none), and the retry throttle (null: none),
  // for the calls about to start.
  const MethodConfig* method_config(const std::string& method) const {
    return options_.service_config ? options_.service_config->find(method) : nullptr;
  }
  const std::shared_ptr<RetryThrottle>& retry_throttle() const { return retry_throttle_; }
  const std::shared_ptr<RetryBufferBudget>& retry_buffer() const { return retry_buffer_; }

  void start_call(std::unique_ptr<ClientCall> call);
  // A call whose attempt failed and whose retry policy sends it again (ClientCall::retry_due):
  // held until its delay is over, then sent again.
  void retry_later(std::unique_ptr<ClientCall> call);
  void on_retry_timer();
  // A call whose stream was refused goes again, on the ready connection or the next one.
  void retry_call(std::unique_ptr<ClientCall> call) { submit(std::move(call)); }
  // A call held for its credentials' metadata (ClientCall::awaits_metadata) gets it and starts.
  void release_call(uint64_t call_id, Metadata&& metadata);
  // get_state(try_to_connect=True): an IDLE channel starts connecting.
  void connect_if_idle();
  // One kConnectivity event on `cq` once the state is not `last_seen` (at once if it is not).
  void watch(std::shared_ptr<CompletionQueue> cq, uint64_t token, ConnectivityState last_seen);
  // Cancels every call and closes every connection: SHUTDOWN, for good.
  void close();

  // From its connections and the engine's timers.
  void on_connected(ClientConnection* connection);  // the server's first SETTINGS arrived
  // The connection failed before it was ready (`reason`: connect(), TLS, timeout, closed).
  void on_connect_failed(ClientConnection* connection, const std::string& reason);
  void on_connection_closed(ClientConnection* connection, const Status& reason);
  void on_goaway(ClientConnection* connection);
  // The server sent GOAWAY ENHANCE_YOUR_CALM "too_many_pings": later connections ping half as
  // often (as grpc does).
  void on_too_many_pings();
  void on_reconnect_timer();
  void on_idle_timer();
  void on_resolved(ResolvedTarget result);  // a host-name lookup finished (io/resolver.h)

 private:
  struct Watcher {
    std::shared_ptr<CompletionQueue> cq;
    uint64_t token;
  };

  void set_state(ConnectivityState state);
  // IDLE or TRANSIENT_FAILURE → a new pass over the addresses (CONNECTING, or sticky
  // TRANSIENT_FAILURE), resolving the target first when needed.
  void start_connecting();
  void dial_next();  // dials addresses_ from address_index_ on
  // Starts `call` on the ready connection, keeps it until one is, or fails it fast.
  void submit(std::unique_ptr<ClientCall> call);
  bool use_addresses(ResolvedTarget result);
  void all_addresses_failed();
  void fail_pending(const Status& status, bool keep_wait_for_ready);
  void submit_pending();
  void schedule_idle_check(Clock::time_point from);
  Status unavailable() const;

  TransportContext& context_;  // the owner; outlives this
  const uint64_t id_;
  const std::string target_;
  const ChannelOptions options_;
  std::string user_agent_;
  const std::shared_ptr<TlsResumption> tls_resumption_;  // null without TLS
  const std::shared_ptr<ChannelStateCell> state_cell_;  // may be null

  ConnectivityState state_ = ConnectivityState::kIdle;
  std::vector<Watcher> watchers_;
  ConnectionBackoff backoff_;
  ConnectionBackoff::Attempt attempt_{};  // the current (or last) pass over the addresses
  Clock::time_point last_call_ = Clock::now();  // when a call last started (idle timeout)
  int64_t keepalive_time_ms_;  // options_'s, doubled by each "too_many_pings"
  Clock::time_point attempt_started_{};  // when the address being dialled was dialled (trace)

  bool resolved_ = false;   // addresses_ is usable (false: the name must be looked up first)
  bool stale_ = false;      // addresses_ may be out of date: look the name up again when allowed
  Clock::time_point last_lookup_{};  // when the last lookup started (the re-resolution rate limit)
  bool resolving_ = false;  // a lookup is running on the resolver
  ResolvedTarget addresses_;
  size_t address_index_ = 0;
  std::string last_connect_error_;

  ClientConnection* active_ = nullptr;  // connecting or ready; owned by the transport context
  std::vector<ClientConnection*> draining_;  // got GOAWAY or went idle; finishing their streams
  std::vector<std::unique_ptr<ClientCall>> pending_;  // waiting for a ready connection
  std::vector<std::unique_ptr<ClientCall>> held_;  // waiting for their call credentials
  struct RetryingCall {
    Clock::time_point due;
    std::unique_ptr<ClientCall> call;
  };
  std::vector<RetryingCall> retrying_;  // waiting for their next attempt (retry_later)
  std::shared_ptr<RetryThrottle> retry_throttle_;  // null without retryThrottling
  std::shared_ptr<RetryBufferBudget> retry_buffer_;  // grpc.retry_buffer_size, shared by its calls
  bool reconnect_scheduled_ = false;  // a kChannelReconnect timer for attempt_.retry_at
  bool idle_check_scheduled_ = false;
};

}  // namespace turbogrpc::internal
