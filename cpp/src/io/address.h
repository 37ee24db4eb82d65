// Socket addresses: parsing gRPC targets and listen addresses, connecting, listening, naming peers.
// Used by the transport layer (connect, accept) and by listen_on() on the caller's thread.
#pragma once

#include <sys/socket.h>

#include <string>
#include <vector>

#include "io/sys_error.h"

namespace turbogrpc::internal {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  int family() const { return storage.ss_family; }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

struct ResolvedTarget {
  std::vector<SocketAddress> addresses;  // tried in order
  std::string authority;                 // ":authority" for requests (grpc-core's default)
  std::string error;                     // non-empty when the target could not be resolved
  bool needs_lookup = false;             // resolve_target_without_lookup met a host name
};

// A client's target, in every form gRPC names (io/target.h parses them; a malformed one comes
// back with `error` saying what is wrong). A host name goes through getaddrinfo: all its A and
// AAAA addresses. A missing port means 443, as gRPC's default. Blocks on the lookup.
ResolvedTarget resolve_target(const std::string& target);

// resolve_target without blocking: numeric addresses and unix sockets resolve here; for a host
// name the result has `needs_lookup` set (io/resolver.h does those off the poller thread).
ResolvedTarget resolve_target_without_lookup(const std::string& target);

// A server's address: "host:port", "[v6]:port" ("[::]" or ":port" listens dual-stack on every
// interface), "unix:path", "unix:///abs/path", "unix-abstract:name" (parsed as targets are).
ResolvedTarget resolve_listen_address(const std::string& address);

// A nonblocking, close-on-exec socket for `address`, connect() started (EINPROGRESS is fine).
SysResult start_connect(const SocketAddress& address);
// After a nonblocking connect completes: 0 or the connect error.
int connect_error(int fd);

// SO_REUSEPORT on a TCP listener (grpc.so_reuseport; grpcio's default is on): several
// listeners that all set it may share a port. Without it, binding a taken port fails.
enum class ReusePort { kNo, kYes };

// Bound, listening, nonblocking socket; `port` receives the bound port (0 for unix sockets).
SysResult listen_socket(const SocketAddress& address, int* port,
                        ReusePort reuse_port = ReusePort::kYes);

struct Listener {
  int fd = -1;        // the listening socket, or -1 with `error` set
  int port = 0;       // the bound port (0 for unix sockets)
  std::string error;  // "Failed to bind to address <address>: <reason>"
};

// Resolves `address` (resolve_listen_address's forms) and listens on the first of its
// addresses that binds. Runs on the calling thread.
Listener listen_on_address(const std::string& address, ReusePort reuse_port);

// As grpc names peers: "ipv4:127.0.0.1:5555", "ipv6:[::1]:5555" ("ipv6:[fe80::1%eth0]:5555" with
// a scope), "unix:/path", "unix-abstract:name" (percent-encoded, as grpc-core); an IPv4-mapped IPv6 address ([::ffff:a.b.c.d], a dual-stack
// listener's IPv4 peer) is named as the IPv4 address it is.
std::string describe_address(const sockaddr* address, socklen_t length);
std::string peer_name(int fd);

// 127.0.0.0/8, ::1, or IPv4-mapped loopback (local credentials accept only these over TCP).
bool is_loopback(const sockaddr_storage& address);

// TCP_NODELAY on TCP sockets (no-op on unix sockets).
void set_no_delay(int fd);

}  // namespace turbogrpc::internal
