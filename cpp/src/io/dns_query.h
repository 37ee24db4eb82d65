// Lookups against the DNS server a target names ("dns://10.0.0.53:53/host:port"). getaddrinfo
// can only ask the machine's configured servers; grpc-core's c-ares resolver and grpc-go ask
// the named one. glibc's resolver library (res_nquery) does the asking, with its retries,
// timeouts and TCP fallback for truncated answers; we only read the A and AAAA records out.
// Blocks: called on the resolver's lookup threads (io/resolver.h), never on the poller.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/address.h"

namespace turbogrpc::internal {

// Every A and AAAA address of `host` as `server` answers, each with `port`: IPv6 before IPv4,
// then those this machine has no route to last (RFC 6724's first and sixth rules, what
// getaddrinfo's order comes down to for one host). Returns what went wrong, or "" with at
// least one address in `out`.
std::string query_dns_server(const SocketAddress& server, const std::string& host, uint16_t port,
                             std::vector<SocketAddress>* out);

}  // namespace turbogrpc::internal
