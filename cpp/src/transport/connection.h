// Connection: one socket and its HTTP/2 session — reading, the once-per-iteration flush, and
// closing. ClientConnection and ServerConnection add the gRPC side. Poller thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "http2/session.h"
#include "http2/token_bucket.h"
#include "io/poller.h"
#include "io/timer_queue.h"
#include "rpc/stream_port.h"
#include "tls/tls_stream.h"
#include "transport/keepalive.h"
#include "turbogrpc/metadata.h"
#include "turbogrpc/status.h"

namespace turbogrpc::internal {

class Call;
class TransportContext;
class MessageStream;

class Connection : public IoHandler, public Http2Handler, public StreamPort {
 public:
  Connection(TransportContext& context, int fd, Http2Role role, const Http2Settings& settings);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void on_io(uint32_t epoll_events) override;

  // Writes everything the session has to send (the engine calls it once per iteration for
  // each connection marked dirty). Closes the connection when both sides are done.
  void flush();
  void mark_dirty();

  // StreamPort: what the calls ask of their stream (rpc/stream_port.h).
  void resume_data(int32_t stream_id) override;
  void return_stream_window(int32_t stream_id, size_t bytes) override;
  void reset_stream(int32_t stream_id, uint32_t error_code) override;
  bool submit_response(int32_t stream_id, const HeaderFields& fields, const Metadata& metadata,
                       ResponseBody body) override;
  bool submit_trailers(int32_t stream_id, const HeaderFields& fields,
                       const Metadata& metadata) override;

  // Ends the connection at once; every stream on it fails with `reason`. Idempotent.
  void close(const Status& reason);
  bool closed() const { return closed_; }
  const std::string& peer() const { return peer_; }
  size_t active_streams() const { return streams_.size(); }
  // When a stream last opened or closed (for idle timeouts).
  Clock::time_point last_stream_change() const { return last_stream_change_; }
  uint64_t id() const { return id_; }  // unique in the engine; timers name connections by it
  bool secure() const { return tls_ != nullptr; }
  // A timer this connection set (io/timer_queue.h) is due: kKeepalive is handled here, the
  // others by on_connection_timer.
  void on_timer(TimerKind kind);

  // The Http2Handler callbacks both roles share: frame limits, DATA in, DATA out, stream closed.
  int on_frame_recv(const nghttp2_frame* frame) final;
  int on_data_chunk(int32_t stream_id, const uint8_t* data, size_t length) final;
  int on_stream_close(int32_t stream_id, uint32_t error_code) final;
  ssize_t read_data(int32_t stream_id, size_t length, uint32_t* data_flags,
                    void* stream_user_data) final;
  int send_data(int32_t stream_id, const uint8_t* frame_header, size_t length,
                void* stream_user_data) final;
  int on_frame_send(const nghttp2_frame* frame) final;

 protected:
  // The owner's bookkeeping (channel or server), before the streams fail. Called once.
  virtual void on_closed(const Status& reason) = 0;
  // A complete frame from the peer, once it passed the connection's flood limits.
  virtual int on_frame(const nghttp2_frame* frame) = 0;
  // A stream closed (its call has been told).
  virtual void on_stream_ended(int32_t stream_id) {}
  // The peer refused `call`'s stream (REFUSED_STREAM, or above its GOAWAY's last stream id):
  // return the call to end it with that, or take it (null) to send it again elsewhere.
  virtual std::unique_ptr<Call> take_refused(std::unique_ptr<Call> call) { return call; }
  // `call`'s stream (or the whole connection) ended: a client call whose retry policy sends it
  // again goes back to its channel here. The call otherwise stays with us until this returns.
  virtual void take_for_retry(std::unique_ptr<Call>& call) {}
  // A frame of ours went out (after the keepalive bookkeeping).
  virtual void on_frame_sent(const nghttp2_frame* frame) {}
  // A timer other than kKeepalive is due.
  virtual void on_connection_timer(TimerKind kind) {}
  // Starts keepalive PINGs (off when settings.time <= 0); the first after settings.time of quiet.
  void start_keepalive(const KeepaliveSettings& settings);
  // Sends a PING of ours; `opaque` tells its ACK apart (8 bytes).
  void send_ping(const uint8_t (&opaque)[8]);
  // Closes the connection with `reason` after the next flush has written what is queued (a
  // GOAWAY saying why), or at once if the socket will not take it. From inside callbacks.
  void close_after_flush(Status reason);
  // Called when the socket becomes writable while `connecting_` (client connect).
  virtual void on_connect_writable() {}
  // TLS: from here on the socket carries `tls`; HTTP/2 starts once its handshake is done.
  void start_tls(std::unique_ptr<TlsStream> tls);
  // TLS will start later (its certificates are not known yet): until then nothing is sent.
  void await_tls() { awaiting_tls_ = true; }
  bool handshaking() const { return tls_ != nullptr && !tls_->handshake_done(); }
  const TlsStream* tls() const { return tls_.get(); }
  // The TLS handshake finished (h2 negotiated) / failed. By default a failure closes the
  // connection UNAVAILABLE with the reason.
  virtual void on_handshake_done() {}
  virtual void on_handshake_failed(const std::string& reason);
  void watch(uint32_t events);
  // Queues one DATA frame for the socket: nghttp2's 9-byte header, then `length` bytes taken
  // from `stream`'s outbound messages (the only copy they get on the way to the kernel).
  // Returns 0, or NGHTTP2_ERR_WOULDBLOCK while a batch is already waiting for the socket
  // (nghttp2 offers the same frame again on the next flush).
  int append_data_frame(const uint8_t* frame_header, size_t length, MessageStream& stream);
  nghttp2_session* session() const { return session_.get(); }
  // The connection owns `call` until its stream closes. The nghttp2 stream user data must be
  // the same Call* (call_on and the data source read it back).
  void add_stream(int32_t stream_id, std::unique_ptr<Call> call);
  // The call on `stream_id`, or null when there is none (unknown, or already closed).
  Call* call_on(int32_t stream_id) const;

  TransportContext& context_;  // the owner; outlives this
  const uint64_t id_;
  const int fd_;  // owned; closed in the destructor
  std::string peer_;
  bool connecting_ = false;  // client: nonblocking connect in progress

 private:
  void read_socket();
  void on_keepalive_timer();
  // What arrived, into the session (directly, or through TLS). False when the connection closed.
  bool receive_plaintext(const uint8_t* data, size_t length);
  bool receive_tls(const uint8_t* data, size_t length);
  void discard_input();  // reads and drops what the peer sent, up to a bound (close())
  // Bytes taken from the session (or already encrypted) that the socket has not yet accepted.
  size_t unsent() const { return out_.size() - out_offset_ + tls_out_.size() - tls_out_offset_; }
  // TLS: encrypts what the session produced, and collects every record ready for the socket.
  bool encrypt_out();
  bool write_out();  // false when the socket failed (the connection is closed then)

  SessionPtr session_;
  std::unordered_map<int32_t, std::unique_ptr<Call>> streams_;
  Clock::time_point last_stream_change_ = Clock::now();
  // DATA frames that carry nothing and end nothing: free for the peer, not for us (nghttp2
  // does not count them). Same shape as nghttp2's stream reset limit.
  TokenBucket empty_data_frames_{1000, 33};
  Keepalive keepalive_;
  std::unique_ptr<Status> close_after_flush_;  // set: flush() ends the connection
  std::string out_;  // bytes from the session not yet written (or encrypted), from out_offset_
  size_t out_offset_ = 0;
  std::unique_ptr<TlsStream> tls_;  // null: plaintext
  std::string tls_out_;  // TLS records not yet written, from tls_out_offset_
  size_t tls_out_offset_ = 0;
  uint32_t watched_events_ = 0;
  bool closed_ = false;
  bool dirty_ = false;
  bool awaiting_tls_ = false;
};

// "error 11, last stream 5, debug 'too_many_pings'" (traces).
std::string describe_goaway(const nghttp2_goaway& goaway);

// Fixed header fields into nghttp2's form (the strings must outlive the submission).
void append_fields_nv(const HeaderFields& fields, std::vector<nghttp2_nv>& nva);
// Base64-encodes -bin values; used wherever custom metadata becomes header fields.
// `storage` keeps encoded values alive until the nv array is submitted (nghttp2 copies then).
void append_metadata_nv(const Metadata& metadata, std::vector<nghttp2_nv>& nva,
                        std::deque<std::string>& storage);

}  // namespace turbogrpc::internal
