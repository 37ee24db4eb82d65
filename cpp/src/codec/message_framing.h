// gRPC length-prefixed message framing: the 5-byte header writer and the incremental Deframer.
// Used by the transport to frame outgoing messages and to split received DATA bytes into messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace turbogrpc::internal {

// 1 byte compressed flag + 4 bytes big-endian payload length.
constexpr size_t kFrameHeaderSize = 5;

// Writes the header for a `length`-byte payload into out5[0..5).
void write_frame_header(uint8_t* out5, uint32_t length, bool compressed);

// Appends header + payload to `out`. The caller guarantees payload.size() fits in uint32_t
// (the send path enforces the max message size long before this).
void append_message_frame(std::string& out, std::string_view payload, bool compressed);

enum class DeframeError : uint8_t {
  kNone,             // all input consumed so far was well formed
  kMessageTooLarge,  // a length prefix exceeded max_message_size (RESOURCE_EXHAUSTED)
  kInvalidFlags,     // the compressed-flag byte was neither 0 nor 1 (INTERNAL)
};

struct DeframedMessage {
  std::string payload;
  bool compressed = false;  // the payload still needs the stream's grpc-encoding applied
};

// Incremental parser for a stream's received bytes; DATA frames may split messages anywhere.
// Not thread-safe: owned by one stream on the poller thread.
class Deframer {
 public:
  explicit Deframer(int64_t max_message_size);  // negative = unlimited

  // Consumes all of `data`; appends each completed message to `out`. After the first error it
  // consumes nothing more and keeps returning that error. An over-size length prefix is an error
  // as soon as the 5-byte header is seen (never buffer the body). Messages completed before the
  // error in the same call are still appended.
  DeframeError feed(std::string_view data, std::vector<DeframedMessage>& out);

  // A header or body is partly buffered: end-of-stream now means a truncated message.
  // False after an error (the buffers are released then; the error is what to report).
  bool has_partial_message() const;

  // The length of the current/rejected frame (for error text); 0 before any header is seen.
  uint32_t announced_length() const;

  int64_t max_message_size() const;

 private:
  // Parses header_ once all 5 bytes are in; returns the error, if any.
  DeframeError start_message();
  void fail(DeframeError error);

  int64_t max_message_size_;
  DeframeError error_ = DeframeError::kNone;

  // Header being assembled (only while header_size_ > 0 and not in_body_).
  uint8_t header_[kFrameHeaderSize] = {};
  size_t header_size_ = 0;

  // Body of the current message; used only when it arrives in pieces.
  bool in_body_ = false;
  bool compressed_ = false;
  uint32_t length_ = 0;
  std::string body_;
};

}  // namespace turbogrpc::internal
