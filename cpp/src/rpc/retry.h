// Configurable retries (gRPC proposal A6): when a failed attempt of a call goes again, and after
// how long. The call (rpc/client_call.h) asks; the channel runs the timer and sends the call
// again. Poller thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "io/timer_queue.h"
#include "turbogrpc/service_config.h"

namespace turbogrpc::internal {

// retryThrottling, one per channel: tokens start at max_tokens; every attempt that fails with
// a retryable code (or a pushback saying stop) takes one, every successful call gives
// token_ratio back; while tokens <= max_tokens / 2, nothing is retried. Counted in thousandths,
// as token_ratio has at most three decimals.
class RetryThrottle {
 public:
  explicit RetryThrottle(const RetryThrottling& config);
  // Counts a failure; true when retries are throttled from now on.
  bool record_failure();
  void record_success();

 private:
  const int64_t max_milli_;
  const int64_t ratio_milli_;
  int64_t milli_tokens_;
};

// A call's retry bookkeeping under its method's retryPolicy.
class RetryState {
 public:
  RetryState(const RetryPolicy& policy, std::shared_ptr<RetryThrottle> throttle);

  // The attempt failed with `code` before the call committed; `pushback` is the server's
  // grpc-retry-pushback-ms (nullopt when absent; `pushback_repeated` when sent more than once).
  // The delay before the next attempt, or nullopt when there is none.
  std::optional<Clock::duration> after_failure(StatusCode code, std::optional<std::string_view> pushback,
                                               bool pushback_repeated);
  // The call ended OK (the throttle gets a token back).
  void on_success();
  // Attempts made before the current one (the grpc-previous-rpc-attempts header; 0: none).
  int previous_attempts() const { return attempts_ - 1; }

 private:
  const RetryPolicy policy_;
  const std::shared_ptr<RetryThrottle> throttle_;  // null without retryThrottling
  int attempts_ = 1;                 // including the current one
  int backoffs_since_pushback_ = 0;  // the exponent of the next backoff
};

// grpc-retry-pushback-ms: a non-negative decimal int32 without leading zeros; anything else
// (negative, malformed) means "do not retry". Returns the milliseconds, or nullopt for "stop".
std::optional<int64_t> parse_pushback_ms(std::string_view value);

}  // namespace turbogrpc::internal
