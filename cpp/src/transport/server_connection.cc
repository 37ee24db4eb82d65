#include "transport/server_connection.h"

#include "engine/engine_core.h"
#include "io/address.h"
#include "transport/server.h"

namespace turbogrpc::internal {

ServerConnection::ServerConnection(EngineCore& core, Server& server, int fd)
    : Connection(core, fd, Http2Role::kServer, server.http2_settings()), server_(server) {
  peer_ = peer_name(fd);
  set_no_delay(fd);
  watch(EPOLLIN);
  mark_dirty();  // our SETTINGS go out at once
}

ServerCall* ServerConnection::call_of(int32_t stream_id) {
  return static_cast<ServerCall*>(call_on(stream_id));
}

void ServerConnection::shut_down() {
  if (closed()) return;
  nghttp2_submit_goaway(session(), NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session()), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  mark_dirty();
}

int ServerConnection::on_begin_headers(const nghttp2_frame* frame) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto call = std::make_unique<ServerCall>(core_.new_id(), server_.id(), server_.cq(),
                                           server_.options(), core_.calls(), &core_.codec(), peer_);
  call->attach(this, frame->hd.stream_id);
  Call* stream_user_data = call.get();
  nghttp2_session_set_stream_user_data(session(), frame->hd.stream_id, stream_user_data);
  add_stream(frame->hd.stream_id, std::move(call));
  return 0;
}

int ServerConnection::on_header(const nghttp2_frame* frame, std::string_view name,
                                std::string_view value) {
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    if (ServerCall* call = call_of(frame->hd.stream_id)) call->on_header(name, value);
  }
  return 0;
}

int ServerConnection::on_frame(const nghttp2_frame* frame) {
  ServerCall* call = frame->hd.stream_id != 0 ? call_of(frame->hd.stream_id) : nullptr;
  if (call == nullptr) return 0;
  bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    if (call->on_request_headers(end_stream, server_.preread(call->path())) && call->deadline())
      core_.timers().add(*call->deadline(), TimerKind::kCallDeadline, call->id());
    return 0;
  }
  if (end_stream && (frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS))
    call->on_peer_end_stream();
  return 0;
}

int ServerConnection::on_frame_send(const nghttp2_frame* frame) {
  // Our side ended the stream while the client still sends: reset it with NO_ERROR, as grpc's
  // servers do, so the client stops sending and sees the status we sent (not a failed write).
  if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
      (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA)) {
    ServerCall* call = call_of(frame->hd.stream_id);
    if (call != nullptr && call->ended_before_peer()) reset_stream(frame->hd.stream_id, NGHTTP2_NO_ERROR);
  }
  return 0;
}

void ServerConnection::on_closed(const Status&) { server_.on_connection_closed(this); }

}  // namespace turbogrpc::internal
