#include "io/target.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace turbogrpc::internal {
namespace {

constexpr std::string_view kDefaultPort = "443";  // gRPC's default: https
constexpr size_t npos = std::string_view::npos;

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_unreserved(char c) {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}
bool is_sub_delim(char c) { return c != '\0' && std::strchr("!$&'()*+,;=", c) != nullptr; }
// RFC 3986's character sets, as grpc-core's URI::PercentEncodeAuthority / PercentEncodePath.
bool is_authority_char(char c) {
  return is_unreserved(c) || is_sub_delim(c) || c == ':' || c == '[' || c == ']' || c == '@';
}
bool is_path_char(char c) { return is_unreserved(c) || is_sub_delim(c) || c == ':' || c == '@' || c == '/'; }

template <typename Allowed>
std::string percent_encode(std::string_view text, Allowed allowed) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (allowed(c)) {
      out.push_back(c);
      continue;
    }
    auto byte = static_cast<unsigned char>(c);
    out.push_back('%');
    out.push_back(kHex[byte >> 4]);
    out.push_back(kHex[byte & 15]);
  }
  return out;
}

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Every %XX with two hex digits becomes its byte; anything else passes through unchanged (a
// lone '%' in a path stays), as grpc-core's URI parser decodes.
std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
        hex_value(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::string_view strip_slash(std::string_view s) { return !s.empty() && s[0] == '/' ? s.substr(1) : s; }
std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }
std::string encode_authority(std::string_view s) { return percent_encode(s, is_authority_char); }

// RFC 3986 scheme syntax: a letter, then letters, digits, '+', '-', '.', then ':'. Whether a
// scheme is known is the caller's question ("localhost:50051" has one, in this syntax).
bool split_scheme(std::string_view target, std::string_view* scheme, std::string_view* rest) {
  size_t colon = target.find(':');
  if (colon == npos || colon == 0 || !is_alpha(target[0])) return false;
  for (size_t i = 1; i < colon; ++i) {
    char c = target[i];
    if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') return false;
  }
  *scheme = target.substr(0, colon);
  *rest = target.substr(colon + 1);
  return true;
}

struct UriParts {
  std::string authority;  // between "//" and the next '/', decoded; empty without "//"
  std::string path;       // the rest, decoded
};

UriParts split_uri(std::string_view rest) {
  UriParts parts;
  if (rest.substr(0, 2) == "//") {
    rest.remove_prefix(2);
    size_t slash = rest.find('/');
    parts.authority = percent_decode(rest.substr(0, slash));
    rest = slash == npos ? std::string_view() : rest.substr(slash);
  }
  parts.path = percent_decode(rest);
  return parts;
}

struct HostPort {
  std::string host;
  std::string port;  // as written; empty when there is none
  bool bracketed = false;
};

// "host", "host:port", "[v6]", "[v6]:port", or a bare IPv6 literal (two colons or more, so no
// port). Returns what is wrong, or "".
std::string split_host_port(std::string_view s, HostPort* out) {
  if (!s.empty() && s[0] == '[') {
    size_t close = s.find(']');
    if (close == npos) return quoted(s) + " has a '[' with no matching ']'";
    out->host = s.substr(1, close - 1);
    out->bracketed = true;
    std::string_view after = s.substr(close + 1);
    if (after.empty()) return "";
    if (after[0] != ':') return quoted(after) + " follows ']' where ':port' or nothing belongs";
    out->port = after.substr(1);
    return "";
  }
  size_t colon = s.find(':');
  if (colon != npos && s.find(':', colon + 1) == npos) {
    out->host = s.substr(0, colon);
    out->port = s.substr(colon + 1);
  } else {
    out->host = s;
  }
  return "";
}

// `written` empty means the default port. Returns what is wrong, or "".
std::string parse_port(std::string_view written, uint16_t* port) {
  if (written.empty()) written = kDefaultPort;
  uint32_t value = 0;
  for (char c : written) {
    if (!is_digit(c)) return "port " + quoted(written) + " is not a number";
    if (value <= 65535) value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > 65535) return "port " + quoted(written) + " is out of range (0-65535)";
  *port = static_cast<uint16_t>(value);
  return "";
}

bool ipv4_address(const std::string& host, uint16_t port, SocketAddress* out) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  // inet_pton, not inet_aton: "1.2.3" or "127.1" are not IPv4 literals (grpc-core agrees).
  if (host.find('\0') != npos || ::inet_pton(AF_INET, host.c_str(), &in.sin_addr) != 1) return false;
  std::memcpy(&out->storage, &in, sizeof(in));
  out->length = sizeof(in);
  return true;
}

// An IPv6 literal with an optional zone: "fe80::1%eth0" or "fe80::1%2". Returns what is
// wrong, or "".
std::string ipv6_address(const std::string& host, uint16_t port, SocketAddress* out) {
  std::string not_ipv6 = quoted(host) + " is not an IPv6 address";
  size_t percent = host.find('%');
  std::string literal = host.substr(0, percent);
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port);
  if (literal.find('\0') != npos || ::inet_pton(AF_INET6, literal.c_str(), &in6.sin6_addr) != 1) {
    return not_ipv6;
  }
  if (percent != npos) {
    std::string zone = host.substr(percent + 1);
    bool numeric = !zone.empty() && zone.size() <= 9;
    for (char c : zone) numeric = numeric && is_digit(c);
    if (numeric) {
      in6.sin6_scope_id = static_cast<uint32_t>(std::stoul(zone));
    } else if (zone.empty() || zone.find('\0') != npos ||
               (in6.sin6_scope_id = ::if_nametoindex(zone.c_str())) == 0) {
      return not_ipv6 + " (no network interface " + quoted(zone) + ")";
    }
  }
  std::memcpy(&out->storage, &in6, sizeof(in6));
  out->length = sizeof(in6);
  return "";
}

// A dns: target's host[:port]. An IP literal becomes the address; a name is left to look up.
std::string parse_dns_host(std::string_view hostport, ParsedTarget* out) {
  if (hostport.empty()) return "it names no host";
  HostPort hp;
  if (std::string wrong = split_host_port(hostport, &hp); !wrong.empty()) return wrong;
  if (hp.host.empty()) return "the host is empty";
  uint16_t port = 0;
  if (std::string wrong = parse_port(hp.port, &port); !wrong.empty()) return wrong;
  SocketAddress address;
  if (hp.bracketed || hp.host.find(':') != npos) {
    if (std::string wrong = ipv6_address(hp.host, port, &address); !wrong.empty()) {
      // Unbracketed with two colons or more, a bare IPv6 literal was the only reading left.
      return hp.bracketed ? wrong : quoted(hp.host) + " is neither host:port nor an IPv6 address";
    }
  } else if (!ipv4_address(hp.host, port, &address)) {
    // What getaddrinfo can look up; anything else ("http://x", a space) is a typo best
    // reported now rather than as UNAVAILABLE on the first call.
    for (char c : hp.host) {
      if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '.' && c != '_') {
        return quoted(hp.host) + " is not a host name or an IP address";
      }
    }
    out->host = hp.host;
    out->port = std::to_string(port);
    return "";
  }
  out->addresses.push_back(address);
  return "";
}

// The DNS server a dns: target names: "addr", "addr:port" or "[v6addr]:port", port 53 by
// default. An IP address, as grpc-core's c-ares resolver requires: looking the DNS server's own
// name up would ask the machine's servers, which is what naming one is meant to avoid.
std::string parse_dns_server(std::string_view authority, SocketAddress* out) {
  std::string which = "DNS server " + quoted(authority);
  HostPort hp;
  if (std::string wrong = split_host_port(authority, &hp); !wrong.empty()) return which + ": " + wrong;
  uint16_t port = 53;
  if (!hp.port.empty()) {
    if (std::string wrong = parse_port(hp.port, &port); !wrong.empty()) return which + ": " + wrong;
  }
  if (!hp.bracketed && ipv4_address(hp.host, port, out)) return "";
  if (!ipv6_address(hp.host, port, out).empty()) {
    return which + " is not an IP address with an optional port (e.g. 10.0.0.53:53 or [fd00::53])";
  }
  return "";
}

std::string parse_dns(std::string_view rest, ParsedTarget* out) {
  UriParts uri = split_uri(rest);
  std::string_view hostport = strip_slash(uri.path);
  if (!uri.authority.empty()) {
    if (hostport.empty()) {
      return "it names DNS server " + quoted(uri.authority) + " and no host; for host " +
             quoted(uri.authority) + " write 'dns:///" + uri.authority + "'";
    }
    if (std::string wrong = parse_dns_server(uri.authority, &out->dns_server); !wrong.empty()) {
      return wrong;
    }
  }
  out->authority = encode_authority(hostport);
  return parse_dns_host(hostport, out);
}

std::string parse_list_entry(std::string_view entry, TargetScheme scheme, ParsedTarget* out) {
  HostPort hp;
  if (std::string wrong = split_host_port(entry, &hp); !wrong.empty()) return wrong;
  uint16_t port = 0;
  std::string port_wrong = parse_port(hp.port, &port);  // reported after the address's
  SocketAddress address;
  if (scheme == TargetScheme::kIpv4) {
    if (hp.bracketed || !ipv4_address(hp.host, port, &address)) {
      return quoted(hp.host) + " is not an IPv4 address";
    }
  } else if (std::string wrong = ipv6_address(hp.host, port, &address); !wrong.empty()) {
    return wrong;
  }
  if (!port_wrong.empty()) return port_wrong;
  out->addresses.push_back(address);
  return "";
}

// ipv4:a[,b...] / ipv6:a[,b...]: every entry must be an address of the scheme's family.
std::string parse_list(std::string_view scheme_name, std::string_view rest, ParsedTarget* out) {
  UriParts uri = split_uri(rest);
  if (!uri.authority.empty()) {
    return std::string(scheme_name) + ": takes no authority (" + quoted(uri.authority) + "); write " +
           std::string(scheme_name) + ":addr:port or " + std::string(scheme_name) + ":///addr:port";
  }
  std::string_view list = strip_slash(uri.path);
  out->authority = encode_authority(list);
  if (list.empty()) return "it lists no addresses";
  size_t index = 1;
  for (size_t start = 0;; ++index) {
    size_t comma = list.find(',', start);
    std::string_view entry = list.substr(start, comma == npos ? npos : comma - start);
    if (entry.empty()) return "entry " + std::to_string(index) + " of its address list is empty";
    if (std::string wrong = parse_list_entry(entry, out->scheme, out); !wrong.empty()) return wrong;
    if (comma == npos) return "";
    start = comma + 1;
  }
}

// The socket address of a decoded unix path or abstract name. Returns what is wrong, or "".
std::string unix_address(const std::string& name, TargetScheme scheme, SocketAddress* out) {
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  constexpr size_t kMax = sizeof(un.sun_path) - 1;  // a path's NUL, an abstract name's lead NUL
  size_t length = offsetof(sockaddr_un, sun_path);
  if (scheme == TargetScheme::kUnixAbstract) {
    if (name.empty()) return "the abstract socket name is empty";
    if (name.size() > kMax) {
      return "the abstract socket name is " + std::to_string(name.size()) + " bytes, over the " +
             std::to_string(kMax) + " a unix socket address holds";
    }
    // sun_path[0] = '\0' marks it abstract; the length counts exactly the name's bytes (no
    // trailing NUL: "a" and "a\0" are different abstract names).
    std::memcpy(un.sun_path + 1, name.data(), name.size());
    length += 1 + name.size();
  } else {
    if (name.empty()) return "the socket path is empty";
    if (name.find('\0') != npos) return "the socket path contains a NUL byte";
    if (name.size() > kMax) {
      return "the socket path is " + std::to_string(name.size()) + " bytes, over the " +
             std::to_string(kMax) + " a unix socket address holds";
    }
    std::memcpy(un.sun_path, name.data(), name.size());
    length += name.size() + 1;
  }
  std::memcpy(&out->storage, &un, sizeof(un));
  out->length = static_cast<socklen_t>(length);
  return "";
}

std::string parse_unix(std::string_view rest, TargetScheme scheme, SocketAddress* address,
                       std::string* authority) {
  UriParts uri = split_uri(rest);
  if (!uri.authority.empty()) {
    return scheme == TargetScheme::kUnix
        ? "unix: takes no authority (" + quoted(uri.authority) +
              "); write unix:///absolute/path or unix:relative/path"
        : "unix-abstract: takes no authority (" + quoted(uri.authority) + "); write unix-abstract:name";
  }
  *authority = encode_authority(strip_slash(uri.path));
  return unix_address(uri.path, scheme, address);
}

bool scheme_of(std::string_view name, TargetScheme* scheme) {
  if (name == "dns") *scheme = TargetScheme::kDns;
  else if (name == "ipv4") *scheme = TargetScheme::kIpv4;
  else if (name == "ipv6") *scheme = TargetScheme::kIpv6;
  else if (name == "unix") *scheme = TargetScheme::kUnix;
  else if (name == "unix-abstract") *scheme = TargetScheme::kUnixAbstract;
  else return false;
  return true;
}

}  // namespace

ParsedTarget parse_target(const std::string& target) {
  ParsedTarget out;
  std::string_view scheme_name, rest;
  bool has_scheme = split_scheme(target, &scheme_name, &rest);
  std::string wrong;
  if (has_scheme && scheme_of(scheme_name, &out.scheme)) {
    switch (out.scheme) {
      case TargetScheme::kDns:
        wrong = parse_dns(rest, &out);
        break;
      case TargetScheme::kIpv4:
      case TargetScheme::kIpv6:
        wrong = parse_list(scheme_name, rest, &out);
        break;
      case TargetScheme::kUnix:
      case TargetScheme::kUnixAbstract:
        out.addresses.emplace_back();
        wrong = parse_unix(rest, out.scheme, &out.addresses.back(), &out.authority);
        break;
    }
  } else {
    // No scheme we know: the whole target is a dns: host[:port], as grpc-core reads it (it
    // prepends "dns:///"), so "localhost:50051" is host localhost, port 50051.
    std::string hostport = percent_decode(target);
    out.authority = encode_authority(hostport);
    wrong = parse_dns_host(hostport, &out);
    // "name:/..." reads as a URI with a scheme we lack; "name:xyz" as a host:port with a typo.
    if (!wrong.empty() && has_scheme && rest.substr(0, 1) == "/") {
      wrong = "unknown scheme " + quoted(scheme_name) +
              " (known: dns, ipv4, ipv6, unix, unix-abstract), and as a host:port: " + wrong;
    }
  }
  if (!wrong.empty()) {
    out.addresses.clear();
    out.dns_server = {};
    out.host.clear();
    out.port.clear();
    out.error = "invalid target " + quoted(target) + ": " + wrong;
  }
  return out;
}

bool parse_unix_target(const std::string& target, SocketAddress* out, std::string* error) {
  std::string_view scheme_name, rest;
  TargetScheme scheme = TargetScheme::kDns;
  if (!split_scheme(target, &scheme_name, &rest) || !scheme_of(scheme_name, &scheme) ||
      (scheme != TargetScheme::kUnix && scheme != TargetScheme::kUnixAbstract)) {
    *error = quoted(target) + " is not a unix: or unix-abstract: address";
    return false;
  }
  std::string authority;
  *error = parse_unix(rest, scheme, out, &authority);
  return error->empty();
}

std::string percent_encode_path(std::string_view text) { return percent_encode(text, is_path_char); }

}  // namespace turbogrpc::internal
