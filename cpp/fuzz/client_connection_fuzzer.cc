// client_connection: a real Channel dials the fuzzer's unix socket (so a real ClientConnection)
// and starts a unary call, and for most inputs a streaming one too; the fuzzer accepts and plays
// the server, writing the input's bytes as the response side. The response headers, messages
// and trailers are parsed into ClientCall; what the client writes is drained so its socket never
// blocks. Asserts: no crash, no leak; each call reports its end exactly once (kUnaryDone or
// kFinished), never twice, and by Channel::close() at the latest; no connection or call is left.
//
// Input: byte 0 picks the mode, the rest is what the server sends.
//   bits 0-1  3: the bytes go as they are; otherwise an empty SETTINGS frame (the server
//             preface) goes first
//   bit 2     also start a streaming call (a second stream): one request with end of stream, and read
//             credit for every message that arrives
//   bit 3     feed the bytes in pieces of 61 bytes (or 1/32 of the input, if more), one per poller
//             iteration (else all at once)
//   bit 4     the unary call is started after the connection is up (else while connecting);
//             a streaming call is then started in any case, so that the channel dials
//   bit 5     round_robin with client-side health checking (A17): the connection's first stream
//             (1) is the engine's own grpc.health.v1 Watch, whose answers the bytes also give;
//             the calls wait for SERVING (streams 3 and 5), or fail on NOT_SERVING
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "fuzz_check.h"
#include "rpc/client_call.h"
#include "transport/channel.h"
#include "transport/client_connection.h"
#include "transport_fuzz_context.h"

using namespace turbogrpc;
using namespace turbogrpc::internal;
using namespace turbogrpc::internal::fuzz;

namespace {

constexpr uint64_t kChannelId = 2;
constexpr int kMaxIterations = 64;
constexpr int kQuietIterationsToStop = 3;
constexpr size_t kPieceSize = 61;
constexpr int kMaxReads = 16;

uint64_t start_call(FuzzContext& context, Channel& channel, const ChannelOptions& options,
                    const std::shared_ptr<CompletionQueue>& cq, CallShape shape) {
  StartCallCommand command;
  command.channel_id = kChannelId;
  command.call_id = context.new_id();
  command.cq = cq;
  command.shape = shape;
  if (shape == CallShape::kUnary) {
    command.method = "/test.Echo/Unary";
    command.metadata = {{"x-request", "r1"}, {"x-blob-bin", std::string("\0\1\2", 3)}};
    command.message = "ping";
  } else {
    command.method = "/test.Echo/Stream";
  }
  uint64_t id = command.call_id;
  channel.start_call(std::make_unique<ClientCall>(std::move(command), options, nullptr, nullptr, context.calls(), nullptr));
  return id;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static UnixListener listener("client");
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const bool streaming = (mode & 0x04) != 0;
  const bool piecewise = (mode & 0x08) != 0;
  const bool unary_after_connect = (mode & 0x10) != 0;
  const bool health_checked = (mode & 0x20) != 0;

  std::string input;
  if ((mode & 3) != 3) append_frame(input, /*SETTINGS*/ 4, 0, 0, {});
  input.append(reinterpret_cast<const char*>(data + 1), size - 1);

  FuzzContext context;
  auto cq = std::make_shared<CompletionQueue>();
  ChannelOptions options;
  if (health_checked) {
    options.lb_policy = LbPolicy::kRoundRobin;
    options.health_check_service = "test.Echo";
  }
  auto channel = std::make_unique<Channel>(context, kChannelId, "unix:" + listener.path(), options);
  context.route_channel_timers(kChannelId, channel.get());  // the health watch's news

  std::map<uint64_t, int> ends;  // call id -> terminal events seen
  uint64_t unary = 0, stream = 0;
  if (!unary_after_connect) unary = start_call(context, *channel, options, cq, CallShape::kUnary);
  if (streaming) stream = start_call(context, *channel, options, cq, CallShape::kStreaming);
  if (unary_after_connect && !streaming) {
    // Something must make the channel dial: a call that waits for the connection.
    stream = start_call(context, *channel, options, cq, CallShape::kStreaming);
  }

  int peer = listener.accept_one();
  FUZZ_CHECK(peer >= 0, "the channel did not dial the fuzzer's socket");
  context.run_once();  // connected: the pending calls go out
  FUZZ_CHECK(context.find_connection<ClientConnection>() != nullptr, "the channel has no connection");
  if (unary_after_connect) unary = start_call(context, *channel, options, cq, CallShape::kUnary);
  int reads = 0;
  if (stream != 0) {
    if (Call* call = context.calls().find(stream)) {
      call->read();
      ++reads;
      SendMessageCommand message;
      message.call_id = stream;
      message.message = "stream request";
      message.end_of_stream = true;
      call->send(std::move(message));
    }
  }
  if (unary != 0) ends[unary] = 0;
  if (stream != 0) ends[stream] = 0;

  auto take_events = [&]() -> size_t {
    std::vector<Event> events = cq->drain();
    for (const Event& e : events) {
      if (verbose()) print_event(e);
      if (e.kind == EventKind::kUnaryDone || e.kind == EventKind::kFinished) {
        auto it = ends.find(e.call_id);
        FUZZ_CHECK(it != ends.end(), "a terminal event for a call that was never started");
        FUZZ_CHECK(++it->second == 1, "a call reported its end twice");
        FUZZ_CHECK((e.kind == EventKind::kUnaryDone) == (e.call_id == unary),
                   "a call ended with the other shape's event");
      } else if (e.kind == EventKind::kMessage && e.call_id == stream && e.message &&
                 reads < kMaxReads) {
        if (Call* call = context.calls().find(stream)) {
          call->read();
          ++reads;
        }
      }
    }
    return events.size();
  };

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
    size_t events = take_events();
    size_t out = drain(peer, &eof);
    bool progress = offset != before || events != 0 || out != 0;
    quiet = (progress || offset < input.size()) ? 0 : quiet + 1;
  }

  channel->close();
  context.run_once();
  take_events();
  for (const auto& [id, count] : ends) {
    FUZZ_CHECK(count == 1, "a call never reported its end, even after Channel::close()");
  }
  FUZZ_CHECK(context.live_connections() == 0, "a connection outlived Channel::close()");
  FUZZ_CHECK(context.calls().size() == 0, "a call outlived its connection");
  channel.reset();
  ::close(peer);
  return 0;
}
