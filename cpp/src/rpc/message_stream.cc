#include "rpc/message_stream.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>

#include "transport/connection.h"
#include "turbogrpc/message_buffers.h"

namespace turbogrpc::internal {

MessageStream::MessageStream(uint64_t id, std::shared_ptr<CompletionQueue> cq,
                             int64_t max_receive_size, int64_t max_send_size)
    : id_(id), cq_(std::move(cq)), max_send_size_(max_send_size), deframer_(max_receive_size) {}

ssize_t MessageStream::read_outbound(size_t length, uint32_t* data_flags) {
  size_t n = std::min(length, unsent_bytes());
  reserved_bytes_ += n;
  if (n > 0) *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (writes_owed_ > 0 && unsent_bytes() < kWriteDoneBelowBytes) ack_owed_writes();
  if (unsent_bytes() == 0) {
    if (outbound_closed_) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      end_of_stream_sent_ = true;
      on_outbound_end(data_flags);
      return static_cast<ssize_t>(n);
    }
    if (n == 0) {
      data_deferred_ = true;
      return NGHTTP2_ERR_DEFERRED;
    }
  }
  return static_cast<ssize_t>(n);
}

void MessageStream::take_outbound(size_t length, std::string& out) {
  length = std::min(length, reserved_bytes_);
  reserved_bytes_ -= length;
  unsent_bytes_ -= length;
  while (length > 0) {
    OutboundMessage& m = out_.front();
    if (out_offset_ < kFrameHeaderSize) {
      size_t take = std::min(length, kFrameHeaderSize - out_offset_);
      out.append(reinterpret_cast<const char*>(m.header) + out_offset_, take);
      out_offset_ += take;
      length -= take;
      if (out_offset_ < kFrameHeaderSize) break;  // the frame ends inside this header
    }
    size_t in_payload = out_offset_ - kFrameHeaderSize;
    size_t take = std::min(length, m.payload.size() - in_payload);
    out.append(m.payload, in_payload, take);
    out_offset_ += take;
    length -= take;
    if (out_offset_ == kFrameHeaderSize + m.payload.size()) {
      recycle_message_buffer(std::move(m.payload));
      out_.pop_front();
      out_offset_ = 0;
    }
  }
}

bool MessageStream::queue_message(std::string&& payload, bool compress) {
  if (max_send_size_ >= 0 && static_cast<int64_t>(payload.size()) > max_send_size_) return false;
  OutboundMessage& m = out_.emplace_back();
  bool compressed = compress && compress_message(send_compression_, payload, compress_scratch_);
  m.payload = compressed ? std::move(compress_scratch_) : std::move(payload);
  compress_scratch_.clear();
  write_frame_header(m.header, static_cast<uint32_t>(m.payload.size()), compressed);
  unsent_bytes_ += kFrameHeaderSize + m.payload.size();
  resume_data_source();
  return true;
}

Status MessageStream::send_limit_status(size_t size) const {
  return {StatusCode::kResourceExhausted, "Sent message larger than max (" + std::to_string(size) +
                                              " vs. " + std::to_string(max_send_size_) + ")"};
}

void MessageStream::set_receive_encoding(std::string_view name) {
  receive_encoding_ = parse_encoding(name);
  receive_encoding_name_ = name;
}

void MessageStream::close_outbound() {
  outbound_closed_ = true;
  resume_data_source();
}

void MessageStream::resume_data_source() {
  if (data_deferred_ && connection_ != nullptr) {
    data_deferred_ = false;
    connection_->resume_data(stream_id_);
  }
}

size_t MessageStream::on_data(const uint8_t* data, size_t length) {
  if (ignores_data()) return length;
  scratch_.clear();
  DeframeError error = deframer_.feed(std::string_view(reinterpret_cast<const char*>(data), length), scratch_);
  size_t give_back = length + deferred_window_;
  for (auto& m : scratch_) {
    if (!decode(m)) {
      deferred_window_ = 0;
      return give_back;
    }
    inbox_bytes_ += m.payload.size();
    inbox_.push_back(std::move(m));
  }
  if (error != DeframeError::kNone) {
    deferred_window_ = 0;
    on_receive_error(deframe_error_status(error));
    return give_back;
  }
  if (!scratch_.empty()) on_message_ready();
  if (inbox_bytes_ < kInboxLimitBytes) {
    deferred_window_ = 0;
    return give_back;
  }
  // A slow reader: keep the window closed so the peer stops sending (backpressure).
  deferred_window_ += length;
  return 0;
}

bool MessageStream::decode(DeframedMessage& m) {
  if (!m.compressed) return true;
  if (!receive_encoding_ || *receive_encoding_ == Compression::kNone) {
    if (!receive_encoding_) {
      on_receive_error({unsupported_encoding_code(),
                        "Compression algorithm '" + receive_encoding_name_ + "' is not supported"});
    } else {
      on_receive_error({StatusCode::kInternal, "Received a compressed message, but the stream's "
                                               "grpc-encoding is identity or absent"});
    }
    return false;
  }
  std::string inflated;
  int64_t limit = deframer_.max_message_size();
  switch (decompress_message(*receive_encoding_, m.payload, limit, inflated)) {
    case InflateError::kNone:
      m.payload = std::move(inflated);
      return true;
    case InflateError::kTooLarge:
      on_receive_error({StatusCode::kResourceExhausted,
                        "Received message larger than max when decompressed (over " +
                            std::to_string(limit) + " bytes, " + receive_encoding_name_ + ")"});
      return false;
    case InflateError::kCorrupt:
      break;
  }
  on_receive_error({StatusCode::kInternal,
                    "Could not decompress a received message (" + receive_encoding_name_ + ")"});
  return false;
}

Status MessageStream::deframe_error_status(DeframeError error) const {
  if (error == DeframeError::kMessageTooLarge) {
    return {StatusCode::kResourceExhausted,
            "Received message larger than max (" + std::to_string(deframer_.announced_length()) +
                " vs. " + std::to_string(deframer_.max_message_size()) + ")"};
  }
  return {StatusCode::kInternal, "Received a message with an invalid compressed-flag byte"};
}

void MessageStream::add_read_credit() {
  ++read_credit_;
  deliver_messages();
}

DeframedMessage MessageStream::take_message() {
  DeframedMessage m = inbox_.take_front();
  inbox_bytes_ -= m.payload.size();
  return m;
}

void MessageStream::set_event_message(Event& e, DeframedMessage&& m) {
  e.message = std::move(m.payload);
  e.message_compressed = m.compressed;
}

void MessageStream::deliver_messages() {
  // One read is answered with everything already here (and the end marker, if the peer is
  // done): the consumer keeps extra messages, and a burst costs one round trip, not one each.
  if (read_credit_ > 0 && (!inbox_.empty() || (peer_half_closed_ && !end_marker_sent_))) {
    --read_credit_;
    push_held_messages(peer_half_closed_);
  }
  if (deferred_window_ > 0 && inbox_bytes_ < kInboxLimitBytes) {
    give_back_window(deferred_window_);
    deferred_window_ = 0;
  }
}

void MessageStream::flush_inbox(bool end_marker) {
  push_held_messages(end_marker);
  read_credit_ = 0;
}

void MessageStream::push_held_messages(bool end_marker) {
  while (!inbox_.empty()) {
    Event e;
    e.kind = EventKind::kMessage;
    e.call_id = id_;
    set_event_message(e, take_message());
    push(std::move(e));
  }
  if (end_marker && !end_marker_sent_) {
    end_marker_sent_ = true;
    Event e;
    e.kind = EventKind::kMessage;
    e.call_id = id_;
    push(std::move(e));
  }
}

void MessageStream::push_write_done(bool ok) {
  Event e;
  e.kind = EventKind::kWriteDone;
  e.call_id = id_;
  e.ok = ok;
  push(std::move(e));
}

void MessageStream::owe_write_done(bool wake) {
  ++writes_owed_;
  owed_ack_wakes_ = owed_ack_wakes_ || wake;
  if (unsent_bytes() < kWriteDoneBelowBytes) ack_owed_writes();
}

void MessageStream::ack_owed_writes() {
  for (; writes_owed_ > 0; --writes_owed_) {
    Event e;
    e.kind = EventKind::kWriteDone;
    e.call_id = id_;
    e.ok = true;
    // One wakeup for the batch, with its last event: the consumer drains them all at once.
    push(std::move(e), writes_owed_ == 1 && owed_ack_wakes_);
  }
  owed_ack_wakes_ = false;
}

void MessageStream::give_back_window(size_t bytes) {
  if (connection_ != nullptr && bytes > 0) connection_->return_stream_window(stream_id_, bytes);
}

}  // namespace turbogrpc::internal
