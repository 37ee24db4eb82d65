// ServerConnection: one accepted connection — creating a ServerCall per request stream and
// routing frames to it. Poller thread only.
#pragma once

#include <memory>
#include <unordered_map>

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
  int on_frame_recv(const nghttp2_frame* frame) override;
  int on_data_chunk(int32_t stream_id, const uint8_t* data, size_t length) override;
  int on_stream_close(int32_t stream_id, uint32_t error_code) override;
  int on_frame_send(const nghttp2_frame* frame) override;
  ssize_t read_data(int32_t, size_t length, uint32_t* data_flags, void* stream_user_data) override;
  int send_data(int32_t, const uint8_t* frame_header, size_t length, void* stream_user_data) override;

 protected:
  void on_closed(const Status& reason) override;

 private:
  ServerCall* call_of(int32_t stream_id);

  Server& server_;
  std::unordered_map<int32_t, std::unique_ptr<ServerCall>> streams_;
};

}  // namespace turbogrpc::internal
