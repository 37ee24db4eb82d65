// Configurable retries (gRPC proposal A6): when a failed attempt of a call goes again, and after
// how long. The call (rpc/client_call.h) asks; the channel runs the timer and sends the call
// again. Poller thread only.
#pragma once

#include <algorithm>
#include <cstddef>
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
  // Retries (and hedged attempts) are not sent now.
  bool throttled() const { return milli_tokens_ <= max_milli_ / 2; }

 private:
  const int64_t max_milli_;
  const int64_t ratio_milli_;
  int64_t milli_tokens_;
};

// grpc.retry_buffer_size, one per channel: the bytes its calls with a retry policy hold for
// replay, together. A call that would take it over the limit commits instead (gRPC A6's
// per-channel buffer limit; grpc-core has none, grpc-java and grpc-js do).
class RetryBufferBudget {
 public:
  explicit RetryBufferBudget(int64_t limit) : limit_(limit) {}  // limit < 0: unlimited
  // Takes `bytes` if they fit under the limit; false (nothing taken) otherwise.
  bool take(size_t bytes);
  void give_back(size_t bytes) { used_ -= std::min(bytes, used_); }
  size_t used() const { return used_; }

 private:
  const int64_t limit_;
  size_t used_ = 0;
};

// A call's retry bookkeeping under its method's retryPolicy.
class RetryState {
 public:
  // `buffer`: the channel's retry buffer (null: only the per-call limit applies).
  RetryState(const RetryPolicy& policy, std::shared_ptr<RetryThrottle> throttle,
             std::shared_ptr<RetryBufferBudget> buffer = nullptr);
  ~RetryState() { release_buffer(); }
  RetryState(const RetryState&) = delete;
  RetryState& operator=(const RetryState&) = delete;

  // The attempt failed with `code` before the call committed; `pushback` is the server's
  // grpc-retry-pushback-ms (nullopt when absent; `pushback_repeated` when sent more than once).
  // The delay before the next attempt, or nullopt when there is none.
  std::optional<Clock::duration> after_failure(StatusCode code, std::optional<std::string_view> pushback,
                                               bool pushback_repeated);
  // The call ended OK (the throttle gets a token back).
  void on_success();
  // Attempts made before the current one (the grpc-previous-rpc-attempts header; 0: none).
  int previous_attempts() const { return attempts_ - 1; }

  // The call keeps `bytes` for replay: its share of the channel's retry buffer grows to cover
  // them (it never shrinks while the call may retry: after a rewind the same bytes are sent
  // again). False, and the share unchanged, when the buffer has no room (the call commits).
  bool hold_buffer(size_t bytes);
  // The call keeps nothing for replay any more (it committed or finished): its share goes back.
  void release_buffer();

 private:
  const RetryPolicy policy_;
  const std::shared_ptr<RetryThrottle> throttle_;  // null without retryThrottling
  const std::shared_ptr<RetryBufferBudget> buffer_;  // null: no channel-wide limit
  size_t buffer_held_ = 0;           // this call's share of buffer_
  int attempts_ = 1;                 // including the current one
  int backoffs_since_pushback_ = 0;  // the exponent of the next backoff
};

// grpc-retry-pushback-ms: a non-negative decimal int32 without leading zeros; anything else
// (negative, malformed) means "do not retry". Returns the milliseconds, or nullopt for "stop".
std::optional<int64_t> parse_pushback_ms(std::string_view value);

}  // namespace turbogrpc::internal
