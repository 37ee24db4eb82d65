// ClientConnection: a connection a channel dialled — the nonblocking connect, request
// submission, and routing of response frames to their ClientCalls. Poller thread only.
#pragma once

#include <memory>
#include <unordered_map>

#include "rpc/client_call.h"
#include "transport/connection.h"

namespace turbogrpc::internal {

class Channel;

class ClientConnection final : public Connection {
 public:
  // `fd` has a nonblocking connect() in progress.
  ClientConnection(EngineCore& core, Channel& channel, int fd);

  bool ready() const { return !connecting_ && !closed() && !goaway_received_; }
  bool draining() const { return goaway_received_; }
  size_t active_streams() const { return streams_.size(); }

  // Submits the request; the connection owns the call until its stream closes.
  void start_call(std::unique_ptr<ClientCall> call, const std::string& authority,
                  const std::string& user_agent);
  // Graceful close from our side (channel closed): GOAWAY, then close when streams are done.
  void shut_down();

  int on_begin_headers(const nghttp2_frame* frame) override;
  int on_header(const nghttp2_frame* frame, std::string_view name, std::string_view value) override;
  int on_frame_recv(const nghttp2_frame* frame) override;
  int on_data_chunk(int32_t stream_id, const uint8_t* data, size_t length) override;
  int on_stream_close(int32_t stream_id, uint32_t error_code) override;
  ssize_t read_data(int32_t, size_t length, uint32_t* data_flags, void* stream_user_data) override;
  int send_data(int32_t, const uint8_t* frame_header, size_t length, void* stream_user_data) override;

 protected:
  void on_closed(const Status& reason) override;
  void on_connect_writable() override;

 private:
  ClientCall* call_of(int32_t stream_id);

  Channel& channel_;
  bool goaway_received_ = false;
  std::unordered_map<int32_t, std::unique_ptr<ClientCall>> streams_;
};

}  // namespace turbogrpc::internal
