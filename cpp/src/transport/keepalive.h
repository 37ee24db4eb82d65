// Keepalive: when a connection sends its keepalive PING and when a missing ACK ends it (gRPC's
// keepalive doc, grpc-go's keepalive loop). Bookkeeping only: the connection reports reads,
// ACKs and sent HEADERS/DATA, and acts on what check() answers. Poller thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "io/timer_queue.h"

namespace turbogrpc::internal {

struct KeepaliveSettings {
  std::chrono::milliseconds time{0};     // quiet this long → PING; <= 0: keepalive off
  std::chrono::milliseconds timeout{20'000};  // no ACK (nor anything else) this long → dead
  bool permit_without_calls = true;      // ping even with no stream open
  int64_t max_pings_without_data = 0;    // pings until we send HEADERS or DATA again; 0: any
};

class Keepalive {
 public:
  enum class Action : uint8_t { kNone, kPing, kTimedOut };

  bool enabled() const { return settings_.time.count() > 0; }
  const KeepaliveSettings& settings() const { return settings_; }
  void start(const KeepaliveSettings& settings, Clock::time_point now) {
    settings_ = settings;
    last_read_ = now;
  }

  // Anything read from the peer proves it alive (as grpc-go), the ACK included.
  void on_read(Clock::time_point now) { last_read_ = now; }
  void on_ping_ack() { awaiting_ack_ = false; }
  void on_headers_or_data_sent() { pings_without_data_ = 0; }

  // What to do at `now` (kPing: send one now, it is counted as sent), and in `next` when to
  // look again.
  Action check(Clock::time_point now, size_t active_streams, Clock::time_point& next);

 private:
  KeepaliveSettings settings_;
  Clock::time_point last_read_{};
  Clock::time_point ping_sent_at_{};
  bool awaiting_ack_ = false;
  int64_t pings_without_data_ = 0;
};

}  // namespace turbogrpc::internal
