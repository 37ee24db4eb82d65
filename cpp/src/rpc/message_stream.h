// MessageStream: what client and server calls share — the outbound message buffer behind the
// HTTP/2 data source, and the inbound deframer with read credit and flow-control accounting.
// Poller thread only. Connections drive it; it never does I/O itself.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "codec/compression.h"
#include "codec/message_framing.h"
#include "rpc/codec_offload.h"
#include "rpc/fifo.h"
#include "rpc/stream_port.h"
#include "turbogrpc/completion_queue.h"
#include "turbogrpc/status.h"

namespace turbogrpc::internal {

// A writer is told its write is done once the stream's unsent bytes drop under this bound.
constexpr size_t kWriteDoneBelowBytes = 64 * 1024;
// Received messages held for a slow reader before the stream's window stops being returned.
constexpr size_t kInboxLimitBytes = 256 * 1024;
// (De)compression of messages at least this large goes to the CodecOffload, off the poller:
// deflating 4 KiB costs at most ~0.7 ms (incompressible data, zlib's slowest case).
constexpr size_t kOffloadCompressBytes = 4 * 1024;
// A received compressed message is first inflated in place up to this many bytes (~0.2 ms of
// zlib); one that would grow beyond it is inflated again off the poller, with the real limit.
constexpr size_t kInlineInflateBytes = 64 * 1024;

class MessageStream {
 public:
  // `offload` (may be null: then all (de)compression happens here) must outlive the stream.
  MessageStream(uint64_t id, std::shared_ptr<CompletionQueue> cq, int64_t max_receive_size,
                int64_t max_send_size, CodecOffload* offload);
  virtual ~MessageStream();

  uint64_t id() const { return id_; }
  int32_t stream_id() const { return stream_id_; }
  StreamPort* port() const { return port_; }
  void attach(StreamPort* port, int32_t stream_id) {
    port_ = port;
    stream_id_ = stream_id;
  }
  void detach() { port_ = nullptr; }

  // Called from the connection's nghttp2 data source: sizes the next DATA frame (at most
  // `length` bytes) and sets EOF flags. No bytes move here: the frame's payload is copied out by
  // take_outbound when nghttp2 sends it (NGHTTP2_DATA_FLAG_NO_COPY), straight from the queued
  // messages into the connection's output buffer.
  ssize_t read_outbound(size_t length, uint32_t* data_flags);
  // Appends the next `length` unsent bytes to `out` (the payload of the DATA frame sized above).
  void take_outbound(size_t length, std::string& out);
  // Whether nghttp2 has parked our data source (returned DEFERRED) and needs resume_data.
  bool data_deferred() const { return data_deferred_; }

  // Client: keeps what has been sent, up to `limit` bytes, so that a stream the server refused
  // can be sent again whole on another connection (transparent retry). Beyond the limit, or
  // once stop_retaining() (the call committed), sent messages are freed as usual. kShared: what
  // is kept also counts against a budget shared with other streams (retained_grows / dropped).
  enum class RetainBudget { kOwn, kShared };
  void retain_sent(size_t limit, RetainBudget budget = RetainBudget::kOwn) {
    retain_limit_ = limit;
    retaining_ = true;
    retain_shared_ = budget == RetainBudget::kShared;
  }
  void stop_retaining();
  bool retaining() const { return retaining_; }
  // Puts everything sent back in front of what is unsent, for a new stream (retaining() only).
  void rewind_outbound();
  // Drops everything queued or sent, and reopens the outbound side, for a new stream that is
  // filled again from elsewhere (a hedged call's replay buffer). Only without an offload: no
  // message may be in flight to compression.
  void discard_outbound();

  // DATA payload from the peer. Returns the bytes of stream window to give back now (the
  // connection's window is the connection's business).
  size_t on_data(const uint8_t* data, size_t length);

  // The algorithm our compressed messages use (announced in grpc-encoding by the caller).
  Compression send_compression() const { return send_compression_; }

  // A (de)compression job of ours finished (CodecOffload, poller thread), in submission order.
  void on_codec_result(CodecResult result);
  // Jobs are in flight: messages wait behind them, and so does the end of the stream.
  bool codec_busy() const { return jobs_in_flight_ > 0; }

 protected:
  // Frames `payload` (compressed with send_compression() when `compress` and it helps) and
  // queues it, taking the string without copying it; wakes the data source. False (and
  // `payload` untouched) if over max_send_size.
  bool queue_message(std::string&& payload, bool compress = true);
  // The status a call ends with when queue_message refused a `size`-byte message.
  Status send_limit_status(size_t size) const;
  void set_send_compression(Compression c) { send_compression_ = c; }
  // The peer's grpc-encoding header: how its compressed messages are to be decoded.
  void set_receive_encoding(std::string_view name);
  // No more messages from us after what is queued.
  void close_outbound();
  bool outbound_closed() const { return outbound_closed_; }
  bool end_of_stream_sent() const { return end_of_stream_sent_; }
  size_t unsent_bytes() const { return unsent_bytes_ - reserved_bytes_; }
  // Received messages still being decompressed off the poller (they come before anything else).
  bool inbound_waiting() const { return !staged_in_.empty(); }
  // retain_sent(kShared) only: the stream would keep `bytes` in all; false refuses them (it then
  // stops retaining). And: it keeps nothing any more.
  virtual bool retained_grows(size_t bytes) { return true; }
  virtual void retained_dropped() {}
  // The data source reached the end of what we will send: server calls send trailers here.
  virtual void on_outbound_end(uint32_t* data_flags) {}
  // A complete message arrived / a received message cannot be accepted (over-size, bad flags,
  // undecodable); the call must end with `status`.
  virtual void on_message_ready() {}
  // The last received message that was being decompressed has reached the inbox: a call that
  // put off its end (it saw the peer finish meanwhile) ends now.
  virtual void on_inbound_settled() {}
  virtual void on_receive_error(Status status) = 0;
  // The call is over for the application: data that still arrives is dropped, not buffered.
  virtual bool ignores_data() const = 0;
  // The code for a message compressed with an algorithm we do not implement: the server answers
  // UNIMPLEMENTED (gRPC's compression spec), a client reports INTERNAL.
  virtual StatusCode unsupported_encoding_code() const = 0;

  // Read credit: one read is answered by every message held (oldest first), or the end marker.
  void add_read_credit();
  void deliver_messages();
  // Pushes every held message (credit or not), then the end marker if `peer_done`.
  void flush_inbox(bool end_marker);
  bool has_messages() const { return !inbox_.empty(); }
  // The oldest held message; `compressed` tells whether it arrived compressed.
  DeframedMessage take_message();
  // Puts `m` into `e` as a kMessage/kUnaryDone/kServerCall payload.
  static void set_event_message(Event& e, DeframedMessage&& m);

  void push(Event event, bool wake = true) { cq_->push(std::move(event), wake); }
  // A queued write is owed one kWriteDone(ok): sent as soon as unsent bytes are under the bound;
  // with a wakeup only if `wake` (the writer waits for it).
  void owe_write_done(bool wake);
  void push_write_done(bool ok);  // one kWriteDone now, for a write that is not owed one
  void resume_data_source();
  void give_back_window(size_t bytes);  // returns stream window for bytes the reader took
  size_t deferred_window() const { return deferred_window_; }

  const uint64_t id_;
  const std::shared_ptr<CompletionQueue> cq_;
  const int64_t max_send_size_;
  StreamPort* port_ = nullptr;  // the stream's connection; null before submission and after close
  int32_t stream_id_ = -1;

  // kSendMessages still waiting for their kWriteDone. They are always acknowledged all at once,
  // in order, so one flag says whether that batch wakes the consumer (some writer waits on it).
  int writes_owed_ = 0;
  bool owed_ack_wakes_ = false;
  int read_credit_ = 0;
  bool peer_half_closed_ = false;  // END_STREAM seen from the peer
  bool end_marker_sent_ = false;
  Deframer deframer_;

 private:
  // A queued message: its 5-byte gRPC header and its payload, owned until sent.
  struct OutboundMessage {
    uint8_t header[kFrameHeaderSize];
    std::string payload;
  };
  // Unsent messages; out_.front() is sent from out_offset_.
  Fifo<OutboundMessage> out_;
  size_t out_offset_ = 0;  // counts the header's 5 bytes, then the payload's
  size_t unsent_bytes_ = 0;          // every byte in out_ not yet taken
  size_t reserved_bytes_ = 0;        // sized into a DATA frame by read_outbound, not yet taken
  bool outbound_closed_ = false;
  bool end_of_stream_sent_ = false;  // the data source reported EOF
  bool data_deferred_ = false;
  // Sent messages kept for a transparent retry (retain_sent), oldest first.
  Fifo<OutboundMessage> sent_;
  size_t sent_bytes_ = 0;
  size_t retain_limit_ = 0;
  bool retaining_ = false;
  bool retain_shared_ = false;  // RetainBudget::kShared: the hooks above are called

  // A message staged behind (de)compression off the poller; `ready` once its result is in.
  struct StagedMessage {
    std::string payload;
    bool compressed = false;
    bool ready = false;
    size_t counted = 0;  // bytes it counts for backpressure while staged
  };

  void ack_owed_writes();
  void push_held_messages(bool end_marker);
  // Frames a payload into out_ (the data source sends it from there).
  void push_outbound(std::string&& payload, bool compressed);
  // Moves ready staged messages, in order, to out_ / the inbox.
  void release_staged_outbound();
  void release_staged_inbound();
  // A new entry at the back of `staged` (not ready yet), counting `counted` bytes while staged.
  static StagedMessage& stage(Fifo<StagedMessage>& staged, size_t& staged_bytes, size_t counted);
  void offload(CodecJob job);
  // Accepts one received message: into the inbox, or staged behind decompression. False (the
  // call ended) when it cannot be accepted.
  bool accept_received(DeframedMessage&& m);
  // The encoding checks before inflating; false (the call ended) when the message is refused.
  bool check_encoding(const DeframedMessage& m);
  Status inflate_error_status(InflateError error) const;
  Status deframe_error_status(DeframeError error) const;
  // Bytes that count against the writer: framed and unsent, or staged for compression.
  size_t write_backlog() const { return unsent_bytes() + staged_out_bytes_; }
  // Bytes held for the reader: in the inbox, or staged for decompression.
  size_t held_bytes() const { return inbox_bytes_ + staged_in_bytes_; }

  Compression send_compression_ = Compression::kNone;
  std::optional<Compression> receive_encoding_ = Compression::kNone;  // nullopt: unsupported
  std::string receive_encoding_name_;

  CodecOffload* const offload_;
  int jobs_in_flight_ = 0;
  Fifo<StagedMessage> staged_out_;  // queued behind a compression job, in order
  size_t staged_out_bytes_ = 0;
  Fifo<StagedMessage> staged_in_;   // received behind a decompression job, in order
  size_t staged_in_bytes_ = 0;

  Fifo<DeframedMessage> inbox_;  // complete, decoded messages not yet delivered
  size_t inbox_bytes_ = 0;
  size_t deferred_window_ = 0;  // received bytes not yet given back to flow control
  std::vector<DeframedMessage> scratch_;
};

}  // namespace turbogrpc::internal
