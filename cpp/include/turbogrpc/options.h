// Channel and server options the engine understands (parsed from grpc-style option pairs
// by the binding). Defaults match grpcio's.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "turbogrpc/service_config.h"
#include "turbogrpc/tls.h"

namespace turbogrpc {

// Received header list size (RFC 9113: name + value + 32 per field), per header block: over
// the soft limit a block is refused with growing probability, over the hard one always (the
// call ends RESOURCE_EXHAUSTED). grpcio's grpc.max_metadata_size and
// grpc.absolute_max_metadata_size, with its defaults. The hard limit is what we advertise in
// SETTINGS_MAX_HEADER_LIST_SIZE.
constexpr int64_t kDefaultMaxMetadataSize = 8 * 1024;
constexpr int64_t kDefaultAbsoluteMaxMetadataSize = 16 * 1024;

// How a channel spreads calls over its target's addresses (grpc.lb_policy_name, or the service
// config's loadBalancingConfig): pick_first uses one connection, failing over in order;
// round_robin connects to every address and sends calls to the ready ones in turn.
enum class LbPolicy { kPickFirst, kRoundRobin };

// Local channel credentials (grpc.local_channel_credentials): the channel connects only to
// unix sockets (kUds) or loopback TCP addresses (kLoopbackTcp); any other address its target
// resolves to fails to connect, as grpc-core's local handshake refuses it.
enum class LocalConnection { kAny, kUds, kLoopbackTcp };

struct ChannelOptions {
  int64_t max_receive_message_length = 4 * 1024 * 1024;  // -1 = unlimited
  int64_t max_send_message_length = -1;                  // -1 = unlimited
  int64_t max_metadata_size = kDefaultMaxMetadataSize;
  int64_t absolute_max_metadata_size = kDefaultAbsoluteMaxMetadataSize;
  std::string authority;                                 // default: the target's host:port
  std::string user_agent;                                // prefixed to ours
  // TLS (null: plaintext). The server's certificate must name `tls_server_name` (also sent as
  // SNI); empty: the authority's host (grpc.ssl_target_name_override sets it).
  std::shared_ptr<const internal::TlsClientContext> tls;
  std::string tls_server_name;
  // Reconnecting (gRPC's connection-backoff doc, grpcio's option names): the first retry after
  // initial_reconnect_backoff_ms, growing 1.6x (jitter 0.2) up to max_reconnect_backoff_ms;
  // every connect attempt may take at least min_reconnect_backoff_ms.
  int64_t initial_reconnect_backoff_ms = 1'000;
  int64_t min_reconnect_backoff_ms = 20'000;
  int64_t max_reconnect_backoff_ms = 120'000;
  // No call for this long: the channel closes its connection and goes IDLE; the next call
  // connects again (grpc.client_idle_timeout_ms, grpcio's default 30 min). <= 0: never.
  int64_t idle_timeout_ms = 30 * 60 * 1000;
  // Keepalive (gRPC's keepalive doc): a PING after keepalive_time_ms without reading anything
  // (grpc.keepalive_time_ms; off by default on channels, as grpcio: <= 0), and the connection
  // is closed, its calls UNAVAILABLE, when no ACK comes within keepalive_timeout_ms
  // (grpc.keepalive_timeout_ms, 20 s). Only while calls are open unless
  // grpc.keepalive_permit_without_calls; at most grpc.http2.max_pings_without_data pings
  // (grpc-core's default 2; 0: unlimited) until we send HEADERS or DATA again.
  int64_t keepalive_time_ms = -1;
  int64_t keepalive_timeout_ms = 20'000;
  bool keepalive_permit_without_calls = false;
  int64_t max_pings_without_data = 2;
  // A host name is looked up again (connection lost, GOAWAY, every address failed) at most
  // this often (grpc.dns_min_time_between_resolutions_ms; grpc's default 30 s).
  int64_t min_time_between_resolutions_ms = 30'000;
  LbPolicy lb_policy = LbPolicy::kPickFirst;
  // pick_first's shuffleAddressList (the service config's loadBalancingConfig, gRPC's A62):
  // each resolution's addresses are tried in a random order, so the clients of one name do not
  // all land on its first address.
  bool shuffle_address_list = false;
  // Happy Eyeballs (gRPC's A61, RFC 8305): an address that has not connected within this many
  // ms gets company: the next address is dialled too, and the first to connect wins
  // (grpc.happy_eyeballs_connection_attempt_delay_ms; grpc's 250, kept within 100-2000).
  int64_t happy_eyeballs_delay_ms = 250;
  // Client-side health checking (the service config's healthCheckConfig.serviceName, gRPC's
  // A17): round_robin sends calls only to backends whose grpc.health.v1 Watch for this
  // service says SERVING. Unset: no health checking.
  std::optional<std::string> health_check_service;
  LocalConnection local_connection = LocalConnection::kAny;
  // The service config (grpc.service_config; null: none): per-method timeouts, wait_for_ready,
  // message limits and retry policies, and retry throttling.
  std::shared_ptr<const ServiceConfig> service_config;
  // Configured retries (grpc.enable_retries, on by default as grpcio). A call keeps up to
  // per_rpc_retry_buffer_size bytes of what it sent so it can send it again (grpc's default
  // 256 KiB); a call that sent more is committed and not retried. The calls with a retry
  // policy keep at most retry_buffer_size bytes together (grpc.retry_buffer_size, as grpc-js
  // and grpc-java: 16 MiB; < 0: unlimited); one that would go over commits as well.
  bool enable_retries = true;
  int64_t per_rpc_retry_buffer_size = 256 * 1024;
  int64_t retry_buffer_size = 16 * 1024 * 1024;
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
  // A connection that has not sent the HTTP/2 preface and its SETTINGS by then is closed
  // (grpc.server_handshake_timeout_ms; grpc-core's default is 120 s, ours 20 s). <= 0: none.
  int64_t handshake_timeout_ms = 20'000;
  // A connection with no open stream for this long gets GOAWAY and is closed when its peer is
  // done (grpc.max_connection_idle_ms, as grpc-go's MaxConnectionIdle). <= 0: never (grpcio's default).
  int64_t max_connection_idle_ms = -1;
  // A connection older than this (+-10% jitter, as grpc-go) gets the two-phase GOAWAY; its
  // calls then have max_connection_age_grace_ms before it is closed and they are cancelled
  // (grpc.max_connection_age_ms / grpc.max_connection_age_grace_ms; grpcio: both infinite). <= 0: never.
  int64_t max_connection_age_ms = -1;
  int64_t max_connection_age_grace_ms = -1;
  // Server keepalive: a PING after keepalive_time_ms without reading anything, the connection
  // closed when no ACK comes within keepalive_timeout_ms (grpc.keepalive_time_ms, 2 h on
  // servers; grpc.keepalive_timeout_ms, 20 s). <= 0: off.
  int64_t keepalive_time_ms = 2 * 60 * 60 * 1000;
  int64_t keepalive_timeout_ms = 20'000;
  // Ping policing (grpc-core / grpc-go enforcement): a PING sooner than
  // min_ping_interval_without_data_ms after the last one (grpc.http2.min_ping_interval_without_data_ms,
  // 5 min) — or, with no call open and !permit_without_calls (grpc.keepalive_permit_without_calls,
  // 0), sooner than 2 h — is a strike; strikes reset when we send HEADERS or DATA. More than
  // max_ping_strikes (grpc.http2.max_ping_strikes, 2; 0: unlimited) → GOAWAY ENHANCE_YOUR_CALM
  // "too_many_pings", then the connection is closed.
  int64_t min_ping_interval_without_data_ms = 5 * 60 * 1000;
  int64_t max_ping_strikes = 2;
  bool keepalive_permit_without_calls = false;
  // grpc.compression_enabled_algorithms_bitset: bit i enables grpcio's Compression value i.
  // A request compressed with a disabled algorithm gets UNIMPLEMENTED; responses never use one.
  // Identity is always enabled.
  uint8_t enabled_compression = 0b111;
};

}  // namespace turbogrpc
