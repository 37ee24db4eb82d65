// Tests for peer_name on unix sockets: both ends of a connection name the server's path (the
// accepted end's peer is unnamed, so it falls back to the local path; the dialling end keeps
// its peer's). Also how addresses are named (grpc's forms) and SO_REUSEPORT on listeners.
#include "io/address.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>

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

}  // namespace
}  // namespace turbogrpc::internal
