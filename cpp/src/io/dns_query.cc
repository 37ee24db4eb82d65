#include "io/dns_query.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace turbogrpc::internal {

namespace {

// Room for any answer: res_nquery falls back to TCP when a UDP answer comes back truncated.
constexpr int kAnswerBytes = 65535;

// A resolver state that asks `server` only (glibc keeps an IPv6 server behind a NULL-family
// slot in _u._ext.nsaddrs, malloc'd, and frees it in res_nclose).
struct ServerState {
  struct __res_state state{};  // "struct": glibc also has a function of that name
  bool ready = false;

  explicit ServerState(const SocketAddress& server) {
    if (res_ninit(&state) != 0) return;
    ready = true;
    for (auto*& extra : state._u._ext.nsaddrs) {
      std::free(extra);
      extra = nullptr;
    }
    state.nscount = 1;
    if (server.family() == AF_INET) {
      std::memcpy(&state.nsaddr_list[0], &server.storage, sizeof(sockaddr_in));
      return;
    }
    auto* in6 = static_cast<sockaddr_in6*>(std::malloc(sizeof(sockaddr_in6)));
    if (in6 == nullptr) {
      ready = false;
      return;
    }
    std::memcpy(in6, &server.storage, sizeof(sockaddr_in6));
    state.nsaddr_list[0].sin_family = 0;
    state._u._ext.nsaddrs[0] = in6;
  }
  ~ServerState() {
    if (ready) res_nclose(&state);
  }
  ServerState(const ServerState&) = delete;
  ServerState& operator=(const ServerState&) = delete;
};

SocketAddress with_port(int family, const unsigned char* bytes, uint16_t port) {
  SocketAddress out;
  if (family == AF_INET) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    std::memcpy(&in.sin_addr, bytes, sizeof(in.sin_addr));
    std::memcpy(&out.storage, &in, sizeof(in));
    out.length = sizeof(in);
  } else {
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(port);
    std::memcpy(&in6.sin6_addr, bytes, sizeof(in6.sin6_addr));
    std::memcpy(&out.storage, &in6, sizeof(in6));
    out.length = sizeof(in6);
  }
  return out;
}

struct Outcome {
  int h_error = 0;  // res_nquery's h_errno (NO_DATA: the name has no records of the type)
  int rcode = -1;   // the server's response code when it answered with an error, else -1
};

// One query; its records of `type` appended to `out`.
Outcome query(ServerState& server, const std::string& host, int type, uint16_t port,
              std::vector<SocketAddress>* out) {
  std::unique_ptr<unsigned char[]> answer(new unsigned char[kAnswerBytes]());
  int length = res_nquery(&server.state, host.c_str(), ns_c_in, type, answer.get(), kAnswerBytes);
  if (length < 0) {
    // A reply that carried an error code is left in `answer`; the zeroed header says "none".
    bool replied = (answer[2] & 0x80) != 0;  // the QR bit: this is a response
    return {server.state.res_h_errno, replied ? (answer[3] & 0x0f) : -1};
  }
  ns_msg message;
  if (ns_initparse(answer.get(), length, &message) != 0) return {NO_RECOVERY};
  const int family = type == ns_t_a ? AF_INET : AF_INET6;
  const size_t bytes = type == ns_t_a ? 4 : 16;
  for (int i = 0; i < ns_msg_count(message, ns_s_an); ++i) {
    ns_rr record;
    if (ns_parserr(&message, ns_s_an, i, &record) != 0) return {NO_RECOVERY};
    // A CNAME chain comes as CNAME records followed by the addresses of its end.
    if (ns_rr_type(record) != type || ns_rr_class(record) != ns_c_in) continue;
    if (ns_rr_rdlen(record) != bytes) continue;
    out->push_back(with_port(family, ns_rr_rdata(record), port));
  }
  return {out->empty() ? NO_DATA : 0};
}

// RFC 6724 rule 1: a destination with no route from here goes last. A UDP connect() asks the
// routing table and sends nothing.
bool routable(const SocketAddress& address) {
  int fd = ::socket(address.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool ok = ::connect(fd, address.get(), address.length) == 0;
  ::close(fd);
  return ok;
}

std::string describe_failure(Outcome v6, Outcome v4) {
  for (Outcome o : {v6, v4}) {
    if (o.rcode == ns_r_nxdomain || o.h_error == HOST_NOT_FOUND) return "no such name";
  }
  if (v6.h_error == NO_DATA && v4.h_error == NO_DATA) return "no A or AAAA record";
  for (Outcome o : {v6, v4}) {
    if (o.rcode == ns_r_refused) return "a refusal (REFUSED)";
    if (o.rcode == ns_r_servfail) return "a failure (SERVFAIL)";
    if (o.rcode > 0) return "error code " + std::to_string(o.rcode);
  }
  if (v6.h_error == TRY_AGAIN || v4.h_error == TRY_AGAIN) return "no reply";
  return "an answer that could not be read";
}

}  // namespace

std::string query_dns_server(const SocketAddress& server, const std::string& host, uint16_t port,
                             std::vector<SocketAddress>* out) {
  std::string who = "DNS server " + describe_address(server.get(), server.length);
  ServerState state(server);
  if (!state.ready) return who + ": the resolver library could not be set up";
  std::vector<SocketAddress> v6, v4;
  Outcome v6_outcome = query(state, host, ns_t_aaaa, port, &v6);
  Outcome v4_outcome = query(state, host, ns_t_a, port, &v4);
  if (v6.empty() && v4.empty()) {
    return who + " gave " + describe_failure(v6_outcome, v4_outcome) + " for '" + host + "'";
  }
  out->insert(out->end(), v6.begin(), v6.end());
  out->insert(out->end(), v4.begin(), v4.end());
  std::stable_partition(out->begin(), out->end(), routable);
  return "";
}

}  // namespace turbogrpc::internal
