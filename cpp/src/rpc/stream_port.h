// StreamPort: what a call asks of the HTTP/2 stream it runs on — send headers and trailers,
// wake its data source, give back window, reset. Connection implements it (transport/), so the
// I/O-free call state machines in rpc/ depend on this and not on the connection; they hand
// over plain header fields and Metadata, and the transport turns them into nghttp2 header
// lists (-bin values base64-encoded there). Poller thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "turbogrpc/metadata.h"

namespace turbogrpc::internal {

// Header fields as they go on the wire (pseudo-headers first, names lowercase). The strings
// they view must stay alive until the submit call that takes them returns.
using HeaderFields = std::vector<std::pair<std::string_view, std::string_view>>;

// Whether response headers are followed by the call's messages and trailers (read from the
// call's data source), or end the stream themselves (trailers-only, or an HTTP error).
enum class ResponseBody : uint8_t { kFollows, kNone };

class StreamPort {
 public:
  virtual ~StreamPort() = default;

  // The data source was parked (nothing to send): there is more, or the end, now.
  virtual void resume_data(int32_t stream_id) = 0;
  // The application read `bytes` of the stream's data: the peer may send that much more on it.
  virtual void return_stream_window(int32_t stream_id, size_t bytes) = 0;
  // RST_STREAM with an HTTP/2 error code (RFC 9113 §7). Nothing once the connection is closed.
  virtual void reset_stream(int32_t stream_id, uint32_t error_code) = 0;
  // Server: response headers, `fields` then the application's `metadata`. False when the
  // session refused them (the caller resets the stream, so it cannot hang open).
  virtual bool submit_response(int32_t stream_id, const HeaderFields& fields,
                               const Metadata& metadata, ResponseBody body) = 0;
  // Trailers that end the stream: `fields` (grpc-status, grpc-message) then `metadata`.
  // False when the session refused them.
  virtual bool submit_trailers(int32_t stream_id, const HeaderFields& fields,
                               const Metadata& metadata) = 0;
};

}  // namespace turbogrpc::internal
