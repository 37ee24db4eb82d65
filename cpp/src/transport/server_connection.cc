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
  return static_cast<ServerCall*>(nghttp2_session_get_stream_user_data(session(), stream_id));
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
                                           server_.options(), core_.calls(), peer_);
  call->attach(this, frame->hd.stream_id);
  nghttp2_session_set_stream_user_data(session(), frame->hd.stream_id, call.get());
  streams_[frame->hd.stream_id] = std::move(call);
  return 0;
}

int ServerConnection::on_header(const nghttp2_frame* frame, std::string_view name,
                                std::string_view value) {
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    if (ServerCall* call = call_of(frame->hd.stream_id)) call->on_header(name, value);
  }
  return 0;
}

int ServerConnection::on_frame_recv(const nghttp2_frame* frame) {
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

int ServerConnection::on_data_chunk(int32_t stream_id, const uint8_t* data, size_t length) {
  ServerCall* call = call_of(stream_id);
  size_t give_back = call != nullptr ? call->on_data(data, length) : length;
  if (give_back > 0) consume(stream_id, give_back);
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

int ServerConnection::on_stream_close(int32_t stream_id, uint32_t error_code) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return 0;
  std::unique_ptr<ServerCall> call = std::move(it->second);
  streams_.erase(it);
  call->on_stream_closed(error_code);
  return 0;
}

ssize_t ServerConnection::read_data(int32_t, size_t length, uint32_t* data_flags, void* stream_user_data) {
  return static_cast<ServerCall*>(stream_user_data)->read_outbound(length, data_flags);
}

int ServerConnection::send_data(int32_t, const uint8_t* frame_header, size_t length, void* stream_user_data) {
  return append_data_frame(frame_header, length, *static_cast<ServerCall*>(stream_user_data));
}

void ServerConnection::on_closed(const Status& reason) {
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, call] : streams) call->on_stream_closed(NGHTTP2_CANCEL);
  server_.on_connection_closed(this);
}

}  // namespace turbogrpc::internal
