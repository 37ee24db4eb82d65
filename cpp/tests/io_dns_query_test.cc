// Tests for lookups against a DNS server the target names (io/dns_query.h): parsing the
// server out of "dns://server/host", and real queries over UDP to a small DNS responder on
// loopback that answers from a table (A, AAAA, a CNAME in front, NXDOMAIN, REFUSED), on an
// IPv4 and, where the machine has it, an IPv6 address. Under ASan this also checks the
// resolver state's IPv6 slot, which glibc frees.
#include "io/dns_query.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "io/address.h"
#include "io/target.h"

namespace turbogrpc::internal {
namespace {

std::vector<std::string> described(const std::vector<SocketAddress>& addresses) {
  std::vector<std::string> out;
  for (const auto& a : addresses) out.push_back(describe_address(a.get(), a.length));
  return out;
}

// The DNS wire format's question name: "a.b" -> 1 'a' 1 'b' 0.
std::string wire_name(const std::string& name) {
  std::string out;
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    out += static_cast<char>(dot - start);
    out += name.substr(start, dot - start);
    start = dot + 1;
  }
  return out + '\0';
}

struct Record {
  uint16_t type;      // 1 A, 28 AAAA, 5 CNAME
  std::string rdata;  // raw bytes
};

// Answers each query from `records` (by name and type; CNAMEs are always included); a name
// not in the table gets `missing_rcode` (3 NXDOMAIN, 5 REFUSED).
class Responder {
 public:
  Responder(int family, std::map<std::string, std::vector<Record>> records, int missing_rcode)
      : records_(std::move(records)), missing_rcode_(missing_rcode) {
    fd_ = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_storage bind_to{};
    socklen_t length = 0;
    if (family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(&bind_to);
      in->sin_family = AF_INET;
      in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      length = sizeof(*in);
    } else {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&bind_to);
      in6->sin6_family = AF_INET6;
      in6->sin6_addr = in6addr_loopback;
      length = sizeof(*in6);
    }
    bound_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&bind_to), length) == 0;
    address_.length = sizeof(address_.storage);
    if (bound_) ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address_.storage), &address_.length);
    if (bound_) thread_ = std::thread([this] { serve(); });
  }
  ~Responder() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  bool bound() const { return bound_; }
  const SocketAddress& address() const { return address_; }
  int queries() const { return queries_; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      char query[512];
      sockaddr_storage from{};
      socklen_t from_length = sizeof(from);
      ssize_t n = ::recvfrom(fd_, query, sizeof(query), 0, reinterpret_cast<sockaddr*>(&from),
                             &from_length);
      if (n < 17) continue;
      ++queries_;
      std::string q(query + 12, static_cast<size_t>(n) - 12);  // the question
      size_t name_end = q.find('\0');
      std::string name;
      for (size_t i = 0; i < name_end; i += 1 + static_cast<unsigned char>(q[i])) {
        if (!name.empty()) name += '.';
        name += q.substr(i + 1, static_cast<unsigned char>(q[i]));
      }
      uint16_t type = static_cast<uint16_t>((static_cast<unsigned char>(q[name_end + 1]) << 8) |
                                            static_cast<unsigned char>(q[name_end + 2]));
      std::string answers;
      int count = 0;
      auto found = records_.find(name);
      for (const Record& r : found == records_.end() ? std::vector<Record>{} : found->second) {
        if (r.type != type && r.type != 5) continue;
        ++count;
        answers += std::string("\xc0\x0c", 2);  // the name: a pointer to the question's
        answers += {static_cast<char>(r.type >> 8), static_cast<char>(r.type & 0xff), 0, 1};
        answers += std::string("\0\0\0\x3c", 4);  // TTL 60
        answers += {static_cast<char>(r.rdata.size() >> 8), static_cast<char>(r.rdata.size())};
        answers += r.rdata;
      }
      std::string reply(query, 12);
      reply[2] = static_cast<char>(0x81);  // QR, RD
      reply[3] = static_cast<char>(found == records_.end() ? 0x80 | missing_rcode_ : 0x80);
      reply[6] = 0;
      reply[7] = static_cast<char>(count);  // ANCOUNT
      reply[8] = reply[9] = reply[10] = reply[11] = 0;
      reply += q.substr(0, name_end + 5) + answers;
      ::sendto(fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), from_length);
    }
  }

  std::map<std::string, std::vector<Record>> records_;
  int missing_rcode_;
  int fd_ = -1;
  bool bound_ = false;
  SocketAddress address_;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  std::thread thread_;
};

std::string v4(const char* text) {
  in_addr a{};
  ::inet_pton(AF_INET, text, &a);
  return std::string(reinterpret_cast<const char*>(&a), 4);
}

std::string v6(const char* text) {
  in6_addr a{};
  ::inet_pton(AF_INET6, text, &a);
  return std::string(reinterpret_cast<const char*>(&a), 16);
}

const std::map<std::string, std::vector<Record>> kZone = {
    {"replicas.test", {{1, v4("127.0.0.1")}, {1, v4("127.0.0.2")}, {28, v6("::1")}}},
    {"alias.test", {{5, wire_name("replicas.test")}, {1, v4("127.0.0.3")}}},
    {"v6only.test", {{28, v6("::1")}}},
};

TEST(DnsServerTargetTest, TheAuthorityOfADnsTargetIsTheServerToAsk) {
  struct Case { const char* target; const char* server; };
  for (const Case& c : {Case{"dns://10.0.0.53/example.com:5", "ipv4:10.0.0.53:53"},
                        Case{"dns://127.0.0.1:5353/example.com", "ipv4:127.0.0.1:5353"},
                        Case{"dns://[::1]:5353/example.com:5", "ipv6:[::1]:5353"},
                        Case{"dns://[fd00::53]/example.com:5", "ipv6:[fd00::53]:53"}}) {
    ParsedTarget p = parse_target(c.target);
    ASSERT_TRUE(p.error.empty()) << c.target << ": " << p.error;
    EXPECT_EQ(describe_address(p.dns_server.get(), p.dns_server.length), c.server) << c.target;
    EXPECT_EQ(p.host, "example.com") << c.target;
  }
  EXPECT_EQ(parse_target("dns:///example.com").dns_server.length, 0u);
  EXPECT_EQ(parse_target("dns://10.0.0.53/example.com:5").authority, "example.com:5");
  struct Bad { const char* target; const char* wrong; };
  for (const Bad& c : {Bad{"dns://ns.example/example.com", "DNS server 'ns.example' is not an IP"},
                       Bad{"dns://10.0.0.53:99999/h", "port '99999' is out of range"},
                       Bad{"dns://10.0.0.53:x/h", "port 'x' is not a number"},
                       Bad{"dns://[::1/h", "has a '[' with no matching ']'"},
                       Bad{"dns://[10.0.0.53]/h", "is not an IP address"}}) {
    ParsedTarget p = parse_target(c.target);
    EXPECT_NE(p.error.find(c.wrong), std::string::npos) << c.target << ": " << p.error;
    EXPECT_EQ(p.dns_server.length, 0u) << c.target;
  }
}

void expect_lookups_against(const Responder& server) {
  std::vector<SocketAddress> out;
  ASSERT_EQ(query_dns_server(server.address(), "replicas.test", 8080, &out), "");
  // IPv6 first, then IPv4 in the server's order; every one with the target's port.
  EXPECT_EQ(described(out), (std::vector<std::string>{"ipv6:[::1]:8080", "ipv4:127.0.0.1:8080",
                                                      "ipv4:127.0.0.2:8080"}));
  out.clear();
  ASSERT_EQ(query_dns_server(server.address(), "alias.test", 1, &out), "");
  EXPECT_EQ(described(out), std::vector<std::string>{"ipv4:127.0.0.3:1"});  // past the CNAME
  out.clear();
  ASSERT_EQ(query_dns_server(server.address(), "v6only.test", 2, &out), "");
  EXPECT_EQ(described(out), std::vector<std::string>{"ipv6:[::1]:2"});
}

TEST(DnsQueryTest, AnIpv4ServerIsAskedForEveryAAndAaaaRecord) {
  Responder server(AF_INET, kZone, 3);
  ASSERT_TRUE(server.bound());
  expect_lookups_against(server);
  EXPECT_EQ(server.queries(), 6);  // AAAA and A for each name, no search-list suffixes
}

TEST(DnsQueryTest, AnIpv6ServerIsAskedToo) {
  Responder server(AF_INET6, kZone, 3);
  if (!server.bound()) GTEST_SKIP() << "no IPv6 loopback on this machine";
  expect_lookups_against(server);
}

TEST(DnsQueryTest, FailuresSayWhatTheServerAnswered) {
  Responder nxdomain(AF_INET, kZone, 3);
  Responder refusing(AF_INET, kZone, 5);
  ASSERT_TRUE(nxdomain.bound() && refusing.bound());
  std::vector<SocketAddress> out;
  std::string who = describe_address(nxdomain.address().get(), nxdomain.address().length);
  EXPECT_EQ(query_dns_server(nxdomain.address(), "absent.test", 1, &out),
            "DNS server " + who + " gave no such name for 'absent.test'");
  who = describe_address(refusing.address().get(), refusing.address().length);
  EXPECT_EQ(query_dns_server(refusing.address(), "absent.test", 1, &out),
            "DNS server " + who + " gave a refusal (REFUSED) for 'absent.test'");
  Responder empty(AF_INET, {{"bare.test", {}}}, 3);
  ASSERT_TRUE(empty.bound());
  who = describe_address(empty.address().get(), empty.address().length);
  EXPECT_EQ(query_dns_server(empty.address(), "bare.test", 1, &out),
            "DNS server " + who + " gave no A or AAAA record for 'bare.test'");
  EXPECT_TRUE(out.empty());
}

TEST(DnsQueryTest, AServerThatIsNotThereGivesNoReply) {
  // A UDP port nobody listens on: the ICMP refusal ends the query at once, no retries' wait.
  SocketAddress closed;
  {
    Responder gone(AF_INET, {}, 3);
    ASSERT_TRUE(gone.bound());
    closed = gone.address();
  }
  std::vector<SocketAddress> out;
  std::string wrong = query_dns_server(closed, "replicas.test", 1, &out);
  EXPECT_NE(wrong.find("gave no reply for 'replicas.test'"), std::string::npos) << wrong;
}

TEST(DnsQueryTest, ResolvingADnsServerTargetAsksThatServer) {
  Responder server(AF_INET, kZone, 3);
  ASSERT_TRUE(server.bound());
  std::string target = "dns://" + describe_address(server.address().get(), server.address().length)
                                      .substr(5) + "/alias.test:7";
  ResolvedTarget later = resolve_target_without_lookup(target);
  EXPECT_TRUE(later.needs_lookup);
  ResolvedTarget now = resolve_target(target);
  ASSERT_TRUE(now.error.empty()) << now.error;
  EXPECT_EQ(described(now.addresses), std::vector<std::string>{"ipv4:127.0.0.3:7"});
  EXPECT_EQ(now.authority, "alias.test:7");
}

}  // namespace
}  // namespace turbogrpc::internal
