#include "rpc/message_stream.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>

#include "turbogrpc/message_buffers.h"

namespace turbogrpc::internal {

MessageStream::MessageStream(uint64_t id, std::shared_ptr<CompletionQueue> cq,
                             int64_t max_receive_size, int64_t max_send_size,
                             CodecOffload* offload)
    : id_(id),
      cq_(std::move(cq)),
      max_send_size_(max_send_size),
      deframer_(max_receive_size),
      offload_(offload) {}

MessageStream::~MessageStream() {
  if (jobs_in_flight_ > 0) offload_->forget(*this);
}

ssize_t MessageStream::read_outbound(size_t length, uint32_t* data_flags) {
  size_t n = std::min(length, unsent_bytes());
  reserved_bytes_ += n;
  if (n > 0) *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (writes_owed_ > 0 && write_backlog() < kWriteDoneBelowBytes) ack_owed_writes();
  if (unsent_bytes() == 0) {
    if (outbound_closed_ && staged_out_.empty()) {
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
      size_t kept = sent_bytes_ + m.payload.size();
      if (retaining_ && kept <= retain_limit_ && (!retain_shared_ || retained_grows(kept))) {
        sent_bytes_ += m.payload.size();
        sent_.push_back(std::move(m));
      } else {
        if (retaining_) stop_retaining();  // too much to keep: this call cannot be replayed
        recycle_message_buffer(std::move(m.payload));
      }
      out_.pop_front();
      out_offset_ = 0;
    }
  }
}

void MessageStream::stop_retaining() {
  retaining_ = false;
  while (!sent_.empty()) {
    recycle_message_buffer(std::move(sent_.front().payload));
    sent_.pop_front();
  }
  sent_bytes_ = 0;
  if (retain_shared_) retained_dropped();
}

void MessageStream::rewind_outbound() {
  Fifo<OutboundMessage> all = std::move(sent_);
  sent_ = Fifo<OutboundMessage>();
  sent_bytes_ = 0;
  while (!out_.empty()) {
    all.push_back(std::move(out_.front()));
    out_.pop_front();
  }
  out_ = std::move(all);
  out_offset_ = 0;
  unsent_bytes_ = 0;
  for (size_t i = 0; i < out_.size(); ++i) unsent_bytes_ += kFrameHeaderSize + out_[i].payload.size();
  reserved_bytes_ = 0;
  end_of_stream_sent_ = false;
  data_deferred_ = false;
}

void MessageStream::discard_outbound() {
  while (!out_.empty()) {
    recycle_message_buffer(std::move(out_.front().payload));
    out_.pop_front();
  }
  while (!sent_.empty()) {
    recycle_message_buffer(std::move(sent_.front().payload));
    sent_.pop_front();
  }
  sent_bytes_ = 0;
  out_offset_ = 0;
  unsent_bytes_ = 0;
  reserved_bytes_ = 0;
  outbound_closed_ = false;
  end_of_stream_sent_ = false;
  data_deferred_ = false;
}

bool MessageStream::queue_message(std::string&& payload, bool compress) {
  if (max_send_size_ >= 0 && static_cast<int64_t>(payload.size()) > max_send_size_) return false;
  bool compressing = compress && send_compression_ != Compression::kNone;
  if (compressing && offload_ != nullptr && payload.size() >= kOffloadCompressBytes) {
    stage(staged_out_, staged_out_bytes_, payload.size());
    offload({CodecJob::Direction::kCompress, send_compression_, -1, std::move(payload)});
    return true;
  }
  CodecResult done = compressing ? run_codec_job({CodecJob::Direction::kCompress, send_compression_, -1,
                                                  std::move(payload)})
                                 : CodecResult{CodecJob::Direction::kCompress, std::move(payload)};
  if (!staged_out_.empty()) {  // keep the order: behind messages still being compressed
    StagedMessage& staged = stage(staged_out_, staged_out_bytes_, done.output.size());
    staged.payload = std::move(done.output);
    staged.compressed = done.compressed;
    staged.ready = true;
    return true;
  }
  push_outbound(std::move(done.output), done.compressed);
  return true;
}

void MessageStream::push_outbound(std::string&& payload, bool compressed) {
  OutboundMessage& m = out_.emplace_back();
  m.payload = std::move(payload);
  write_frame_header(m.header, static_cast<uint32_t>(m.payload.size()), compressed);
  unsent_bytes_ += kFrameHeaderSize + m.payload.size();
  resume_data_source();
}

MessageStream::StagedMessage& MessageStream::stage(Fifo<StagedMessage>& staged, size_t& staged_bytes,
                                                  size_t counted) {
  StagedMessage& entry = staged.emplace_back();
  entry.counted = counted;
  staged_bytes += counted;
  return entry;
}

void MessageStream::offload(CodecJob job) {
  ++jobs_in_flight_;
  offload_->submit(*this, std::move(job));
}

void MessageStream::on_codec_result(CodecResult result) {
  --jobs_in_flight_;
  Fifo<StagedMessage>& staged =
      result.direction == CodecJob::Direction::kCompress ? staged_out_ : staged_in_;
  // Results come in submission order: this one belongs to the first entry still waiting.
  StagedMessage* target = nullptr;
  for (size_t i = 0; i < staged.size() && target == nullptr; ++i)
    if (!staged[i].ready) target = &staged[i];
  if (target == nullptr) return;  // the staging was dropped (the call ended)
  if (result.direction == CodecJob::Direction::kCompress) {
    target->payload = std::move(result.output);
    target->compressed = result.compressed;
    target->ready = true;
    release_staged_outbound();
    return;
  }
  if (ignores_data()) return;
  if (result.error != InflateError::kNone) {
    staged_in_ = {};
    staged_in_bytes_ = 0;
    on_receive_error(inflate_error_status(result.error));
    return;
  }
  target->payload = std::move(result.output);
  target->compressed = true;
  target->ready = true;
  release_staged_inbound();
}

void MessageStream::release_staged_outbound() {
  while (!staged_out_.empty() && staged_out_.front().ready) {
    StagedMessage m = staged_out_.take_front();
    staged_out_bytes_ -= m.counted;
    push_outbound(std::move(m.payload), m.compressed);
  }
  if (staged_out_.empty()) resume_data_source();  // the end of the stream may wait for this
}

void MessageStream::release_staged_inbound() {
  bool released = false;
  while (!staged_in_.empty() && staged_in_.front().ready) {
    StagedMessage m = staged_in_.take_front();
    staged_in_bytes_ -= m.counted;
    inbox_bytes_ += m.payload.size();
    inbox_.push_back({std::move(m.payload), m.compressed});
    released = true;
  }
  if (released) on_message_ready();
  if (staged_in_.empty()) on_inbound_settled();
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
  if (data_deferred_ && port_ != nullptr) {
    data_deferred_ = false;
    port_->resume_data(stream_id_);
  }
}

size_t MessageStream::on_data(const uint8_t* data, size_t length) {
  if (ignores_data()) return length;
  scratch_.clear();
  DeframeError error = deframer_.feed(std::string_view(reinterpret_cast<const char*>(data), length), scratch_);
  size_t give_back = length + deferred_window_;
  size_t inbox_before = inbox_.size();
  for (auto& m : scratch_) {
    if (!accept_received(std::move(m))) {
      deferred_window_ = 0;
      return give_back;
    }
  }
  if (error != DeframeError::kNone) {
    deferred_window_ = 0;
    on_receive_error(deframe_error_status(error));
    return give_back;
  }
  if (inbox_.size() != inbox_before) on_message_ready();
  if (held_bytes() < kInboxLimitBytes) {
    deferred_window_ = 0;
    return give_back;
  }
  // A slow reader: keep the window closed so the peer stops sending (backpressure).
  deferred_window_ += length;
  return 0;
}

bool MessageStream::accept_received(DeframedMessage&& m) {
  if (m.compressed && !check_encoding(m)) return false;
  if (m.compressed) {
    // Inflate here while that is cheap; a message that grows beyond kInlineInflateBytes is
    // inflated again, off the poller, against the real limit.
    int64_t limit = deframer_.max_message_size();
    bool capped = limit < 0 || limit > static_cast<int64_t>(kInlineInflateBytes);
    bool offloading = offload_ != nullptr && capped;
    std::string inflated;
    InflateError error = decompress_message(
        *receive_encoding_, m.payload, offloading ? static_cast<int64_t>(kInlineInflateBytes) : limit, inflated);
    if (error == InflateError::kTooLarge && offloading) {
      stage(staged_in_, staged_in_bytes_, m.payload.size());
      offload({CodecJob::Direction::kDecompress, *receive_encoding_, limit, std::move(m.payload)});
      return true;
    }
    if (error != InflateError::kNone) {
      on_receive_error(inflate_error_status(error));
      return false;
    }
    m.payload = std::move(inflated);
  }
  if (!staged_in_.empty()) {  // keep the order: behind messages still being inflated
    StagedMessage& staged = stage(staged_in_, staged_in_bytes_, m.payload.size());
    staged.payload = std::move(m.payload);
    staged.compressed = m.compressed;
    staged.ready = true;
    return true;
  }
  inbox_bytes_ += m.payload.size();
  inbox_.push_back(std::move(m));
  return true;
}

bool MessageStream::check_encoding(const DeframedMessage& m) {
  if (!receive_encoding_) {
    on_receive_error({unsupported_encoding_code(),
                      "Compression algorithm '" + receive_encoding_name_ + "' is not supported"});
    return false;
  }
  if (*receive_encoding_ == Compression::kNone) {
    on_receive_error({StatusCode::kInternal, "Received a compressed message, but the stream's "
                                             "grpc-encoding is identity or absent"});
    return false;
  }
  return true;
}

Status MessageStream::inflate_error_status(InflateError error) const {
  if (error == InflateError::kTooLarge) {
    return {StatusCode::kResourceExhausted,
            "Received message larger than max when decompressed (over " +
                std::to_string(deframer_.max_message_size()) + " bytes, " + receive_encoding_name_ + ")"};
  }
  return {StatusCode::kInternal, "Could not decompress a received message (" + receive_encoding_name_ + ")"};
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
  bool end_due = peer_half_closed_ && !end_marker_sent_ && staged_in_.empty();
  if (read_credit_ > 0 && (!inbox_.empty() || end_due)) {
    --read_credit_;
    push_held_messages(peer_half_closed_);
  }
  if (deferred_window_ > 0 && held_bytes() < kInboxLimitBytes) {
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
  if (end_marker && !end_marker_sent_ && staged_in_.empty()) {
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
  if (write_backlog() < kWriteDoneBelowBytes) ack_owed_writes();
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
  if (port_ != nullptr && bytes > 0) port_->return_stream_window(stream_id_, bytes);
}

}  // namespace turbogrpc::internal
