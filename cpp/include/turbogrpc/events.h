// Events: what the engine hands back to a consumer through its CompletionQueue.
//
// Order of events for one call (CLOSED-type events are always last and exactly once):
//   unary client:     kUnaryDone
//   streaming client: kInitialMetadata? → (kMessage | kWriteDone)* → kFinished
//   server call:      kServerCall → (kMessage | kWriteDone)* → kServerDone?
// A kMessage without a payload means "no more messages" (the peer half-closed).
// kServerDone arrives only when the call ended without the handler finishing it
// (peer reset, deadline, connection loss, server shutdown).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "turbogrpc/connectivity.h"
#include "turbogrpc/metadata.h"
#include "turbogrpc/status.h"
#include "turbogrpc/tls.h"

namespace turbogrpc {

enum class EventKind : uint8_t {
  kUnaryDone = 0,        // client unary call finished: status + both metadata + response
  kInitialMetadata = 1,  // client streaming call: the server's initial metadata arrived
  kMessage = 2,          // a message answered a read request; no payload = end of stream
  kWriteDone = 3,        // a send was accepted within the bounded per-stream buffer (ok) or failed
  kFinished = 4,         // client streaming call finished: status + trailing metadata
  kServerCall = 5,       // a new call arrived at a server
  kServerDone = 6,       // a server call ended without the handler (cancelled, deadline, ...)
  kCertificateFetch = 7, // a server's TLS listener wants its certificates (ServerCertificatesCommand)
  kConnectivity = 8,     // a channel's state changed (WatchChannelCommand; call_id is its token)
};

struct Event {
  EventKind kind = EventKind::kFinished;
  uint64_t call_id = 0;

  // kUnaryDone, kFinished, kServerDone
  Status status;
  std::string debug_error;  // a short engine-side explanation, for debug_error_string()
  // kUnaryDone (initial + trailing), kInitialMetadata (initial), kFinished (trailing, and
  // initial when a trailers-only response never sent kInitialMetadata), kServerCall (request)
  Metadata initial_metadata;
  Metadata trailing_metadata;
  bool initial_metadata_included = false;

  // kUnaryDone, kMessage, kServerCall (the request of a registered unary-request method)
  std::optional<std::string> message;
  bool message_compressed = false;  // `message` arrived compressed (it is delivered inflated)

  // kWriteDone
  bool ok = true;

  // kServerCall
  uint64_t server_id = 0;
  std::string method;     // ":path", e.g. "/pkg.Service/Method"
  std::string authority;  // ":authority"
  std::string peer;       // "ipv4:127.0.0.1:5555", "ipv6:[::1]:5555", "unix:/path"
  double timeout_seconds = -1;  // from grpc-timeout; negative when none
  bool request_preread = false; // `message` holds the request (absent = client sent none)
  std::shared_ptr<const AuthContext> auth;  // the connection's security; null: plaintext

  // kCertificateFetch (with server_id)
  uint32_t listener = 0;  // index into StartServerCommand::listen_fds

  // kConnectivity
  ConnectivityState connectivity = ConnectivityState::kIdle;
};

}  // namespace turbogrpc
