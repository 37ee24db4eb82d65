// Tests for peer_name on unix sockets: both ends of a connection name the server's path (the
// accepted end's peer is unnamed, so it falls back to the local path; the dialling end keeps
// its peer's).
#include "io/address.h"

#include <gtest/gtest.h>
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

}  // namespace
}  // namespace turbogrpc::internal
