// HealthWatch: client-side health checking (gRPC's proposal A17) for one subchannel — a
// grpc.health.v1.Health/Watch call on the subchannel's ready connection, made by the engine for
// itself, whose answers say whether calls may go there. Poller thread only.
//
// The call's events land in a queue of its own (CompletionQueue with an on_ready hook) that
// arms a kChannelHealth timer; the channel's timer hands them to poll(). Nothing here runs
// from inside the connection's frame handling, so the subchannel may change state freely.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "io/timer_queue.h"
#include "transport/backoff.h"
#include "turbogrpc/completion_queue.h"
#include "turbogrpc/options.h"

namespace turbogrpc::internal {

class ClientConnection;
class TransportContext;

// HealthCheckRequest {string service = 1;} in protobuf's wire format.
std::string encode_health_request(const std::string& service);
// HealthCheckResponse's ServingStatus (field 1): SERVING is 1. nullopt: not a valid message.
std::optional<int32_t> decode_health_status(const std::string& message);

class HealthWatch {
 public:
  enum class Verdict {
    kPending,      // no answer yet: the subchannel is not READY
    kServing,      // SERVING: READY
    kNotServing,   // any other status, or the watch failed: TRANSIENT_FAILURE
    kUnchecked,    // the server has no health service (UNIMPLEMENTED): READY, unchecked
  };

  HealthWatch(TransportContext& context, uint64_t channel_id, std::string service,
              const ChannelOptions& options);
  ~HealthWatch();  // cancels the watch still running
  HealthWatch(const HealthWatch&) = delete;
  HealthWatch& operator=(const HealthWatch&) = delete;

  // The connection is ready: the watch starts on it (kPending until the first answer).
  void start(ClientConnection* connection, const std::string& authority, const std::string& user_agent);
  // The connection is gone or going (A17: cancel, no need to wait for the status).
  void stop();
  // Takes what the watch reported; true if the verdict changed. A failed watch is started
  // again after a backoff (at once after one that had answered), when poll() finds it due.
  bool poll(Clock::time_point now);
  Verdict verdict() const { return verdict_; }
  // The stream the watch holds on the connection (0 or 1): not an application's call.
  int streams() const { return call_id_ != 0 ? 1 : 0; }
  const std::string& last_error() const { return last_error_; }

 private:
  void start_call();

  TransportContext& context_;
  const uint64_t channel_id_;
  const std::string service_;
  const ChannelOptions& options_;  // the channel's; outlives this
  std::shared_ptr<CompletionQueue> events_;
  ConnectionBackoff backoff_;
  ClientConnection* connection_ = nullptr;  // while started
  std::string authority_, user_agent_;
  uint64_t call_id_ = 0;  // the running Watch call (0: none)
  bool answered_ = false;  // the running call sent a message (its failure retries at once)
  Clock::time_point restart_at_{};  // a failed watch goes again then (while connection_)
  bool restart_due_ = false;
  Verdict verdict_ = Verdict::kPending;
  std::string last_error_;
};

}  // namespace turbogrpc::internal
