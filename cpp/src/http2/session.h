// Http2Session: one nghttp2 session and the single place where its callbacks are registered.
// Each C trampoline finds the handler and calls one member function, nothing else.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace turbogrpc::internal {

// What a connection implements to receive the session's callbacks (poller thread only).
// Returning a non-zero value from any of them is a connection error (NGHTTP2_ERR_CALLBACK_FAILURE).
class Http2Handler {
 public:
  virtual ~Http2Handler() = default;
  // A frame header arrived (before nghttp2 acts on the frame; CONTINUATION included).
  virtual int on_begin_frame(const nghttp2_frame_hd* /*hd*/) { return 0; }
  virtual int on_begin_headers(const nghttp2_frame* frame) = 0;
  virtual int on_header(const nghttp2_frame* frame, std::string_view name, std::string_view value) = 0;
  virtual int on_frame_recv(const nghttp2_frame* frame) = 0;
  virtual int on_data_chunk(int32_t stream_id, const uint8_t* data, size_t length) = 0;
  virtual int on_stream_close(int32_t stream_id, uint32_t error_code) = 0;
  virtual int on_frame_send(const nghttp2_frame* /*frame*/) { return 0; }
  // The body of every stream's data source (the stream's user data names the call). Sizes a
  // DATA frame of at most `length` bytes and sets NGHTTP2_DATA_FLAG_NO_COPY: its payload is
  // written by send_data, without a copy into nghttp2's buffer.
  virtual ssize_t read_data(int32_t stream_id, size_t length, uint32_t* data_flags,
                            void* stream_user_data) = 0;
  // Writes one DATA frame sized by read_data: the 9-byte `frame_header`, then `length` bytes.
  virtual int send_data(int32_t stream_id, const uint8_t* frame_header, size_t length,
                        void* stream_user_data) = 0;
};

enum class Http2Role : uint8_t { kClient, kServer };

struct SessionDeleter {
  void operator()(nghttp2_session* s) const { nghttp2_session_del(s); }
};
using SessionPtr = std::unique_ptr<nghttp2_session, SessionDeleter>;

// Our settings and the limits nghttp2 enforces for us (docs/limits.md has the table):
// generous windows (we give window back ourselves, as messages are read), the client's push
// disabled, and every flood nghttp2 can count capped explicitly, so the protection does not
// depend on how the distribution patched its nghttp2.
struct Http2Settings {
  uint32_t initial_window_size = 1 << 20;
  int32_t connection_window_size = 16 << 20;
  int64_t max_concurrent_streams = -1;  // server: advertise when >= 0
  uint32_t max_header_list_size = 16 << 10;  // advertised; enforced per call (MetadataBudget)
  uint32_t header_table_size = 4096;         // HPACK dynamic table we keep for the peer
  // RST_STREAMs a peer may make us process (rapid reset, CVE-2023-44487): a burst, then a rate.
  uint64_t stream_reset_burst = 1000;
  uint64_t stream_resets_per_second = 33;
  size_t max_continuations = 8;    // CONTINUATION frames per header block (CVE-2024-28182)
  size_t max_settings = 32;        // entries in one SETTINGS frame
  size_t max_outbound_ack = 1000;  // queued PING/SETTINGS acks (ping and settings floods)
};

// The settings for our side of a connection, from the limits of a channel or a server.
Http2Settings http2_settings(int64_t absolute_max_metadata_size, int64_t max_concurrent_streams);

// Creates the session, submits our SETTINGS (and the connection window) — the preface goes out
// with the first flush. Returns null only when nghttp2 cannot allocate.
SessionPtr make_session(Http2Role role, Http2Handler* handler, const Http2Settings& settings);

// A nghttp2_data_provider whose read callback is Http2Handler::read_data.
nghttp2_data_provider data_provider();

// nghttp2_nv for a name/value pair (nghttp2 copies them on submit).
inline nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

}  // namespace turbogrpc::internal
