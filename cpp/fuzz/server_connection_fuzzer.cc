// server_connection: a real Server accepts one connection on a unix socket (Server::accept_from,
// so a real ServerConnection), and the fuzzer plays the client, writing the input's bytes into
// the other end. Every kServerCall is answered, so the call state machines run (request headers,
// messages, response headers, data, trailers); what the server writes back is drained so its
// socket never blocks. Asserts: no crash, no leak, and after Server::stop(kCloseAll) no
// connection and no call is left.
//
// Input: byte 0 picks the mode, the rest is what the client sends.
//   bits 0-1  3: the bytes go as they are; otherwise the client preface and an empty SETTINGS
//             frame go first, so most inputs get past the handshake
//   bits 2-3  how the handler answers: 0 finish with a message and OK; 1 read, initial metadata,
//             one message, then finish; 2 finish with an error status and no message; 3 never
//   bit 4     feed the bytes in pieces of 61 bytes (or 1/32 of the input, if more), one per poller
//             iteration (else all at once)
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "fuzz_check.h"
#include "rpc/server_call.h"
#include "transport/server.h"
#include "transport/server_connection.h"
#include "transport_fuzz_context.h"

using namespace turbogrpc;
using namespace turbogrpc::internal;
using namespace turbogrpc::internal::fuzz;

namespace {

constexpr uint64_t kServerId = 1;
constexpr int kMaxIterations = 64;
constexpr int kQuietIterationsToStop = 3;
constexpr size_t kPieceSize = 61;

void answer(FuzzContext& context, const Event& event, int style) {
  Call* call = context.calls().find(event.call_id);
  if (call == nullptr || style == 3) return;
  if (style == 1) {
    call->read();
    SendInitialMetadataCommand initial;
    initial.call_id = event.call_id;
    initial.metadata = {{"x-initial", "i1"}, {"x-blob-bin", std::string("\0\1\2", 3)}};
    call->send_initial_metadata(std::move(initial));
    SendMessageCommand message;
    message.call_id = event.call_id;
    message.message = "streamed reply";
    call->send(std::move(message));
  }
  FinishCommand finish;
  finish.call_id = event.call_id;
  if (style == 2) {
    finish.status = {StatusCode::kNotFound, "no such thing: \xc3\xa9 100%"};
  } else {
    finish.message = "pong";
    finish.initial_metadata = {{"x-initial", "i1"}};
    finish.status = {StatusCode::kOk, ""};
  }
  finish.trailing_metadata = {{"x-trailing", "t1"}};
  call->finish(std::move(finish));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static UnixListener listener("server");
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const int style = (mode >> 2) & 3;
  const bool piecewise = (mode & 0x10) != 0;

  std::string input;
  if ((mode & 3) != 3) {
    input.append(kClientPreface);
    append_frame(input, /*SETTINGS*/ 4, 0, 0, {});
  }
  input.append(reinterpret_cast<const char*>(data + 1), size - 1);

  FuzzContext context;
  auto cq = std::make_shared<CompletionQueue>();
  StartServerCommand command;
  command.server_id = kServerId;
  command.cq = cq;
  command.listen_fds = {::dup(listener.fd())};  // the server owns (and closes) its copy
  command.unary_request_methods = {"/test.Echo/Unary"};
  auto server = std::make_unique<Server>(context, std::move(command));

  int peer = listener.dial();
  context.run_once();  // accept
  FUZZ_CHECK(context.find_connection<ServerConnection>() != nullptr,
             "the server did not accept the fuzzer's connection");

  size_t offset = 0;
  bool eof = false;
  int quiet = 0;
  for (int i = 0; i < kMaxIterations && !eof && quiet < kQuietIterationsToStop; ++i) {
    size_t before = offset;
    if (piecewise) {
      // At least 1/32 of the input per piece, so that all of it goes within the iterations.
      size_t end = std::min(input.size(), offset + std::max(kPieceSize, input.size() / 32));
      feed(peer, std::string_view(input).substr(0, end), &offset);
    } else {
      feed(peer, input, &offset);
    }
    context.run_once();
    size_t events = 0;
    for (Event& e : cq->drain()) {
      ++events;
      if (verbose()) print_event(e);
      if (e.kind == EventKind::kServerCall) answer(context, e, style);
    }
    size_t out = drain(peer, &eof);
    bool progress = offset != before || events != 0 || out != 0;
    quiet = (progress || offset < input.size()) ? 0 : quiet + 1;
  }

  server->stop(StopPhase::kCloseAll);
  context.run_once();
  cq->drain();
  FUZZ_CHECK(context.live_connections() == 0, "a connection outlived Server::stop(kCloseAll)");
  FUZZ_CHECK(context.calls().size() == 0, "a call outlived its connection");
  server.reset();
  ::close(peer);
  return 0;
}
