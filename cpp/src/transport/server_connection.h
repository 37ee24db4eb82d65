// ServerConnection: one accepted connection — creating a ServerCall per request stream and
// routing frames to it. Poller thread only.
#pragma once

#include "rpc/server_call.h"
#include "transport/connection.h"

namespace turbogrpc::internal {

class Server;

class ServerConnection final : public Connection {
 public:
  ServerConnection(EngineCore& core, Server& server, int fd);

  // Graceful stop: GOAWAY now, close when the last stream is done.
  void shut_down();

  int on_begin_headers(const nghttp2_frame* frame) override;
  int on_header(const nghttp2_frame* frame, std::string_view name, std::string_view value) override;
  int on_frame(const nghttp2_frame* frame) override;
  int on_frame_send(const nghttp2_frame* frame) override;
  void on_timer(TimerKind kind) override;

 protected:
  void on_closed(const Status& reason) override;

 private:
  ServerCall* call_of(int32_t stream_id);

  void arm_idle_timer(Clock::time_point from);

  Server& server_;
  bool handshake_done_ = false;  // the client's preface and SETTINGS arrived
};

}  // namespace turbogrpc::internal
