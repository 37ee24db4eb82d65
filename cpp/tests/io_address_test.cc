// Tests for peer_name on unix sockets: both ends of a connection name the server's path (the
// accepted end's peer is unnamed, so it falls back to the local path; the dialling end keeps
// its peer's). Also how addresses are named (grpc's forms), SO_REUSEPORT on listeners, and
// gRPC's target names (io/target.h): every form, its addresses and :authority (what grpcio
// 1.85 sends, measured), and every malformed form refused with what is wrong.
#include "io/address.h"
#include "io/target.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

namespace turbogrpc::internal {
namespace {

TEST(PeerNameTest, BothEndsOfAUnixConnectionNameTheServersPath) {
  std::string path = "/tmp/turbogrpc-peer-name-test-" + std::to_string(::getpid());
  ::unlink(path.c_str());
  int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  int dialled = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_EQ(::connect(dialled, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  int accepted = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(accepted, 0);
  EXPECT_EQ(peer_name(dialled), "unix:" + path);
  EXPECT_EQ(peer_name(accepted), "unix:" + path);
  ::close(accepted);
  ::close(dialled);
  ::close(listener);
  ::unlink(path.c_str());
}

TEST(DescribeAddressTest, NamesAddressesAsGrpcDoes) {
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  v4.sin_port = htons(5555);
  ::inet_pton(AF_INET, "127.0.0.1", &v4.sin_addr);
  EXPECT_EQ(describe_address(reinterpret_cast<sockaddr*>(&v4), sizeof(v4)), "ipv4:127.0.0.1:5555");
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  v6.sin6_port = htons(5556);
  ::inet_pton(AF_INET6, "::1", &v6.sin6_addr);
  EXPECT_EQ(describe_address(reinterpret_cast<sockaddr*>(&v6), sizeof(v6)), "ipv6:[::1]:5556");
  // A dual-stack listener's IPv4 peer arrives IPv4-mapped; grpc names it as IPv4.
  ::inet_pton(AF_INET6, "::ffff:10.1.2.3", &v6.sin6_addr);
  EXPECT_EQ(describe_address(reinterpret_cast<sockaddr*>(&v6), sizeof(v6)), "ipv4:10.1.2.3:5556");
}

TEST(ListenTest, ReusePortLetsListenersShareAPortAndItsAbsenceRefuses) {
  Listener first = listen_on_address("127.0.0.1:0", ReusePort::kYes);
  ASSERT_GE(first.fd, 0) << first.error;
  std::string taken = "127.0.0.1:" + std::to_string(first.port);
  Listener shared = listen_on_address(taken, ReusePort::kYes);
  EXPECT_GE(shared.fd, 0) << shared.error;
  EXPECT_EQ(shared.port, first.port);
  Listener refused = listen_on_address(taken, ReusePort::kNo);
  EXPECT_EQ(refused.fd, -1);
  EXPECT_EQ(refused.error.rfind("Failed to bind to address " + taken + ": ", 0), 0u)
      << refused.error;
  for (int fd : {first.fd, shared.fd}) if (fd >= 0) ::close(fd);

  Listener alone = listen_on_address("127.0.0.1:0", ReusePort::kNo);
  ASSERT_GE(alone.fd, 0) << alone.error;
  Listener other = listen_on_address("127.0.0.1:" + std::to_string(alone.port), ReusePort::kYes);
  EXPECT_EQ(other.fd, -1);  // every listener on the port must ask for sharing
  ::close(alone.fd);
}

std::vector<std::string> described(const std::vector<SocketAddress>& addresses) {
  std::vector<std::string> out;
  for (const auto& a : addresses) out.push_back(describe_address(a.get(), a.length));
  return out;
}

// The bytes of a unix address after sun_path's start, as many as its length counts.
std::string unix_bytes(const SocketAddress& a) {
  const auto* un = reinterpret_cast<const sockaddr_un*>(&a.storage);
  return std::string(un->sun_path, a.length - offsetof(sockaddr_un, sun_path));
}

TEST(TargetAddressTest, DnsFormsNameAHostToLookUpOrAnIpLiteral) {
  for (const char* target : {"localhost:50051", "dns:///localhost:50051", "dns:localhost:50051",
                             "dns:/localhost:50051", "localhost%3A50051"}) {
    ParsedTarget p = parse_target(target);
    EXPECT_TRUE(p.error.empty()) << target << ": " << p.error;
    EXPECT_EQ(p.scheme, TargetScheme::kDns) << target;
    EXPECT_EQ(p.host, "localhost") << target;
    EXPECT_EQ(p.port, "50051") << target;
    EXPECT_TRUE(p.addresses.empty()) << target;
    EXPECT_EQ(p.authority, "localhost:50051") << target;  // grpcio sends the same
  }
  ParsedTarget no_port = parse_target("dns:///example.com");
  EXPECT_EQ(no_port.port, "443");
  EXPECT_EQ(no_port.authority, "example.com");  // grpc-core adds no port to the authority
  struct Literal { const char* target; const char* address; const char* authority; };
  for (const Literal& c : {Literal{"127.0.0.1:80", "ipv4:127.0.0.1:80", "127.0.0.1:80"},
                           Literal{"[::1]:80", "ipv6:[::1]:80", "[::1]:80"},
                           Literal{"dns:///[::1]:80", "ipv6:[::1]:80", "[::1]:80"},
                           Literal{"dns:///::1", "ipv6:[::1]:443", "::1"},
                           Literal{"10.1.2.3", "ipv4:10.1.2.3:443", "10.1.2.3"},
                           Literal{"[fe80::1%25lo]:9", "ipv6:[fe80::1%lo]:9", "[fe80::1%25lo]:9"}}) {
    ParsedTarget p = parse_target(c.target);
    EXPECT_TRUE(p.error.empty()) << c.target << ": " << p.error;
    EXPECT_TRUE(p.host.empty()) << c.target;  // nothing to look up
    EXPECT_EQ(described(p.addresses), std::vector<std::string>{c.address}) << c.target;
    EXPECT_EQ(p.authority, c.authority) << c.target;
  }
}

TEST(TargetAddressTest, ResolvingAHostTakesEveryAddressGetaddrinfoGives) {
  ResolvedTarget later = resolve_target_without_lookup("localhost:5");
  EXPECT_TRUE(later.needs_lookup);
  EXPECT_TRUE(later.addresses.empty());
  EXPECT_EQ(later.authority, "localhost:5");
  ResolvedTarget now = resolve_target("localhost:5");
  ASSERT_TRUE(now.error.empty()) << now.error;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* all = nullptr;
  ASSERT_EQ(::getaddrinfo("localhost", "5", &hints, &all), 0);
  std::vector<std::string> expected;
  for (addrinfo* ai = all; ai != nullptr; ai = ai->ai_next) {
    expected.push_back(describe_address(ai->ai_addr, ai->ai_addrlen));
  }
  ::freeaddrinfo(all);
  EXPECT_EQ(described(now.addresses), expected);  // A and AAAA alike, in getaddrinfo's order
}

TEST(TargetAddressTest, Ipv4ListsEveryAddressInOrder) {
  ParsedTarget p = parse_target("ipv4:127.0.0.1:1,10.0.0.2:2,10.0.0.3");
  ASSERT_TRUE(p.error.empty()) << p.error;
  EXPECT_EQ(described(p.addresses),
            (std::vector<std::string>{"ipv4:127.0.0.1:1", "ipv4:10.0.0.2:2", "ipv4:10.0.0.3:443"}));
  EXPECT_EQ(p.authority, "127.0.0.1:1,10.0.0.2:2,10.0.0.3");  // grpcio's: the whole list
  ParsedTarget slashes = parse_target("ipv4:///127.0.0.1:5");
  EXPECT_EQ(described(slashes.addresses), std::vector<std::string>{"ipv4:127.0.0.1:5"});
  EXPECT_EQ(slashes.authority, "127.0.0.1:5");
  ResolvedTarget resolved = resolve_target_without_lookup("ipv4:127.0.0.1:1,127.0.0.1:2");
  EXPECT_FALSE(resolved.needs_lookup);
  EXPECT_EQ(resolved.addresses.size(), 2u);
}

TEST(TargetAddressTest, Ipv6ListsEveryAddressInOrder) {
  ParsedTarget p = parse_target("ipv6:[::1]:1,[fe80::2%1]:2,[::ffff:127.0.0.1]:3");
  ASSERT_TRUE(p.error.empty()) << p.error;
  char lo[IF_NAMESIZE] = {0};
  std::string zone = ::if_indextoname(1, lo) != nullptr ? lo : "1";
  EXPECT_EQ(described(p.addresses),
            (std::vector<std::string>{"ipv6:[::1]:1", "ipv6:[fe80::2%" + zone + "]:2",
                                      "ipv4:127.0.0.1:3"}));
  EXPECT_EQ(p.authority, "[::1]:1,[fe80::2%251]:2,[::ffff:127.0.0.1]:3");
  ParsedTarget bare = parse_target("ipv6:::1");  // no brackets: no port
  EXPECT_EQ(described(bare.addresses), std::vector<std::string>{"ipv6:[::1]:443"});
  EXPECT_EQ(bare.authority, "::1");
}

TEST(TargetAddressTest, UnixPathsRelativeOrAbsolute) {
  struct Case { const char* target; const char* path; const char* authority; };
  for (const Case& c : {Case{"unix:/tmp/x.sock", "/tmp/x.sock", "tmp%2Fx.sock"},
                        Case{"unix:///tmp/x.sock", "/tmp/x.sock", "tmp%2Fx.sock"},
                        Case{"unix:rel/x.sock", "rel/x.sock", "rel%2Fx.sock"},
                        Case{"unix:/tmp/a%20b", "/tmp/a b", "tmp%2Fa%20b"}}) {
    ParsedTarget p = parse_target(c.target);
    ASSERT_TRUE(p.error.empty()) << c.target << ": " << p.error;
    ASSERT_EQ(p.addresses.size(), 1u);
    EXPECT_EQ(p.addresses[0].family(), AF_UNIX);
    EXPECT_EQ(unix_bytes(p.addresses[0]), std::string(c.path) + '\0') << c.target;
    EXPECT_EQ(p.authority, c.authority) << c.target;  // grpcio 1.85's, measured
  }
  std::string longest(107, 'p');
  EXPECT_TRUE(parse_target("unix:" + longest).error.empty());
}

TEST(TargetAddressTest, AbstractNamesCountExactlyTheirBytes) {
  ParsedTarget p = parse_target("unix-abstract:name");
  ASSERT_TRUE(p.error.empty()) << p.error;
  ASSERT_EQ(p.addresses.size(), 1u);
  EXPECT_EQ(p.addresses[0].length, offsetof(sockaddr_un, sun_path) + 1 + 4);  // no trailing NUL
  EXPECT_EQ(unix_bytes(p.addresses[0]), std::string("\0name", 5));
  EXPECT_EQ(p.authority, "name");
  EXPECT_EQ(describe_address(p.addresses[0].get(), p.addresses[0].length), "unix-abstract:name");
  // Any bytes: a NUL written %00 or given as is, a space, a leading '/' (kept in the name).
  ParsedTarget nul = parse_target("unix-abstract:a%00b c");
  EXPECT_EQ(unix_bytes(nul.addresses.at(0)), std::string("\0a\0b c", 6));
  EXPECT_EQ(nul.authority, "a%00b%20c");
  EXPECT_EQ(describe_address(nul.addresses[0].get(), nul.addresses[0].length), "unix-abstract:a%00b%20c");
  ParsedTarget raw = parse_target(std::string("unix-abstract:x\0y", 17));
  EXPECT_EQ(unix_bytes(raw.addresses.at(0)), std::string("\0x\0y", 4));
  ParsedTarget slash = parse_target("unix-abstract:/slash");
  EXPECT_EQ(unix_bytes(slash.addresses.at(0)), std::string("\0/slash", 7));
  EXPECT_EQ(slash.authority, "slash");
  EXPECT_TRUE(parse_target("unix-abstract:" + std::string(107, 'n')).error.empty());
}

TEST(TargetAddressTest, MalformedTargetsSayWhatIsWrong) {
  struct Case { std::string target; const char* wrong; };
  const std::vector<Case> cases = {
      {"", "it names no host"},
      {":50051", "the host is empty"},
      {"dns:///:1", "the host is empty"},
      {"dns:", "it names no host"},
      {"dns:///", "it names no host"},
      {"localhost:abc", "port 'abc' is not a number"},
      {"localhost:+80", "port '+80' is not a number"},
      {"localhost:70000", "port '70000' is out of range (0-65535)"},
      {"localhost:99999999999999999999", "is out of range"},
      {"[::1]:-1", "port '-1' is not a number"},
      {"[::1", "has a '[' with no matching ']'"},
      {"[::1]x", "'x' follows ']'"},
      {"[not-v6]:1", "'not-v6' is not an IPv6 address"},
      {"ho st:1", "'ho st' is not a host name or an IP address"},
      {"http://x:1", "unknown scheme 'http'"},
      {"dns://ns.example/localhost:1", "DNS server 'ns.example' is not an IP address"},
      {"dns://localhost:50051", "write 'dns:///localhost:50051'"},
      {"ipv4:", "it lists no addresses"},
      {"ipv4:1.2.3", "'1.2.3' is not an IPv4 address"},
      {"ipv4:127.1:5", "'127.1' is not an IPv4 address"},
      {"ipv4:::1", "'::1' is not an IPv4 address"},
      {"ipv4:[127.0.0.1]:1", "'127.0.0.1' is not an IPv4 address"},
      {"ipv4:localhost:1", "'localhost' is not an IPv4 address"},
      {"ipv4:127.0.0.1:1,", "entry 2 of its address list is empty"},
      {"ipv4:,127.0.0.1:1", "entry 1 of its address list is empty"},
      {"ipv4:127.0.0.1:x", "port 'x' is not a number"},
      {"ipv4:127.0.0.1:65536", "port '65536' is out of range"},
      {"ipv4://host/127.0.0.1:1", "ipv4: takes no authority ('host')"},
      {"ipv6:127.0.0.1:1", "'127.0.0.1' is not an IPv6 address"},
      {"ipv6:[::1]:1,,[::1]:2", "entry 2 of its address list is empty"},
      {"ipv6:[::1]:99999", "port '99999' is out of range"},
      {"ipv6:[fe80::1%no-such-if0]:1", "no network interface 'no-such-if0'"},
      {"unix:", "the socket path is empty"},
      {"unix://", "the socket path is empty"},
      {"unix://host/abs", "unix: takes no authority ('host')"},
      {"unix:" + std::string(108, 'p'), "the socket path is 108 bytes, over the 107"},
      {"unix:/tmp/a%00b", "the socket path contains a NUL byte"},
      {"unix-abstract:", "the abstract socket name is empty"},
      {"unix-abstract:" + std::string(108, 'n'), "the abstract socket name is 108 bytes, over the 107"},
      {"unix-abstract://host/x", "unix-abstract: takes no authority ('host')"},
  };
  for (const Case& c : cases) {
    ParsedTarget p = parse_target(c.target);
    EXPECT_EQ(p.error.rfind("invalid target '" + c.target + "': ", 0), 0u) << c.target << ": " << p.error;
    EXPECT_NE(p.error.find(c.wrong), std::string::npos) << c.target << ": " << p.error;
    EXPECT_TRUE(p.addresses.empty() && p.host.empty()) << c.target;
    ResolvedTarget r = resolve_target_without_lookup(c.target);
    EXPECT_EQ(r.error, p.error);
    EXPECT_FALSE(r.needs_lookup) << c.target;
  }
}

TEST(TargetAddressTest, AbstractSocketsListenAndConnect) {
  std::string name = "turbogrpc-abstract-test-" + std::to_string(::getpid());
  Listener listener = listen_on_address("unix-abstract:" + name, ReusePort::kYes);
  ASSERT_GE(listener.fd, 0) << listener.error;
  sockaddr_storage bound{};
  socklen_t bound_length = sizeof(bound);
  ASSERT_EQ(::getsockname(listener.fd, reinterpret_cast<sockaddr*>(&bound), &bound_length), 0);
  EXPECT_EQ(bound_length, offsetof(sockaddr_un, sun_path) + 1 + name.size());  // the name, no NUL
  ResolvedTarget target = resolve_target("unix-abstract:" + name);
  ASSERT_EQ(target.addresses.size(), 1u) << target.error;
  SysResult dialled = start_connect(target.addresses[0]);
  ASSERT_TRUE(dialled.ok()) << dialled.message();
  int accepted = ::accept(listener.fd, nullptr, nullptr);
  ASSERT_GE(accepted, 0);
  EXPECT_EQ(peer_name(static_cast<int>(dialled.value)), "unix-abstract:" + name);
  EXPECT_EQ(peer_name(accepted), "unix-abstract:" + name);
  ::close(accepted);
  ::close(static_cast<int>(dialled.value));
  ::close(listener.fd);
  // The listen side refuses what the client side refuses.
  for (const char* bad : {"unix:", "unix-abstract:", "unix://host/x"}) {
    Listener refused = listen_on_address(bad, ReusePort::kYes);
    EXPECT_EQ(refused.fd, -1) << bad;
    EXPECT_EQ(refused.error.rfind(std::string("invalid address '") + bad + "': ", 0), 0u) << refused.error;
  }
}

}  // namespace
}  // namespace turbogrpc::internal
