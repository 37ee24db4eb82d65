#include "transport/client_connection.h"

#include <cstring>
#include <string_view>

#include "codec/compression.h"
#include "codec/timeout_codec.h"
#include "transport/transport_context.h"
#include "io/address.h"
#include "io/trace.h"
#include "transport/channel.h"
#include "transport/subchannel.h"

namespace turbogrpc::internal {
namespace {
// The server's ping policing refused our keepalive (grpc's ENHANCE_YOUR_CALM "too_many_pings").
bool too_many_pings(const nghttp2_goaway& goaway) {
  static constexpr std::string_view kTooManyPings = "too_many_pings";
  return goaway.error_code == NGHTTP2_ENHANCE_YOUR_CALM &&
         std::string_view(reinterpret_cast<const char*>(goaway.opaque_data), goaway.opaque_data_len) == kTooManyPings;
}
}  // namespace

ClientConnection::ClientConnection(TransportContext& context, Subchannel& subchannel, int fd)
    : Connection(context, fd, Http2Role::kClient,
                 http2_settings(subchannel.options().absolute_max_metadata_size, -1)),
      subchannel_(subchannel) {
  connecting_ = true;
  watch(EPOLLOUT);
  context.timers().add(subchannel.connect_deadline(), TimerKind::kConnectDeadline, id());
}

void ClientConnection::on_connection_timer(TimerKind kind) {
  if (kind != TimerKind::kConnectDeadline || settings_received_) return;
  std::string what = connecting_ ? "connect() timed out"
                     : handshaking() ? "TLS handshake timed out"
                                     : "no HTTP/2 SETTINGS from the server in time";
  subchannel_.on_connect_failed(this, (peer_.empty() ? std::string() : peer_ + ": ") + what);
}

void ClientConnection::on_connect_writable() {
  int err = connect_error(fd_);
  if (err != 0) {
    connecting_ = false;
    subchannel_.on_connect_failed(this, std::string(std::strerror(err)));  // may close us
    return;
  }
  connecting_ = false;
  peer_ = peer_name(fd_);
  watch(EPOLLIN);
  if (const auto& tls = subchannel_.channel().options().tls) {
    // HTTP/2 waits for the handshake; the channel hears of us when it is done.
    start_tls(TlsStream::client(*tls, subchannel_.channel().tls_server_name(), subchannel_.channel().tls_resumption()));
    return;
  }
  mark_dirty();  // the preface and SETTINGS go out with the first flush
}

void ClientConnection::on_handshake_done() {
  mark_dirty();  // the preface and SETTINGS follow the handshake
}

void ClientConnection::on_handshake_failed(const std::string& reason) {
  subchannel_.on_connect_failed(this, peer_ + ": TLS handshake failed: " + reason);  // closes us
}

ClientCall* ClientConnection::call_of(int32_t stream_id) {
  return static_cast<ClientCall*>(call_on(stream_id));
}

void ClientConnection::start_call(std::unique_ptr<ClientCall> call, const std::string& authority,
                                  const std::string& user_agent) {
  std::vector<nghttp2_nv> nva = {
      make_nv(":method", "POST"),      make_nv(":scheme", secure() ? "https" : "http"),
      make_nv(":path", call->method()), make_nv(":authority", authority),
      make_nv("content-type", "application/grpc"), make_nv("te", "trailers"),
      make_nv("user-agent", user_agent), make_nv("grpc-accept-encoding", kAcceptEncodingValue)};
  if (call->send_compression() != Compression::kNone)
    nva.push_back(make_nv("grpc-encoding", encoding_name(call->send_compression())));
  std::string previous_attempts;
  if (call->previous_attempts() > 0) {
    previous_attempts = std::to_string(call->previous_attempts());
    nva.push_back(make_nv("grpc-previous-rpc-attempts", previous_attempts));
  }
  std::string timeout;
  if (call->deadline()) {
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(*call->deadline() - Clock::now());
    timeout = format_grpc_timeout(left.count());
    nva.push_back(make_nv("grpc-timeout", timeout));
  }
  std::deque<std::string> storage;
  append_metadata_nv(call->request_metadata(), nva, storage);
  nghttp2_data_provider provider = data_provider();
  Call* stream_user_data = call.get();
  int32_t stream_id = nghttp2_submit_request(session(), nullptr, nva.data(), nva.size(),
                                             &provider, stream_user_data);
  if (stream_id < 0) {
    call->fail_attempt({StatusCode::kUnavailable,
                        std::string("Cannot start a stream: ") + nghttp2_strerror(stream_id)},
                       "submit_request failed");
    if (call->retry_due()) subchannel_.channel().retry_later(std::move(call));
    return;
  }
  call->attach(this, stream_id);
  add_stream(stream_id, std::move(call));
  mark_dirty();
}

void ClientConnection::shut_down() {
  if (closed()) return;
  nghttp2_session_terminate_session(session(), NGHTTP2_NO_ERROR);
  mark_dirty();
}

void ClientConnection::close_for_channel(const Status& reason) {
  if (closed()) return;
  shut_down();
  close_after_flush(reason);  // so a flush that ends the connection gives `reason` too
  flush();
  close(reason);  // no-op when the flush closed it; otherwise (connecting, handshaking) now
}

int ClientConnection::on_begin_headers(const nghttp2_frame* frame) {
  if (ClientCall* call = call_of(frame->hd.stream_id)) {
    call->begin_headers(frame->headers.cat == NGHTTP2_HCAT_HEADERS,
                        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0);
  }
  return 0;
}

int ClientConnection::on_header(const nghttp2_frame* frame, std::string_view name,
                                std::string_view value) {
  if (ClientCall* call = call_of(frame->hd.stream_id)) call->on_header(name, value);
  return 0;
}

int ClientConnection::on_frame(const nghttp2_frame* frame) {
  bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
      if (ClientCall* call = call_of(frame->hd.stream_id)) {
        call->end_headers();
        if (end_stream) call->on_peer_end_stream();
      }
      break;
    case NGHTTP2_DATA:
      if (end_stream) {
        if (ClientCall* call = call_of(frame->hd.stream_id)) call->on_peer_end_stream();
      }
      break;
    case NGHTTP2_SETTINGS:
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0 && !settings_received_) {
        settings_received_ = true;
        start_keepalive(subchannel_.channel().keepalive_settings());
        subchannel_.on_connected(this);  // READY: pending calls start here
      }
      break;
    case NGHTTP2_GOAWAY:
      if (tracing(Trace::kConnection)) {
        trace_line(Trace::kConnection, peer_ + ": GOAWAY received: " + describe_goaway(frame->goaway));
      }
      // No new streams here; those above last_stream_id are closed by nghttp2 (REFUSED_STREAM).
      goaway_received_ = true;
      if (too_many_pings(frame->goaway)) subchannel_.channel().on_too_many_pings();
      subchannel_.on_goaway(this);
      break;
    default:
      break;
  }
  return 0;
}

std::unique_ptr<Call> ClientConnection::take_refused(std::unique_ptr<Call> call) {
  auto* client = static_cast<ClientCall*>(call.get());
  if (!client->can_retry_transparently()) return call;
  if (tracing(Trace::kConnection)) {
    trace_line(Trace::kConnection, peer_ + ": stream of call " + std::to_string(client->id()) +
                                       " refused; retrying it transparently");
  }
  client->prepare_transparent_retry();
  call.release();
  subchannel_.channel().retry_call(std::unique_ptr<ClientCall>(client));
  return nullptr;
}

void ClientConnection::take_for_retry(std::unique_ptr<Call>& call) {
  auto* client = static_cast<ClientCall*>(call.get());
  if (!client->retry_due()) return;
  call.release();
  subchannel_.channel().retry_later(std::unique_ptr<ClientCall>(client));
}

void ClientConnection::on_closed(const Status& reason) {
  subchannel_.on_connection_closed(this, reason);
}

}  // namespace turbogrpc::internal
