#include "transport/server_connection.h"

#include <sys/socket.h>

#include <cstdint>
#include <cstring>

#include "transport/transport_context.h"
#include "io/address.h"
#include "transport/server.h"

namespace turbogrpc::internal {

namespace {
// Opaque data of the PING that follows the first GOAWAY: its ACK means the client has seen it.
constexpr uint8_t kGoawayPing[8] = {'g', 'o', 'a', 'w', 'a', 'y', '0', '1'};
// How long the final GOAWAY waits for that ACK at most (grpc-go's bound).
constexpr auto kGoawayPingTimeout = std::chrono::seconds(5);
// With no call open and calls not permitted, a client has no reason to ping more often than
// this (grpc-go's defaultPingTimeout, grpc-core's 2 h).
constexpr auto kPingIntervalWithoutCalls = std::chrono::hours(2);

std::shared_ptr<const AuthContext> fixed_auth(const char* type, const char* level, const char* identity) {
  auto auth = std::make_shared<AuthContext>();
  auth->properties = {{"security_level", level}, {"transport_security_type", type}};
  auth->peer_identity_property = identity;
  return auth;
}

// Local credentials: the connection must really be local (grpc refuses others as well).
bool is_local_peer(int fd, ListenerSecurity::Kind kind) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return false;
  if (kind == ListenerSecurity::Kind::kLocalUds) return address.ss_family == AF_UNIX;
  return is_loopback(address);
}
}  // namespace

ServerConnection::ServerConnection(TransportContext& context, Server& server, int fd, uint32_t listener)
    : Connection(context, fd, Http2Role::kServer, server.http2_settings()), server_(server) {
  peer_ = peer_name(fd);
  set_no_delay(fd);
  const ListenerSecurity& security = server.security(listener);
  using Kind = ListenerSecurity::Kind;
  if (security.kind == Kind::kTls && security.fetch_certificates) {
    await_tls();
    server.fetch_certificates(listener, this);  // not watched until the certificates are in
  } else if (security.kind == Kind::kTls) {
    start_server_tls(*security.tls);
  } else {
    // grpc names the local transport itself as a local peer's identity. Plaintext: no auth
    // context at all (Python reports grpc's fixed insecure one), so plain calls carry nothing.
    static const auto local = fixed_auth("local", "TSI_PRIVACY_AND_INTEGRITY", "transport_security_type");
    bool is_local = security.kind == Kind::kLocalUds || security.kind == Kind::kLocalTcp;
    if (is_local) auth_ = local;
    watch(EPOLLIN);
    mark_dirty();  // our SETTINGS go out at once
    if (is_local && !is_local_peer(fd, security.kind)) {
      close({StatusCode::kUnavailable, "Local credentials refuse the non-local peer " + peer_});
      return;
    }
  }
  const ServerOptions& options = server.options();
  if (options.handshake_timeout_ms > 0) {
    context_.timers().add(Clock::now() + std::chrono::milliseconds(options.handshake_timeout_ms),
                       TimerKind::kConnectionHandshake, id());
  }
  arm_idle_timer(Clock::now());
  if (options.max_connection_age_ms > 0)
    context_.timers().add(Clock::now() + server.jittered_age(), TimerKind::kConnectionAge, id());
  KeepaliveSettings keepalive;  // servers ping whether or not calls are open (as grpc-go)
  keepalive.time = std::chrono::milliseconds(std::max<int64_t>(0, options.keepalive_time_ms));
  keepalive.timeout = std::chrono::milliseconds(std::max<int64_t>(1, options.keepalive_timeout_ms));
  start_keepalive(keepalive);
}

void ServerConnection::start_server_tls(const TlsServerContext& certificates) {
  if (closed()) return;
  watch(EPOLLIN);
  start_tls(TlsStream::server(certificates));
}

void ServerConnection::on_handshake_done() {
  auth_ = tls()->auth_context();
  mark_dirty();  // our SETTINGS
}

void ServerConnection::arm_idle_timer(Clock::time_point from) {
  int64_t idle_ms = server_.options().max_connection_idle_ms;
  if (idle_ms > 0) context_.timers().add(from + std::chrono::milliseconds(idle_ms), TimerKind::kConnectionIdle, id());
}

void ServerConnection::on_connection_timer(TimerKind kind) {
  if (kind == TimerKind::kGoawayPing) {
    if (drain_ == Drain::kFirstGoawaySent) shut_down();
    return;
  }
  if (kind == TimerKind::kConnectionAge) {
    if (!aged_) {  // the age: drain (unless a stop or the idle timeout already did), then the grace
      aged_ = true;
      drain();
      int64_t grace_ms = server_.options().max_connection_age_grace_ms;
      if (grace_ms > 0)
        context_.timers().add(Clock::now() + std::chrono::milliseconds(grace_ms), TimerKind::kConnectionAge, id());
      return;
    }
    // The grace period is over: the calls still running are cancelled with the connection.
    if (drain_ == Drain::kFirstGoawaySent) shut_down();
    flush();
    close({StatusCode::kUnavailable, "max connection age grace period expired"});
    return;
  }
  if (kind == TimerKind::kConnectionHandshake) {
    if (!handshake_done_) {
      close({StatusCode::kUnavailable, "No HTTP/2 preface and SETTINGS from " + peer_ + " within " +
                                           std::to_string(server_.options().handshake_timeout_ms) + " ms"});
    }
    return;
  }
  // kConnectionIdle: GOAWAY if no stream has been open since the last change that long ago;
  // otherwise look again one idle period after the last change (or from now, while busy).
  Clock::time_point now = Clock::now();
  auto idle_for = std::chrono::milliseconds(server_.options().max_connection_idle_ms);
  if (active_streams() == 0 && now - last_stream_change() >= idle_for) {
    drain();
    return;
  }
  arm_idle_timer(active_streams() == 0 ? last_stream_change() : now);
}

ServerCall* ServerConnection::call_of(int32_t stream_id) {
  return static_cast<ServerCall*>(call_on(stream_id));
}

void ServerConnection::drain() {
  if (drain_ != Drain::kNone || closed()) return;
  drain_ = Drain::kFirstGoawaySent;
  // nghttp2's shutdown notice is that first GOAWAY; it keeps accepting streams until the final one.
  nghttp2_submit_shutdown_notice(session());  // the PING follows it out (on_frame_sent)
  mark_dirty();
  context_.timers().add(Clock::now() + kGoawayPingTimeout, TimerKind::kGoawayPing, id());
}

void ServerConnection::police_ping() {
  Clock::time_point now = Clock::now();
  Clock::time_point last = last_ping_at_;
  bool first = !pinged_;
  pinged_ = true;
  last_ping_at_ = now;
  if (reset_ping_strikes_) {  // we sent HEADERS or DATA since: this one is free
    reset_ping_strikes_ = false;
    ping_strikes_ = 0;
    return;
  }
  const ServerOptions& options = server_.options();
  Clock::duration allowed = active_streams() == 0 && !options.keepalive_permit_without_calls
                                ? Clock::duration(kPingIntervalWithoutCalls)
                                : Clock::duration(std::chrono::milliseconds(options.min_ping_interval_without_data_ms));
  if (!first && now - last < allowed) ++ping_strikes_;
  // Once: strikes only grow from here (the connection closes at the next flush).
  if (options.max_ping_strikes <= 0 || ping_strikes_ != options.max_ping_strikes + 1) return;
  static constexpr char kTooManyPings[] = "too_many_pings";
  nghttp2_submit_goaway(session(), NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session()),
                        NGHTTP2_ENHANCE_YOUR_CALM, reinterpret_cast<const uint8_t*>(kTooManyPings),
                        sizeof(kTooManyPings) - 1);
  close_after_flush({StatusCode::kUnavailable, "too many pings from " + peer_});
}

void ServerConnection::shut_down() {
  if (closed()) return;
  drain_ = Drain::kFinalGoawaySent;
  nghttp2_submit_goaway(session(), NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session()), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  mark_dirty();
}

int ServerConnection::on_begin_frame(const nghttp2_frame_hd* hd) {
  // Only HEADERS: nghttp2 drops DATA on closed streams before this callback (see
  // docs/limits.md: it ignores them where RFC 9113 asks for STREAM_CLOSED after a reset).
  if (hd->type != NGHTTP2_HEADERS) return 0;
  int32_t id = hd->stream_id;
  if (id <= 0 || id % 2 == 0) return 0;  // nghttp2 judges stream 0 and server-side ids
  if (id > highest_stream_id_) {
    highest_stream_id_ = id;
    return 0;  // a new stream
  }
  if (nghttp2_session_find_stream(session(), id) != nullptr) return 0;  // open
  switch (recent_.state(id)) {
    case 2:  // RFC 9113 §5.1: frames after the peer's own RST_STREAM are a stream error
      reset_stream(id, NGHTTP2_STREAM_CLOSED);
      return 0;
    case 1:  // we closed it; the frame may have been in flight: ignore (nghttp2 does)
      return 0;
    default:
      // HEADERS opening a stream numbered below one the client already opened (§5.1.1).
      return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
}

int ServerConnection::on_begin_headers(const nghttp2_frame* frame) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto call = std::make_unique<ServerCall>(context_.new_id(), server_.id(), server_.cq(),
                                           server_.options(), context_.calls(), context_.codec_offload(), peer_, auth_);
  call->attach(this, frame->hd.stream_id);
  Call* stream_user_data = call.get();
  nghttp2_session_set_stream_user_data(session(), frame->hd.stream_id, stream_user_data);
  add_stream(frame->hd.stream_id, std::move(call));
  return 0;
}

int ServerConnection::on_header(const nghttp2_frame* frame, std::string_view name,
                                std::string_view value) {
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    if (ServerCall* call = call_of(frame->hd.stream_id)) call->on_header(name, value);
  }
  return 0;
}

int ServerConnection::on_frame(const nghttp2_frame* frame) {
  if (frame->hd.type == NGHTTP2_RST_STREAM) recent_.closed(frame->hd.stream_id, /*reset_by_peer=*/true);
  if (frame->hd.type == NGHTTP2_SETTINGS && (frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) handshake_done_ = true;
  if (frame->hd.type == NGHTTP2_PING) {
    if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) police_ping();
    else if (drain_ == Drain::kFirstGoawaySent && std::memcmp(frame->ping.opaque_data, kGoawayPing, 8) == 0)
      shut_down();
    return 0;
  }
  ServerCall* call = frame->hd.stream_id != 0 ? call_of(frame->hd.stream_id) : nullptr;
  if (call == nullptr) return 0;
  bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    if (call->on_request_headers(end_stream, server_.preread(call->path())) && call->deadline())
      context_.timers().add(*call->deadline(), TimerKind::kCallDeadline, call->id());
    return 0;
  }
  if (end_stream && (frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS))
    call->on_peer_end_stream();
  return 0;
}

void ServerConnection::on_frame_sent(const nghttp2_frame* frame) {
  if (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) reset_ping_strikes_ = true;
  // Its ACK must prove the client has read the first GOAWAY: so the PING goes after it.
  if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.last_stream_id == INT32_MAX &&
      drain_ == Drain::kFirstGoawaySent)
    send_ping(kGoawayPing);
  // Our side ended the stream while the client still sends: reset it with NO_ERROR, as grpc's
  // servers do, so the client stops sending and sees the status we sent (not a failed write).
  if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
      (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA)) {
    ServerCall* call = call_of(frame->hd.stream_id);
    if (call != nullptr && call->ended_before_peer()) reset_stream(frame->hd.stream_id, NGHTTP2_NO_ERROR);
  }
}

void ServerConnection::on_closed(const Status&) { server_.on_connection_closed(this); }

}  // namespace turbogrpc::internal
