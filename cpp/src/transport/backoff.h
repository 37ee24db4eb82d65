// ConnectionBackoff: when a channel may try to connect again, per gRPC's connection-backoff
// doc: each attempt gets max(its backoff deadline, now + the minimum connect timeout); after a
// failed attempt the channel waits until that backoff deadline; the backoff grows by a
// multiplier up to a maximum, with a random jitter; a successful connection resets it.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

#include "io/timer_queue.h"

namespace turbogrpc::internal {

struct BackoffSettings {
  std::chrono::milliseconds initial{1000};            // grpc.initial_reconnect_backoff_ms
  std::chrono::milliseconds max{120'000};             // grpc.max_reconnect_backoff_ms
  std::chrono::milliseconds min_connect_timeout{20'000};  // grpc.min_reconnect_backoff_ms
  double multiplier = 1.6;
  double jitter = 0.2;  // the backoff is drawn from [b * (1 - jitter), b * (1 + jitter)]
};

class ConnectionBackoff {
 public:
  explicit ConnectionBackoff(BackoffSettings settings, uint64_t seed = std::random_device{}());

  struct Attempt {
    Clock::time_point connect_deadline;  // the attempt fails if not connected by then
    Clock::time_point retry_at;          // after a failure, the next attempt starts here
  };
  // Starts an attempt at `now`: the first after a reset retries after `initial` (jittered).
  Attempt begin_attempt(Clock::time_point now);
  // The connection succeeded: the next failure starts from `initial` again.
  void reset();

  const BackoffSettings& settings() const { return settings_; }

 private:
  BackoffSettings settings_;
  std::mt19937_64 random_;
  bool started_ = false;
  std::chrono::duration<double, std::milli> current_{0};
};

}  // namespace turbogrpc::internal
