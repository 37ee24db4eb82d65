// ServerConnection: one accepted connection — creating a ServerCall per request stream and
// routing frames to it. Poller thread only.
#pragma once

#include "rpc/server_call.h"
#include "transport/connection.h"
#include "transport/recent_streams.h"

namespace turbogrpc::internal {

class Server;

class ServerConnection final : public Connection {
 public:
  ServerConnection(TransportContext& context, Server& server, int fd, uint32_t listener = 0);

  // TLS with `certificates` from here on (the handshake waits for the client's hello).
  void start_server_tls(const TlsServerContext& certificates);

  // Graceful stop, in two phases as grpc-go: the first GOAWAY (last stream id 2^31-1) and a
  // PING; the final GOAWAY (shut_down) when that PING is answered, or at kGoawayPing. Streams
  // the client opened before it saw the first one are still served. Idempotent.
  void drain();
  // The final GOAWAY now (the last stream we processed); close when the last stream is done.
  void shut_down();

  int on_begin_frame(const nghttp2_frame_hd* hd) override;
  int on_begin_headers(const nghttp2_frame* frame) override;
  int on_header(const nghttp2_frame* frame, std::string_view name, std::string_view value) override;
  int on_frame(const nghttp2_frame* frame) override;
  void on_frame_sent(const nghttp2_frame* frame) override;
  void on_connection_timer(TimerKind kind) override;
  void on_stream_ended(int32_t stream_id) override { recent_.closed(stream_id, false); }

 protected:
  void on_closed(const Status& reason) override;
  void on_handshake_done() override;

 private:
  ServerCall* call_of(int32_t stream_id);

  void arm_idle_timer(Clock::time_point from);
  // A PING from the client: count a strike if it came sooner than the policy allows.
  void police_ping();
  enum class Drain : uint8_t { kNone, kFirstGoawaySent, kFinalGoawaySent };

  Server& server_;
  std::shared_ptr<const AuthContext> auth_;  // null until known; plaintext connections share one
  bool handshake_done_ = false;  // the client's preface and SETTINGS arrived
  int32_t highest_stream_id_ = 0;  // of the streams the client opened
  RecentStreams recent_;
  // Ping policing (grpc-go's enforcement policy).
  bool pinged_ = false;  // last_ping_at_ is set
  Clock::time_point last_ping_at_{};
  int64_t ping_strikes_ = 0;
  bool reset_ping_strikes_ = false;  // we sent HEADERS or DATA since the last PING
  Drain drain_ = Drain::kNone;
  bool aged_ = false;  // past max_connection_age: the next kConnectionAge ends the grace
};

}  // namespace turbogrpc::internal
