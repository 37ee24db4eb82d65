// gRPC length-prefixed message framing: the 5-byte header writer and the incremental Deframer.
// See message_framing.h.
#include "codec/message_framing.h"

#include <algorithm>
#include <cstring>

#include "turbogrpc/message_buffers.h"

namespace turbogrpc::internal {

namespace {

// Upper bound on what we reserve up front for a split message: with no receive limit a peer
// could announce 4 GiB and never send it, so beyond this the buffer grows as bytes arrive.
// Below it the body is built in place with no regrowth (a reallocation copies the whole body
// into fresh pages: for a 4 MiB message that cost more than the rest of the receive path).
// Reserving only maps memory; pages are committed as the body is written.
constexpr size_t kMaxUpfrontReserve = size_t{64} << 20;

}  // namespace

void write_frame_header(uint8_t* out5, uint32_t length, bool compressed) {
  out5[0] = compressed ? 1 : 0;
  out5[1] = static_cast<uint8_t>(length >> 24);
  out5[2] = static_cast<uint8_t>(length >> 16);
  out5[3] = static_cast<uint8_t>(length >> 8);
  out5[4] = static_cast<uint8_t>(length);
}

void append_message_frame(std::string& out, std::string_view payload, bool compressed) {
  uint8_t header[kFrameHeaderSize];
  write_frame_header(header, static_cast<uint32_t>(payload.size()), compressed);
  out.reserve(out.size() + kFrameHeaderSize + payload.size());
  out.append(reinterpret_cast<const char*>(header), kFrameHeaderSize);
  out.append(payload);
}

Deframer::Deframer(int64_t max_message_size) : max_message_size_(max_message_size) {}

DeframeError Deframer::start_message() {
  header_size_ = 0;
  length_ = (uint32_t{header_[1]} << 24) | (uint32_t{header_[2]} << 16) |
            (uint32_t{header_[3]} << 8) | uint32_t{header_[4]};
  if (header_[0] > 1) return DeframeError::kInvalidFlags;
  if (max_message_size_ >= 0 && static_cast<int64_t>(length_) > max_message_size_) {
    return DeframeError::kMessageTooLarge;
  }
  compressed_ = header_[0] == 1;
  in_body_ = true;
  return DeframeError::kNone;
}

void Deframer::fail(DeframeError error) {
  error_ = error;
  in_body_ = false;
  header_size_ = 0;
  std::string().swap(body_);  // the stream is dead; give the memory back now
}

DeframeError Deframer::feed(std::string_view data, std::vector<DeframedMessage>& out) {
  if (error_ != DeframeError::kNone) return error_;
  size_t pos = 0;
  while (pos < data.size()) {
    if (!in_body_) {
      size_t take = std::min(kFrameHeaderSize - header_size_, data.size() - pos);
      std::memcpy(header_ + header_size_, data.data() + pos, take);
      header_size_ += take;
      pos += take;
      if (header_size_ < kFrameHeaderSize) break;
      if (DeframeError error = start_message(); error != DeframeError::kNone) {
        fail(error);
        return error;
      }
      // Fast path: the whole body is in this chunk (or empty), so build it with one copy.
      if (data.size() - pos >= length_) {
        out.push_back(DeframedMessage{std::string(data.substr(pos, length_)), compressed_});
        pos += length_;
        in_body_ = false;
        continue;
      }
      body_ = take_message_buffer(std::min<size_t>(length_, kMaxUpfrontReserve));
    }
    size_t take = std::min<size_t>(length_ - body_.size(), data.size() - pos);
    body_.append(data.data() + pos, take);
    pos += take;
    if (body_.size() == length_) {
      out.push_back(DeframedMessage{std::move(body_), compressed_});
      body_ = std::string();
      in_body_ = false;
    }
  }
  return DeframeError::kNone;
}

bool Deframer::has_partial_message() const { return in_body_ || header_size_ > 0; }

uint32_t Deframer::announced_length() const { return length_; }

int64_t Deframer::max_message_size() const { return max_message_size_; }

}  // namespace turbogrpc::internal
