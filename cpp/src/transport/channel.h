// Channel: the engine side of one client channel — gRPC's connectivity state machine (IDLE,
// CONNECTING, READY, TRANSIENT_FAILURE, SHUTDOWN) over its subchannels (transport/subchannel.h),
// resolving its target, holding calls until a subchannel is ready, picking one per call by its
// load-balancing policy, and going IDLE after its idle timeout. Poller thread only.
//
// pick_first: one subchannel over every address, in order. round_robin: one per address, each
// connected at once and again whenever it is lost; calls go to the READY ones in turn.
// The channel's state aggregates its subchannels' as grpc's: READY if any is, else CONNECTING
// if any is (or the name is being looked up), else IDLE if any is, else TRANSIENT_FAILURE.
//
//   IDLE ──call / try_to_connect──► CONNECTING ──a subchannel READY──► READY
//     ▲                               │  every subchannel failed          │ lost, GOAWAY,
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
#include "rpc/hedging.h"
#include "rpc/retry.h"
#include "tls/tls_stream.h"
#include "transport/backoff.h"
#include "transport/keepalive.h"
#include "transport/subchannel.h"
#include "turbogrpc/completion_queue.h"
#include "turbogrpc/connectivity.h"
#include "turbogrpc/options.h"

namespace turbogrpc::internal {

class TransportContext;
class ClientConnection;

class Channel final : public HedgeHost {
 public:
  // `state`: where the state is published for other threads (may be null).
  Channel(TransportContext& context, uint64_t id, std::string target, ChannelOptions options,
          std::shared_ptr<ChannelStateCell> state = nullptr);
  ~Channel() override;

  const ChannelOptions& options() const { return options_; }
  ConnectivityState state() const { return state_; }
  // TLS: the name the server's certificate must carry, and this channel's resumable session.
  std::string tls_server_name() const;
  const std::shared_ptr<TlsResumption>& tls_resumption() const { return tls_resumption_; }
  // What its connections ping with (off unless grpc.keepalive_time_ms is set).
  KeepaliveSettings keepalive_settings() const;

  // The service config's entry for `method` (null: none), and the retry throttle (null: none),
  // for the calls about to start.
  const MethodConfig* method_config(const std::string& method) const {
    return options_.service_config ? options_.service_config->find(method) : nullptr;
  }
  const std::shared_ptr<RetryThrottle>& retry_throttle() const { return retry_throttle_; }
  // How many of its subchannels are READY (tests and traces).
  size_t ready_subchannels() const;
  const std::shared_ptr<RetryBufferBudget>& retry_buffer() const { return retry_buffer_; }

  void start_call(std::unique_ptr<ClientCall> call);
  // A call whose attempt failed and whose retry policy sends it again (ClientCall::retry_due):
  // held until its delay is over, then sent again.
  void retry_later(std::unique_ptr<ClientCall> call);
  void on_retry_timer();
  // Hedged calls (rpc/hedging.h): another attempt goes out like any call; a hedging's wakeup
  // rides on the retry timer.
  void start_hedge(std::unique_ptr<ClientCall> attempt) override;
  void wake_hedging_at(Clock::time_point due, std::weak_ptr<Hedging> hedging) override;
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

  // From its subchannels' connections and the engine's timers.
  // The server sent GOAWAY ENHANCE_YOUR_CALM "too_many_pings": later connections ping half as
  // often (as grpc does).
  void on_too_many_pings();
  void on_reconnect_timer();
  void on_idle_timer();
  void on_resolved(ResolvedTarget result);  // a host-name lookup finished (io/resolver.h)

  // From its subchannels.
  void on_subchannel_state();  // a subchannel's state changed: the channel's may too
  void on_subchannel_ready(Subchannel& subchannel);
  void on_subchannel_failed(Subchannel& subchannel);  // every address failed
  void on_subchannel_lost(Subchannel& subchannel);  // READY → IDLE: closed, or GOAWAY
  void on_subchannel_unhealthy(Subchannel& subchannel);  // its health watch said not SERVING
  void on_health_timer();  // the subchannels' health watches have news or restarts due
  void on_dial_timer();    // a subchannel's address may have had its Happy Eyeballs delay
  // The service its subchannels' health watches ask about (null: no health checking, which
  // round_robin alone does: A17's pick_first never checks).
  const std::string* health_check_service() const {
    return round_robin() && options_.health_check_service ? &*options_.health_check_service : nullptr;
  }
  uint64_t id() const { return id_; }
  const std::string& authority() const { return authority_; }
  const std::string& user_agent() const { return user_agent_; }
  void trace(const std::string& line) const;  // a kChannel trace line naming this channel

 private:
  struct Watcher {
    std::shared_ptr<CompletionQueue> cq;
    uint64_t token;
  };

  void set_state(ConnectivityState state);
  ConnectivityState aggregate_state() const;
  // IDLE or TRANSIENT_FAILURE → a new pass over the addresses (CONNECTING, or sticky
  // TRANSIENT_FAILURE), resolving the target first when needed.
  void start_connecting();
  // Subchannels the policy wants connecting now connect (after a lookup, if one is due).
  void connect_wanted();
  bool use_addresses(ResolvedTarget result);
  // One subchannel per address (round_robin) or one over all (pick_first), keeping those
  // whose address is still there.
  void update_subchannels(std::vector<SocketAddress> addresses);
  // The next READY subchannel's connection by the policy (null: none is ready).
  ClientConnection* pick();
  // pick() for an attempt of a hedged call: a connection none of its other attempts is on,
  // if one is READY (a hedge is there to get past a slow replica, not to wait on it again).
  ClientConnection* pick_for_hedge(const Hedging& hedging);
  // Starts `call` on a ready subchannel, keeps it until one is, or fails it fast.
  void submit(std::unique_ptr<ClientCall> call);
  void fail_pending(const Status& status, bool keep_wait_for_ready);
  void submit_pending();
  void wake_hedges();  // the hedgings whose wakeup is due (from on_retry_timer)
  void schedule_idle_check(Clock::time_point from);
  Status unavailable() const;
  bool round_robin() const { return options_.lb_policy == LbPolicy::kRoundRobin; }

  TransportContext& context_;  // the owner; outlives this
  const uint64_t id_;
  const std::string target_;
  const ChannelOptions options_;
  std::string user_agent_;
  std::string authority_;
  const std::shared_ptr<TlsResumption> tls_resumption_;  // null without TLS
  const std::shared_ptr<ChannelStateCell> state_cell_;  // may be null

  ConnectivityState state_ = ConnectivityState::kIdle;
  std::vector<Watcher> watchers_;
  Clock::time_point last_call_ = Clock::now();  // when a call last started (idle timeout)
  int64_t keepalive_time_ms_;  // options_'s, doubled by each "too_many_pings"

  bool resolved_ = false;   // the subchannels' addresses are usable (false: look the name up)
  bool stale_ = false;      // they may be out of date: look the name up again when allowed
  Clock::time_point last_lookup_{};  // when the last lookup started (the re-resolution rate limit)
  bool resolving_ = false;  // a lookup is running on the resolver
  bool lookup_failed_ = false;  // the last lookup failed and no addresses are known
  ConnectionBackoff lookup_backoff_;  // when a failed first lookup is tried again
  Clock::time_point lookup_retry_at_{};
  bool connecting_wanted_ = false;  // since a call or try_to_connect, until the idle timeout
  std::string last_connect_error_;

  std::vector<std::unique_ptr<Subchannel>> subchannels_;
  // Dropped by a re-resolution while their connections drain; freed once unused.
  std::vector<std::unique_ptr<Subchannel>> retired_;
  size_t next_pick_ = 0;  // round_robin: where the next pick starts
  std::vector<std::unique_ptr<ClientCall>> pending_;  // waiting for a ready subchannel
  std::vector<std::unique_ptr<ClientCall>> held_;  // waiting for their call credentials
  struct RetryingCall {
    Clock::time_point due;
    std::unique_ptr<ClientCall> call;
  };
  std::vector<RetryingCall> retrying_;  // waiting for their next attempt (retry_later)
  struct HedgeWake {
    Clock::time_point due;
    std::weak_ptr<Hedging> hedging;
  };
  std::vector<HedgeWake> hedge_wakes_;  // wake_hedging_at
  std::shared_ptr<RetryThrottle> retry_throttle_;  // null without retryThrottling
  std::shared_ptr<RetryBufferBudget> retry_buffer_;  // grpc.retry_buffer_size, shared by its calls
  bool idle_check_scheduled_ = false;
};

}  // namespace turbogrpc::internal
