// gRPC target names, parsed as grpc-core parses them (gRPC's naming doc): which addresses a
// target names, which host a resolver must look up, and the :authority calls carry. Pure
// parsing, no I/O and no lookups, so channel creation can refuse a malformed target at once;
// io/address.cc turns the result into socket addresses.
//
//   dns:[//authority/]host[:port]   also the form of a target with no known scheme
//                                   ("localhost:50051", "[::1]:50051"): the host's A and AAAA
//                                   addresses; an IP literal needs no lookup. The authority,
//                                   if any, is the DNS server to ask: addr[:port], port 53
//   ipv4:addr[:port][,addr[:port],...]       every listed address, in order
//   ipv6:addr  ipv6:[addr]:port[,[addr]:port,...]
//   unix:path  unix:///abs/path               a socket file, relative or absolute
//   unix-abstract:name                        a Linux abstract socket; any bytes (%00 for NUL)
//
// As grpc-core parses a target as a URI, the part after the scheme is percent-decoded, and the
// default authority is grpc-core's: that part without its first '/', percent-encoded.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "io/address.h"

namespace turbogrpc::internal {

enum class TargetScheme { kDns, kIpv4, kIpv6, kUnix, kUnixAbstract };

struct ParsedTarget {
  TargetScheme scheme = TargetScheme::kDns;
  // ipv4:, ipv6:, unix:, unix-abstract:, and a dns: target naming an IP literal: every address.
  std::vector<SocketAddress> addresses;
  // A dns: target naming a host: what to look up (both empty otherwise).
  std::string host;
  std::string port;       // decimal; "443" when the target names none
  SocketAddress dns_server;  // the server a dns://server/host target names (length 0: none)
  std::string authority;  // grpc-core's default :authority for the target
  std::string error;      // non-empty: "invalid target '<target>': <what is wrong>"
};

// Never throws; a malformed target comes back with `error` set and no addresses.
ParsedTarget parse_target(const std::string& target);

// "unix:..." or "unix-abstract:..." (client and listen forms are the same): `out` gets the
// one address; false with `*error` saying what is wrong.
bool parse_unix_target(const std::string& target, SocketAddress* out, std::string* error);

// RFC 3986 percent-encoding of a URI path (how grpc-core names abstract-socket peers).
std::string percent_encode_path(std::string_view text);

}  // namespace turbogrpc::internal
