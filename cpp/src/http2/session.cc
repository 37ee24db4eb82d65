#include "http2/session.h"

#include <algorithm>

namespace turbogrpc::internal {
namespace {

Http2Handler* handler_of(void* user_data) { return static_cast<Http2Handler*>(user_data); }

int begin_frame_cb(nghttp2_session*, const nghttp2_frame_hd* hd, void* user_data) {
  return handler_of(user_data)->on_begin_frame(hd);
}

int begin_headers_cb(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  return handler_of(user_data)->on_begin_headers(frame);
}

int header_cb(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
              const uint8_t* value, size_t valuelen, uint8_t, void* user_data) {
  return handler_of(user_data)->on_header(
      frame, std::string_view(reinterpret_cast<const char*>(name), namelen),
      std::string_view(reinterpret_cast<const char*>(value), valuelen));
}

int frame_recv_cb(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  return handler_of(user_data)->on_frame_recv(frame);
}

int data_chunk_cb(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data, size_t len,
                  void* user_data) {
  return handler_of(user_data)->on_data_chunk(stream_id, data, len);
}

int stream_close_cb(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user_data) {
  return handler_of(user_data)->on_stream_close(stream_id, error_code);
}

int frame_send_cb(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  return handler_of(user_data)->on_frame_send(frame);
}

ssize_t read_data_cb(nghttp2_session* session, int32_t stream_id, uint8_t*, size_t length,
                     uint32_t* data_flags, nghttp2_data_source*, void* user_data) {
  return handler_of(user_data)->read_data(stream_id, length, data_flags,
                                          nghttp2_session_get_stream_user_data(session, stream_id));
}

int send_data_cb(nghttp2_session* session, nghttp2_frame* frame, const uint8_t* frame_header,
                 size_t length, nghttp2_data_source*, void* user_data) {
  int32_t stream_id = frame->hd.stream_id;
  return handler_of(user_data)->send_data(stream_id, frame_header, length,
                                          nghttp2_session_get_stream_user_data(session, stream_id));
}

}  // namespace

SessionPtr make_session(Http2Role role, Http2Handler* handler, const Http2Settings& settings) {
  nghttp2_session_callbacks* callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0) return nullptr;
  nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks, begin_frame_cb);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, begin_headers_cb);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, header_cb);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, frame_recv_cb);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, data_chunk_cb);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, stream_close_cb);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, frame_send_cb);
  nghttp2_session_callbacks_set_send_data_callback(callbacks, send_data_cb);

  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  // We return window ourselves (Connection::on_data_received): the connection's at once, a
  // stream's only as the application reads its messages — backpressure per stream.
  nghttp2_option_set_no_auto_window_update(option, 1);
  // nghttp2 otherwise keeps closed streams for RFC 7540 priority handling, bounded only by
  // our own MAX_CONCURRENT_STREAMS: ~300 bytes per finished call for the connection's life.
  nghttp2_option_set_no_closed_streams(option, 1);
  // Flood limits; past them nghttp2 ends the connection (GOAWAY ENHANCE_YOUR_CALM, see
  // Connection::read_socket).
  nghttp2_option_set_stream_reset_rate_limit(option, settings.stream_reset_burst,
                                             settings.stream_resets_per_second);
  nghttp2_option_set_max_continuations(option, settings.max_continuations);
  nghttp2_option_set_max_settings(option, settings.max_settings);
  nghttp2_option_set_max_outbound_ack(option, settings.max_outbound_ack);
  nghttp2_option_set_max_send_header_block_length(option, 1 << 20);
  // Peers (grpc-core among them) send grpc-message values with trailing spaces; RFC 9113's
  // strict check would turn those into a PROTOCOL_ERROR reset of a perfectly good status.
  nghttp2_option_set_no_rfc9113_leading_and_trailing_ws_validation(option, 1);

  nghttp2_session* raw = nullptr;
  int rv = role == Http2Role::kClient
               ? nghttp2_session_client_new2(&raw, callbacks, handler, option)
               : nghttp2_session_server_new2(&raw, callbacks, handler, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  if (rv != 0) return nullptr;
  SessionPtr session(raw);

  nghttp2_settings_entry entries[5];
  size_t n = 0;
  entries[n++] = {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, settings.initial_window_size};
  entries[n++] = {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, settings.max_header_list_size};
  entries[n++] = {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, settings.header_table_size};
  if (role == Http2Role::kClient) entries[n++] = {NGHTTP2_SETTINGS_ENABLE_PUSH, 0};
  if (role == Http2Role::kServer && settings.max_concurrent_streams >= 0)
    entries[n++] = {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
                    static_cast<uint32_t>(settings.max_concurrent_streams)};
  nghttp2_submit_settings(raw, NGHTTP2_FLAG_NONE, entries, n);
  nghttp2_session_set_local_window_size(raw, NGHTTP2_FLAG_NONE, 0, settings.connection_window_size);
  return session;
}

Http2Settings http2_settings(int64_t absolute_max_metadata_size, int64_t max_concurrent_streams) {
  Http2Settings s;
  constexpr int64_t kMaxSettingValue = 0x7fffffff;
  s.max_header_list_size = static_cast<uint32_t>(
      absolute_max_metadata_size < 0 ? kMaxSettingValue : std::min(absolute_max_metadata_size, kMaxSettingValue));
  s.max_concurrent_streams = max_concurrent_streams < 0 ? -1 : std::min(max_concurrent_streams, kMaxSettingValue);
  return s;
}

nghttp2_data_provider data_provider() {
  nghttp2_data_provider p{};
  p.read_callback = read_data_cb;
  return p;
}

}  // namespace turbogrpc::internal
