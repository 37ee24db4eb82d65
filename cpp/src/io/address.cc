#include "io/address.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

#include "io/dns_query.h"
#include "io/target.h"

namespace turbogrpc::internal {
namespace {

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// A listen address's host:port / [v6]:port / host; returns false on a malformed bracket.
bool split_host_port(const std::string& s, std::string* host, std::string* port) {
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string::npos) return false;
    *host = s.substr(1, close - 1);
    if (close + 1 < s.size()) {
      if (s[close + 1] != ':') return false;
      *port = s.substr(close + 2);
    }
    return true;
  }
  auto colon = s.rfind(':');
  if (colon != std::string::npos && s.find(':') == colon) {
    *host = s.substr(0, colon);
    *port = s.substr(colon + 1);
  } else {
    *host = s;  // no port, or a bare IPv6 literal
  }
  return true;
}

// getaddrinfo's answers, in its order, appended to out->addresses; or out->error.
void lookup(const char* node, const std::string& port, const addrinfo& hints,
            const std::string& original, ResolvedTarget* out) {
  addrinfo* result = nullptr;
  int rc = getaddrinfo(node, port.c_str(), &hints, &result);
  if (rc != 0) {
    out->error = "cannot resolve '" + original + "': " + gai_strerror(rc);
    return;
  }
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    SocketAddress a;
    std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
    a.length = ai->ai_addrlen;
    out->addresses.push_back(a);
  }
  freeaddrinfo(result);
  if (out->addresses.empty()) out->error = "no addresses for '" + original + "'";
}

// A server's TCP address: "[::]" or an empty host listens dual-stack on every interface.
ResolvedTarget resolve_listen_inet(const std::string& hostport, const std::string& original) {
  ResolvedTarget out;
  std::string host, port;
  if (!split_host_port(hostport, &host, &port)) {
    out.error = "malformed address '" + original + "'";
    return out;
  }
  if (port.empty()) port = "443";
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
  const char* node = host.empty() ? nullptr : host.c_str();
  if (host == "::" || host.empty()) {
    hints.ai_family = AF_INET6;  // dual-stack wildcard
    node = "::";
  }
  if (host == "localhost") node = "127.0.0.1";
  lookup(node, port, hints, original, &out);
  return out;
}

enum class Lookup { kNow, kLater };

ResolvedTarget resolve_client(const std::string& target, Lookup when) {
  ParsedTarget parsed = parse_target(target);
  ResolvedTarget out;
  out.authority = std::move(parsed.authority);
  out.error = std::move(parsed.error);
  out.addresses = std::move(parsed.addresses);
  if (!out.error.empty() || parsed.host.empty()) return out;
  if (when == Lookup::kLater) {
    out.needs_lookup = true;
    return out;
  }
  if (parsed.dns_server.length != 0) {
    out.error = query_dns_server(parsed.dns_server, parsed.host,
                                 static_cast<uint16_t>(std::stoul(parsed.port)), &out.addresses);
    if (!out.error.empty()) out.error = "cannot resolve '" + target + "': " + out.error;
    return out;
  }
  // Every A and AAAA address of the host, in getaddrinfo's (RFC 6724) order.
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  hints.ai_flags = AI_NUMERICSERV;
  lookup(parsed.host.c_str(), parsed.port, hints, target, &out);
  return out;
}

}  // namespace

ResolvedTarget resolve_target(const std::string& target) { return resolve_client(target, Lookup::kNow); }
ResolvedTarget resolve_target_without_lookup(const std::string& target) {
  return resolve_client(target, Lookup::kLater);
}

ResolvedTarget resolve_listen_address(const std::string& address) {
  if (starts_with(address, "unix:") || starts_with(address, "unix-abstract:")) {
    ResolvedTarget out;
    SocketAddress a;
    std::string wrong;
    if (parse_unix_target(address, &a, &wrong)) out.addresses.push_back(a);
    else out.error = "invalid address '" + address + "': " + wrong;
    return out;
  }
  std::string rest = address;
  if (starts_with(rest, "dns:///")) rest = rest.substr(7);
  else if (starts_with(rest, "dns:")) rest = rest.substr(4);
  else if (starts_with(rest, "ipv4:")) rest = rest.substr(5);
  else if (starts_with(rest, "ipv6:")) rest = rest.substr(5);
  return resolve_listen_inet(rest, address);
}

SysResult start_connect(const SocketAddress& address) {
  SysResult s = sys_call([&] {
    return ::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  });
  if (!s.ok()) return s;
  int fd = static_cast<int>(s.value);
  set_no_delay(fd);
  SysResult c = sys_call([&] { return ::connect(fd, address.get(), address.length); });
  if (!c.ok() && c.error != EINPROGRESS) {
    ::close(fd);
    return c;
  }
  return {fd, 0};
}

int connect_error(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
  return err;
}

SysResult listen_socket(const SocketAddress& address, int* port, ReusePort reuse_port) {
  SysResult s = sys_call([&] {
    return ::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  });
  if (!s.ok()) return s;
  int fd = static_cast<int>(s.value);
  int one = 1, zero = 0;
  if (address.family() == AF_UNIX) {
    // A stale socket file from an earlier run would make bind() fail; grpc removes it too. An
    // abstract name (sun_path[0] == '\0') has no file: it goes with its last socket.
    const auto* un = reinterpret_cast<const sockaddr_un*>(&address.storage);
    struct stat st{};
    if (un->sun_path[0] != '\0' && ::stat(un->sun_path, &st) == 0 && S_ISSOCK(st.st_mode)) {
      ::unlink(un->sun_path);
    }
  } else {
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuse_port == ReusePort::kYes)
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (address.family() == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  }
  SysResult b = sys_call([&] { return ::bind(fd, address.get(), address.length); });
  if (b.ok()) b = sys_call([&] { return ::listen(fd, 1024); });
  if (!b.ok()) {
    ::close(fd);
    return b;
  }
  *port = 0;
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) == 0) {
    if (bound.ss_family == AF_INET) *port = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    if (bound.ss_family == AF_INET6) *port = ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  }
  return {fd, 0};
}

Listener listen_on_address(const std::string& address, ReusePort reuse_port) {
  Listener out;
  ResolvedTarget resolved = resolve_listen_address(address);
  if (!resolved.error.empty()) {
    out.error = resolved.error;
    return out;
  }
  std::string last_error;
  for (const auto& a : resolved.addresses) {
    SysResult s = listen_socket(a, &out.port, reuse_port);
    if (s.ok()) {
      out.fd = static_cast<int>(s.value);
      return out;
    }
    last_error = s.message();
  }
  out.error = "Failed to bind to address " + address + ": " + last_error;
  return out;
}

std::string describe_address(const sockaddr* address, socklen_t length) {
  char buf[INET6_ADDRSTRLEN] = {0};
  switch (address->sa_family) {
    case AF_INET: {
      const auto* in = reinterpret_cast<const sockaddr_in*>(address);
      ::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
      return std::string("ipv4:") + buf + ":" + std::to_string(ntohs(in->sin_port));
    }
    case AF_INET6: {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
      if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
        ::inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], buf, sizeof(buf));
        return std::string("ipv4:") + buf + ":" + std::to_string(ntohs(in6->sin6_port));
      }
      ::inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
      std::string scope;
      if (in6->sin6_scope_id != 0) {
        char name[IF_NAMESIZE] = {0};
        scope = "%" + (::if_indextoname(in6->sin6_scope_id, name) != nullptr
                           ? std::string(name) : std::to_string(in6->sin6_scope_id));
      }
      return std::string("ipv6:[") + buf + scope + "]:" + std::to_string(ntohs(in6->sin6_port));
    }
    case AF_UNIX: {
      const auto* un = reinterpret_cast<const sockaddr_un*>(address);
      size_t max = length > offsetof(sockaddr_un, sun_path) ? length - offsetof(sockaddr_un, sun_path) : 0;
      if (max > 0 && un->sun_path[0] == '\0') {  // abstract: the name is every byte after the NUL
        return "unix-abstract:" + percent_encode_path(std::string_view(un->sun_path + 1, max - 1));
      }
      return std::string("unix:") + std::string(un->sun_path, strnlen(un->sun_path, max));
    }
    default:
      return "unknown";
  }
}

std::string peer_name(int fd) {
  sockaddr_storage peer{};
  socklen_t len = sizeof(peer);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) return "unknown";
  if (peer.ss_family == AF_UNIX && len <= offsetof(sockaddr_un, sun_path)) {
    // An unnamed peer (what a server usually accepts): name the listening path instead. A
    // dialled socket's peer is the server's path, and stays so.
    sockaddr_storage local{};
    socklen_t llen = sizeof(local);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) == 0)
      return describe_address(reinterpret_cast<sockaddr*>(&local), llen);
  }
  return describe_address(reinterpret_cast<sockaddr*>(&peer), len);
}

void set_no_delay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // fails harmlessly on unix
}

bool is_loopback(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
    return (ntohl(v4.sin_addr.s_addr) >> 24) == 127;
  }
  if (address.ss_family != AF_INET6) return false;
  const in6_addr& v6 = reinterpret_cast<const sockaddr_in6&>(address).sin6_addr;
  if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
  return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

}  // namespace turbogrpc::internal
