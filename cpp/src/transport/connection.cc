#include "transport/connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include "codec/base64.h"
#include "codec/metadata_rules.h"
#include "transport/transport_context.h"
#include "io/address.h"
#include "io/sys_error.h"
#include "io/trace.h"
#include "rpc/call.h"

namespace turbogrpc::internal {
namespace {
constexpr size_t kReadChunk = 64 * 1024;
constexpr int kMaxReadsPerWakeup = 16;      // fairness between connections
constexpr size_t kSendBatchBytes = 256 * 1024;  // how much we take from nghttp2 per write
}  // namespace

Connection::Connection(TransportContext& context, int fd, Http2Role role, const Http2Settings& settings)
    : context_(context), id_(context.new_id()), fd_(fd), session_(make_session(role, this, settings)) {}

Connection::~Connection() { ::close(fd_); }

void Connection::watch(uint32_t events) {
  if (closed_ || events == watched_events_) return;
  SysResult r = watched_events_ == 0 ? context_.poller().add(fd_, events, this)
                                     : context_.poller().modify(fd_, events, this);
  if (!r.ok()) {
    // An fd the poller does not watch would wait forever: end the connection instead.
    close({StatusCode::kUnavailable, "Cannot watch the connection to " + peer_ + ": " + r.message()});
    return;
  }
  watched_events_ = events;
}

void Connection::on_io(uint32_t epoll_events) {
  if (closed_) return;  // closed earlier in this poller batch; freed after it
  if (connecting_) {
    on_connect_writable();
    return;
  }
  if (epoll_events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_socket();
  if (!closed_ && (epoll_events & EPOLLOUT)) mark_dirty();
}

void Connection::read_socket() {
  uint8_t buf[kReadChunk];
  for (int i = 0; i < kMaxReadsPerWakeup && !closed_; ++i) {
    SysResult r = sys_call([&] { return ::recv(fd_, buf, sizeof(buf), 0); });
    if (!r.ok()) {
      if (r.error == EAGAIN || r.error == EWOULDBLOCK) break;
      close({StatusCode::kUnavailable, "Connection error on " + peer_ + ": " + r.message()});
      return;
    }
    if (r.value == 0) {
      close({StatusCode::kUnavailable, "Socket closed by " + peer_});
      return;
    }
    size_t length = static_cast<size_t>(r.value);
    if (keepalive_.enabled()) keepalive_.on_read(Clock::now());
    if (!(tls_ ? receive_tls(buf, length) : receive_plaintext(buf, length))) return;
    if (length < sizeof(buf)) break;
  }
  mark_dirty();
}

bool Connection::receive_plaintext(const uint8_t* data, size_t length) {
  ssize_t used = nghttp2_session_mem_recv(session_.get(), data, length);
  if (used >= 0) return !closed_;
  // A fatal error queues nothing by itself: tell the peer why with a GOAWAY, then drop it.
  // (Where nghttp2 already chose the code, e.g. COMPRESSION_ERROR, its GOAWAY stands.)
  bool flood = used == NGHTTP2_ERR_FLOODED || used == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS;
  uint32_t code = flood ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR;
  nghttp2_session_terminate_session(session_.get(), code);
  flush();
  close({StatusCode::kInternal, std::string("HTTP/2 protocol error from ") + peer_ + ": " +
                                    nghttp2_strerror(static_cast<int>(used))});
  return false;
}

void Connection::start_tls(std::unique_ptr<TlsStream> tls) {
  awaiting_tls_ = false;
  tls_ = std::move(tls);
  if (!tls_) {
    close({StatusCode::kUnavailable, "Cannot start TLS with " + peer_ + ": " + take_openssl_error()});
    return;
  }
  if (tls_->handshake() == TlsStream::Progress::kFailed) {  // a client's hello goes out now
    on_handshake_failed(tls_->error());
    return;
  }
  mark_dirty();
}

void Connection::on_handshake_failed(const std::string& reason) {
  close({StatusCode::kUnavailable, "TLS handshake with " + peer_ + " failed: " + reason});
}

bool Connection::receive_tls(const uint8_t* data, size_t length) {
  tls_->put_input(data, length);
  if (!tls_->handshake_done()) {
    TlsStream::Progress progress = tls_->handshake();
    if (progress == TlsStream::Progress::kWaiting) return true;
    if (progress == TlsStream::Progress::kFailed) {
      // Our alert (if any) tells the peer why; one attempt, the connection ends either way.
      tls_->take_output(tls_out_);
      write_out();
      if (!closed_) on_handshake_failed(tls_->error());
      return false;
    }
    on_handshake_done();
    if (closed_) return false;
  }
  uint8_t plain[kReadChunk];
  for (;;) {
    size_t n = 0;
    switch (tls_->read(plain, sizeof(plain), n)) {
      case TlsStream::ReadResult::kData:
        if (!receive_plaintext(plain, n)) return false;
        break;
      case TlsStream::ReadResult::kNeedMore:
        return true;
      case TlsStream::ReadResult::kClosed:
        close({StatusCode::kUnavailable, "Socket closed by " + peer_});
        return false;
      case TlsStream::ReadResult::kFailed:
        close({StatusCode::kUnavailable, "TLS error on the connection to " + peer_ + ": " + tls_->error()});
        return false;
    }
  }
}

void Connection::discard_input() {
  constexpr size_t kMaxDiscardBytes = 1 << 20;
  uint8_t buf[kReadChunk];
  for (size_t discarded = 0; discarded < kMaxDiscardBytes;) {
    SysResult r = sys_call([&] { return ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT); });
    if (!r.ok() || r.value == 0) return;
    discarded += static_cast<size_t>(r.value);
  }
}

void Connection::mark_dirty() {
  if (dirty_ || closed_) return;
  dirty_ = true;
  context_.mark_dirty(this);
}

void Connection::flush() {
  dirty_ = false;
  if (closed_ || connecting_ || awaiting_tls_) return;
  if (handshaking()) {  // only handshake records may go out yet; HTTP/2 waits in the session
    tls_->take_output(tls_out_);
    if (!write_out()) return;
    watch(static_cast<uint32_t>(EPOLLIN) | (unsent() > 0 ? static_cast<uint32_t>(EPOLLOUT) : 0u));
    return;
  }
  for (;;) {
    while (unsent() < kSendBatchBytes) {
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(session_.get(), &data);
      if (n < 0) {
        close({StatusCode::kInternal, std::string("HTTP/2 error: ") + nghttp2_strerror(static_cast<int>(n))});
        return;
      }
      if (n == 0) break;
      out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    if (tls_ && !encrypt_out()) return;
    if (unsent() == 0) break;
    if (!write_out()) return;
    if (unsent() != 0) break;  // socket full: EPOLLOUT brings us back
  }
  bool pending = unsent() != 0;
  watch(static_cast<uint32_t>(EPOLLIN) | (pending ? static_cast<uint32_t>(EPOLLOUT) : 0u));
  if (close_after_flush_) {
    close(*close_after_flush_);
    return;
  }
  if (!pending && !nghttp2_session_want_read(session_.get()) &&
      !nghttp2_session_want_write(session_.get())) {
    close({StatusCode::kUnavailable, "Connection to " + peer_ + " shut down"});
  }
}

bool Connection::encrypt_out() {
  if (out_.size() > out_offset_) {
    if (!tls_->write(out_.data() + out_offset_, out_.size() - out_offset_)) {
      close({StatusCode::kUnavailable, "TLS error on the connection to " + peer_ + ": " + tls_->error()});
      return false;
    }
    out_.clear();
    out_offset_ = 0;
  }
  tls_->take_output(tls_out_);
  return true;
}

int Connection::append_data_frame(const uint8_t* frame_header, size_t length,
                                  MessageStream& stream) {
  constexpr size_t kDataFrameHeaderSize = 9;
  if (unsent() >= kSendBatchBytes) return NGHTTP2_ERR_WOULDBLOCK;
  out_.append(reinterpret_cast<const char*>(frame_header), kDataFrameHeaderSize);
  stream.take_outbound(length, out_);
  return 0;
}

bool Connection::write_out() {
  // Plaintext goes out of out_; with TLS, only records from tls_out_ ever reach the socket.
  std::string& buffer = tls_ ? tls_out_ : out_;
  size_t& offset = tls_ ? tls_out_offset_ : out_offset_;
  while (offset < buffer.size()) {
    SysResult w = sys_call([&] {
      return ::send(fd_, buffer.data() + offset, buffer.size() - offset, MSG_NOSIGNAL);
    });
    if (!w.ok()) {
      if (w.error == EAGAIN || w.error == EWOULDBLOCK) return true;
      close({StatusCode::kUnavailable, "Write to " + peer_ + " failed: " + w.message()});
      return false;
    }
    offset += static_cast<size_t>(w.value);
  }
  buffer.clear();
  offset = 0;
  return true;
}

void Connection::resume_data(int32_t stream_id) {
  nghttp2_session_resume_data(session_.get(), stream_id);
  mark_dirty();
}

void Connection::return_stream_window(int32_t stream_id, size_t bytes) {
  nghttp2_session_consume_stream(session_.get(), stream_id, bytes);
  mark_dirty();
}

void Connection::add_stream(int32_t stream_id, std::unique_ptr<Call> call) {
  streams_[stream_id] = std::move(call);
  last_stream_change_ = Clock::now();
}

Call* Connection::call_on(int32_t stream_id) const {
  return static_cast<Call*>(nghttp2_session_get_stream_user_data(session_.get(), stream_id));
}

void Connection::on_timer(TimerKind kind) {
  if (closed_) return;
  if (kind == TimerKind::kKeepalive) on_keepalive_timer();
  else on_connection_timer(kind);
}

void Connection::start_keepalive(const KeepaliveSettings& settings) {
  Clock::time_point now = Clock::now();
  keepalive_.start(settings, now);
  if (keepalive_.enabled()) context_.timers().add(now + settings.time, TimerKind::kKeepalive, id_);
}

void Connection::on_keepalive_timer() {
  // One kKeepalive timer per connection at a time: each firing sets the next.
  Clock::time_point next;
  switch (keepalive_.check(Clock::now(), streams_.size(), next)) {
    case Keepalive::Action::kTimedOut: {
      Status timed_out{StatusCode::kUnavailable,
                       "keepalive ping to " + peer_ + " not acknowledged within " +
                           std::to_string(keepalive_.settings().timeout.count()) + " ms"};
      if (tracing(Trace::kConnection)) trace_line(Trace::kConnection, timed_out.details);
      close(timed_out);
      return;
    }
    case Keepalive::Action::kPing: {
      static constexpr uint8_t kKeepalivePing[8] = {'k', 'e', 'e', 'p', 'a', 'l', 'v', 'e'};
      send_ping(kKeepalivePing);
      break;
    }
    case Keepalive::Action::kNone:
      break;
  }
  context_.timers().add(next, TimerKind::kKeepalive, id_);
}

void Connection::send_ping(const uint8_t (&opaque)[8]) {
  nghttp2_submit_ping(session_.get(), NGHTTP2_FLAG_NONE, opaque);
  mark_dirty();
}

void Connection::close_after_flush(Status reason) {
  if (closed_ || close_after_flush_) return;
  close_after_flush_ = std::make_unique<Status>(std::move(reason));
  mark_dirty();
}

int Connection::on_frame_send(const nghttp2_frame* frame) {
  if (frame->hd.type == NGHTTP2_GOAWAY && tracing(Trace::kConnection)) {
    trace_line(Trace::kConnection, peer_ + ": GOAWAY sent: " + describe_goaway(frame->goaway));
  }
  if (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) keepalive_.on_headers_or_data_sent();
  on_frame_sent(frame);
  return 0;
}

int Connection::on_frame_recv(const nghttp2_frame* frame) {
  if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK) != 0) keepalive_.on_ping_ack();
  bool empty_data = frame->hd.type == NGHTTP2_DATA && frame->hd.length == 0 &&
                    (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0;
  if (empty_data && !empty_data_frames_.take()) {
    nghttp2_session_terminate_session(session_.get(), NGHTTP2_ENHANCE_YOUR_CALM);
    mark_dirty();
    return 0;
  }
  return on_frame(frame);
}

int Connection::on_data_chunk(int32_t stream_id, const uint8_t* data, size_t length) {
  // Connection-level flow control is decoupled from reads, as in grpc-go: these bytes now sit
  // in their stream's buffer, which the stream's own window bounds, so the connection's window
  // goes back at once and a stream the application stopped reading cannot starve the others.
  nghttp2_session_consume_connection(session_.get(), length);
  Call* call = call_on(stream_id);
  size_t give_back = call != nullptr ? call->on_data(data, length) : length;
  if (give_back > 0) nghttp2_session_consume_stream(session_.get(), stream_id, give_back);
  mark_dirty();
  return 0;
}

int Connection::on_stream_close(int32_t stream_id, uint32_t error_code) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return 0;
  std::unique_ptr<Call> call = std::move(it->second);
  streams_.erase(it);
  last_stream_change_ = Clock::now();
  if (error_code == NGHTTP2_REFUSED_STREAM) {
    call = take_refused(std::move(call));  // the owner may send it again elsewhere
    if (call == nullptr) {
      on_stream_ended(stream_id);
      return 0;
    }
  }
  call->on_stream_closed(error_code);
  take_for_retry(call);
  on_stream_ended(stream_id);
  if (call == nullptr) return 0;
  // A call whose received messages are still being decompressed ends when they are in.
  if (call->codec_busy()) context_.keep_until_done(std::move(call));
  return 0;
}

ssize_t Connection::read_data(int32_t, size_t length, uint32_t* data_flags, void* stream_user_data) {
  return static_cast<Call*>(stream_user_data)->read_outbound(length, data_flags);
}

int Connection::send_data(int32_t, const uint8_t* frame_header, size_t length,
                          void* stream_user_data) {
  return append_data_frame(frame_header, length, *static_cast<Call*>(stream_user_data));
}

void Connection::reset_stream(int32_t stream_id, uint32_t error_code) {
  if (closed_ || stream_id <= 0) return;
  nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, stream_id, error_code);
  mark_dirty();
}

bool Connection::submit_trailers(int32_t stream_id, const HeaderFields& fields,
                                 const Metadata& metadata) {
  std::vector<nghttp2_nv> nva;
  nva.reserve(fields.size() + metadata.size());
  append_fields_nv(fields, nva);
  std::deque<std::string> storage;
  append_metadata_nv(metadata, nva, storage);
  mark_dirty();
  return nghttp2_submit_trailer(session_.get(), stream_id, nva.data(), nva.size()) == 0;
}

bool Connection::submit_response(int32_t stream_id, const HeaderFields& fields,
                                 const Metadata& metadata, ResponseBody body) {
  std::vector<nghttp2_nv> nva;
  nva.reserve(fields.size() + metadata.size());
  append_fields_nv(fields, nva);
  std::deque<std::string> storage;
  append_metadata_nv(metadata, nva, storage);
  // The data source reads the call's messages and, at their end, submits its trailers.
  nghttp2_data_provider provider = data_provider();
  mark_dirty();
  return nghttp2_submit_response(session_.get(), stream_id, nva.data(), nva.size(),
                                 body == ResponseBody::kFollows ? &provider : nullptr) == 0;
}

void Connection::close(const Status& reason) {
  if (closed_) return;
  closed_ = true;
  if (watched_events_ != 0) context_.poller().remove(fd_);
  if (tls_ && tls_->handshake_done()) {  // close_notify, after what is already queued
    tls_->shut_down();
    tls_->take_output(tls_out_);
    write_out();
  }
  // FIN after what we wrote (a GOAWAY, say), then discard what the peer already sent: closing a
  // socket with unread input makes the kernel send RST instead, and a peer that gets RST may
  // drop our last frames unread — the GOAWAY telling it why.
  ::shutdown(fd_, SHUT_WR);
  discard_input();
  ::shutdown(fd_, SHUT_RD);
  // The owner first: a channel's state has left READY before any call learns it failed, so
  // code that sees a failed call and asks get_state() never hears READY.
  on_closed(reason);
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [stream_id, call] : streams) {
    call->on_connection_lost(reason);
    take_for_retry(call);
  }
  context_.retire(this);
}

std::string describe_goaway(const nghttp2_goaway& goaway) {
  std::string debug = goaway.opaque_data_len == 0
                          ? std::string()
                          : std::string(reinterpret_cast<const char*>(goaway.opaque_data), goaway.opaque_data_len);
  return "error " + std::to_string(goaway.error_code) + ", last stream " +
         std::to_string(goaway.last_stream_id) + ", debug '" + debug + "'";
}

void append_fields_nv(const HeaderFields& fields, std::vector<nghttp2_nv>& nva) {
  for (const auto& [name, value] : fields) nva.push_back(make_nv(name, value));
}

void append_metadata_nv(const Metadata& metadata, std::vector<nghttp2_nv>& nva,
                        std::deque<std::string>& storage) {
  for (const auto& [key, value] : metadata) {
    if (is_binary_key(key)) {
      storage.push_back(base64_encode(value));
      nva.push_back(make_nv(key, storage.back()));
    } else {
      nva.push_back(make_nv(key, value));
    }
  }
}

}  // namespace turbogrpc::internal
