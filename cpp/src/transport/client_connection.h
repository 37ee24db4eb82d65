// ClientConnection: a connection a subchannel dialled — the nonblocking connect, request
// submission, and routing of response frames to their ClientCalls. Poller thread only.
#pragma once

#include <memory>

#include "rpc/client_call.h"
#include "transport/connection.h"

namespace turbogrpc::internal {

class Subchannel;

class ClientConnection final : public Connection {
 public:
  // `fd` has a nonblocking connect() in progress.
  ClientConnection(TransportContext& context, Subchannel& subchannel, int fd);

  // Connected, handshaken, and the server's first SETTINGS arrived (as grpc-go, READY waits
  // for the server's preface: a port that accepts and says nothing is not a server).
  bool ready() const { return settings_received_ && !closed() && !goaway_received_; }
  bool draining() const { return goaway_received_; }

  // Submits the request; the connection owns the call until its stream closes.
  void start_call(std::unique_ptr<ClientCall> call, const std::string& authority,
                  const std::string& user_agent);
  // Graceful close from our side (channel closed): GOAWAY, then close when streams are done.
  void shut_down();
  // The channel is closed: its GOAWAY goes out if it can, then the connection closes at once,
  // its calls ending with `reason` (grpc's CANCELLED "Channel closed!", not the connection's
  // own "shut down"). It always closes here, even mid-connect or mid-handshake: the channel
  // that owns it is about to go.
  void close_for_channel(const Status& reason);

  int on_begin_headers(const nghttp2_frame* frame) override;
  int on_header(const nghttp2_frame* frame, std::string_view name, std::string_view value) override;
  int on_frame(const nghttp2_frame* frame) override;
  void on_connection_timer(TimerKind kind) override;

 protected:
  void on_closed(const Status& reason) override;
  std::unique_ptr<Call> take_refused(std::unique_ptr<Call> call) override;
  void take_for_retry(std::unique_ptr<Call>& call) override;
  void on_connect_writable() override;
  void on_handshake_done() override;
  void on_handshake_failed(const std::string& reason) override;

 private:
  ClientCall* call_of(int32_t stream_id);

  Subchannel& subchannel_;
  bool settings_received_ = false;
  bool goaway_received_ = false;
};

}  // namespace turbogrpc::internal
