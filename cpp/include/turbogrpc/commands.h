// Commands: everything a consumer asks of the engine. Each carries its data by value and is
// executed on the poller thread, in submission order per submitting thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <variant>
#include <vector>

#include "turbogrpc/completion_queue.h"
#include "turbogrpc/compression.h"
#include "turbogrpc/connectivity.h"
#include "turbogrpc/metadata.h"
#include "turbogrpc/options.h"
#include "turbogrpc/status.h"
#include "turbogrpc/tls.h"

namespace turbogrpc {

enum class CallShape : uint8_t {
  kUnary,      // one request with the start; one kUnaryDone event at the end
  kStreaming,  // messages by kSendMessage / kRead; kInitialMetadata, kMessage, kFinished events
};

// kDefault: the call did not say; the method's service config may, else it is kNo.
enum class WaitForReady : uint8_t { kNo, kYes, kDefault };

struct StartCallCommand {
  uint64_t channel_id = 0;
  uint64_t call_id = 0;
  std::shared_ptr<CompletionQueue> cq;
  std::string method;  // ":path"
  Metadata metadata;
  double timeout_seconds = -1;  // negative: no deadline
  CallShape shape = CallShape::kUnary;
  WaitForReady wait_for_ready = WaitForReady::kNo;
  std::optional<std::string> message;  // kUnary: the request (sent with end of stream)
  Compression compression = Compression::kNone;  // for the requests; announced in grpc-encoding
  // The call waits (deadline running, messages queued) for more request metadata from its
  // call credentials: CallMetadataCommand releases it, CancelCommand ends it.
  bool awaits_metadata = false;
};

// The metadata of a call's credentials (appended to the call's own), after which the call starts.
struct CallMetadataCommand {
  uint64_t channel_id = 0;
  uint64_t call_id = 0;
  Metadata metadata;
};

// Client or server: queue one message on a call. Answered by kWriteDone.
struct SendMessageCommand {
  uint64_t call_id = 0;
  std::string message;
  bool end_of_stream = false;  // client only: half-close right after this message
  bool compress = true;        // false: this message goes uncompressed whatever the call uses
  // Server only: the call's response compression, if this command sends the response headers.
  Compression compression = Compression::kNone;
  // The writer waits for this write's kWriteDone: push it with a wakeup. Otherwise the
  // acknowledgement rides along with the next event that wakes the consumer.
  bool ack_wakes = true;
};

struct HalfCloseCommand {  // client: no more requests
  uint64_t call_id = 0;
};

struct ReadCommand {  // client or server: grant credit for the next message(s)
  uint64_t call_id = 0;
};

struct CancelCommand {  // client: RST_STREAM and finish with `status`; server: RST_STREAM
  uint64_t call_id = 0;
  Status status;
};

struct SendInitialMetadataCommand {  // server
  uint64_t call_id = 0;
  Metadata metadata;
  Compression compression = Compression::kNone;  // for the responses; used if the client accepts it
};

// Server: end a call. Sends initial metadata (if not yet sent), the message (if any),
// then trailers — a trailers-only response when nothing was sent before.
struct FinishCommand {
  uint64_t call_id = 0;
  Metadata initial_metadata;
  std::optional<std::string> message;
  Status status;
  Metadata trailing_metadata;
  Compression compression = Compression::kNone;  // as in SendMessageCommand
  bool compress_message = true;
};

struct CreateChannelCommand {
  uint64_t channel_id = 0;
  std::string target;
  ChannelOptions options;
  // Where the channel publishes its connectivity state for readers on any thread.
  std::shared_ptr<ChannelStateCell> state;
};

// Leaves IDLE: the channel starts connecting (get_state(try_to_connect=True)).
struct ConnectChannelCommand {
  uint64_t channel_id = 0;
};

// One kConnectivity event (with `token` as its call_id) on `cq` as soon as the channel's state
// differs from `last_seen` — at once if it already does. An unknown (closed) channel answers
// kShutdown.
struct WatchChannelCommand {
  uint64_t channel_id = 0;
  std::shared_ptr<CompletionQueue> cq;
  uint64_t token = 0;
  ConnectivityState last_seen = ConnectivityState::kIdle;
};

struct CloseChannelCommand {  // cancels every call still on it
  uint64_t channel_id = 0;
};

// How one listening socket secures its connections.
struct ListenerSecurity {
  enum class Kind : uint8_t {
    kPlaintext,
    kTls,
    kLocalUds,  // local credentials: plaintext, from unix-socket peers only
    kLocalTcp,  // local credentials: plaintext, from loopback peers only
  };
  Kind kind = Kind::kPlaintext;
  std::shared_ptr<const internal::TlsServerContext> tls;  // kTls: the certificates to serve
  // kTls: before each handshake, ask the application for new certificates (a
  // kCertificateFetch event, answered by ServerCertificatesCommand); grpc's certificate
  // configuration fetcher.
  bool fetch_certificates = false;
};

struct StartServerCommand {
  uint64_t server_id = 0;
  std::shared_ptr<CompletionQueue> cq;
  std::vector<int> listen_fds;  // bound and listening; the engine owns them from here
  std::vector<ListenerSecurity> security;  // per listen_fds entry; missing ones are plaintext
  ServerOptions options;
  std::unordered_set<std::string> unary_request_methods;  // paths whose request is pre-read
};

enum class StopPhase : uint8_t {
  kStopAccepting,  // close listeners, send GOAWAY; in-flight calls go on
  kCloseAll,       // cancel what is left and close every connection
};

struct StopServerCommand {
  uint64_t server_id = 0;
  StopPhase phase = StopPhase::kStopAccepting;
};

// The answer to kCertificateFetch: the certificates listener `listener` serves from now on
// (null: keep the current ones). Connections waiting for the answer start their handshakes.
struct ServerCertificatesCommand {
  uint64_t server_id = 0;
  uint32_t listener = 0;
  std::shared_ptr<const internal::TlsServerContext> tls;
};

using Command = std::variant<StartCallCommand, CallMetadataCommand, SendMessageCommand, HalfCloseCommand, ReadCommand,
                             CancelCommand, SendInitialMetadataCommand, FinishCommand,
                             CreateChannelCommand, ConnectChannelCommand, WatchChannelCommand,
                             CloseChannelCommand, StartServerCommand,
                             StopServerCommand, ServerCertificatesCommand>;

}  // namespace turbogrpc
