// Subchannel: one connection's worth of a channel — a list of addresses dialled in order with
// the connection-backoff rules, the connection that came of it, and its own connectivity
// state. pick_first gives its channel one subchannel over every address; round_robin one per
// address. The Channel decides when a subchannel connects and which one a call goes to; the
// subchannel tells it what happened. Poller thread only.
//
// With health checking (A17), a connected subchannel is READY only while its health watch says
// SERVING (TRANSIENT_FAILURE otherwise), and CONNECTING until the first answer.
//
// Happy Eyeballs (gRPC's A61, RFC 8305): an address that has neither connected nor failed
// within the channel's happy_eyeballs_delay_ms keeps dialling while the next one is dialled
// too, so an address that drops packets costs a pass that delay, not the connect timeout. The
// first connection to get the server's SETTINGS wins; the others are closed.
//
//   IDLE ──connect()──► CONNECTING ──server's SETTINGS──► READY
//     ▲                   │ every address failed             │ lost, GOAWAY, go_idle()
//     │                   ▼                                  ▼
//     │             TRANSIENT_FAILURE (sticky: a new pass     IDLE
//     │             after the backoff does not show CONNECTING)
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "io/address.h"
#include "rpc/client_call.h"
#include "tls/tls_stream.h"
#include "transport/backoff.h"
#include "transport/health_watch.h"
#include "transport/keepalive.h"
#include "turbogrpc/connectivity.h"
#include "turbogrpc/options.h"

namespace turbogrpc::internal {

class Channel;
class ClientConnection;
class TransportContext;

// grpc's connection-backoff settings from the channel's options.
BackoffSettings reconnect_backoff_settings(const ChannelOptions& options);

class Subchannel {
 public:
  Subchannel(Channel& channel, TransportContext& context, std::vector<SocketAddress> addresses);
  ~Subchannel();
  Subchannel(const Subchannel&) = delete;
  Subchannel& operator=(const Subchannel&) = delete;

  ConnectivityState state() const { return state_; }
  // READY: where calls go.
  ClientConnection* ready_connection() const { return state_ == ConnectivityState::kReady ? active_ : nullptr; }
  const std::vector<SocketAddress>& addresses() const { return addresses_; }
  // A re-resolution's list; the next pass over the addresses uses it.
  void set_addresses(std::vector<SocketAddress> addresses) { addresses_ = std::move(addresses); }
  // When the last failed pass allows the next one (TRANSIENT_FAILURE).
  Clock::time_point retry_at() const { return attempt_.retry_at; }
  const std::string& last_error() const { return last_connect_error_; }
  // No connection, connecting, ready or draining: nothing refers to this subchannel any more.
  bool unused() const { return active_ == nullptr && draining_.empty() && earlier_attempts_.empty(); }

  // A pass over the addresses, from IDLE or TRANSIENT_FAILURE; nothing if one is under way.
  void connect();
  // Streams in flight on the ready connection, and when that number last changed.
  size_t active_streams() const;
  Clock::time_point last_stream_change() const;
  // The idle timeout or the resolver dropped this address: its connection drains (GOAWAY),
  // and the subchannel is IDLE without telling the channel it was lost.
  void go_idle();
  // The channel is closed: every connection closes at once, its calls ending with `reason`.
  void close(const Status& reason);
  // The health watch's news (the channel's kChannelHealth timer): may change the state.
  void poll_health(Clock::time_point now);
  const std::string& health_error() const;
  // The channel's kChannelDialNext timer: dials the next address if the current one is slow.
  void on_dial_timer(Clock::time_point now);

  // From its connections.
  Channel& channel() { return channel_; }
  const ChannelOptions& options() const;
  Clock::time_point connect_deadline() const { return attempt_.connect_deadline; }
  void on_connected(ClientConnection* connection);  // the server's first SETTINGS arrived
  // The connection failed before it was ready (`reason`: connect(), TLS, timeout, closed).
  void on_connect_failed(ClientConnection* connection, const std::string& reason);
  void on_connection_closed(ClientConnection* connection, const Status& reason);
  void on_goaway(ClientConnection* connection);

 private:
  void set_state(ConnectivityState state);
  void dial_next();  // dials addresses_ from address_index_ on
  bool is_earlier_attempt(ClientConnection* connection) const;
  bool take_earlier_attempt(ClientConnection* connection);  // true: it was one (now removed)
  void close_earlier_attempts(const char* why);
  void all_addresses_failed();
  void lost();  // READY → IDLE: the connection closed or the server sent GOAWAY
  void disconnected();  // the connection is no longer usable: stop what runs on it

  Channel& channel_;  // the owner; outlives this
  TransportContext& context_;
  std::vector<SocketAddress> addresses_;
  ConnectivityState state_ = ConnectivityState::kIdle;
  ConnectionBackoff backoff_;
  ConnectionBackoff::Attempt attempt_{};  // the current (or last) pass over the addresses
  size_t address_index_ = 0;
  Clock::time_point attempt_started_{};  // when the address being dialled was dialled (trace)
  std::string last_connect_error_;
  ClientConnection* active_ = nullptr;  // connecting or ready; owned by the transport context
  // Attempts of this pass still connecting that Happy Eyeballs moved past (active_ is newer).
  std::vector<ClientConnection*> earlier_attempts_;
  Clock::time_point next_dial_at_{};  // when the next address is dialled if active_ is still connecting
  bool connected_ = false;  // active_ got the server's SETTINGS (READY unless health says not)
  std::unique_ptr<HealthWatch> health_;  // null: no health checking
  std::vector<ClientConnection*> draining_;  // got GOAWAY or went idle; finishing their streams
};

}  // namespace turbogrpc::internal
