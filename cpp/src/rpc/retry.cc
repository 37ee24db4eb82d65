#include "rpc/retry.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace turbogrpc::internal {

RetryThrottle::RetryThrottle(const RetryThrottling& config)
    : max_milli_(std::llround(config.max_tokens * 1000)),
      ratio_milli_(std::llround(config.token_ratio * 1000)),
      milli_tokens_(max_milli_) {}

bool RetryThrottle::record_failure() {
  milli_tokens_ = std::max<int64_t>(0, milli_tokens_ - 1000);
  return milli_tokens_ <= max_milli_ / 2;
}

void RetryThrottle::record_success() { milli_tokens_ = std::min(max_milli_, milli_tokens_ + ratio_milli_); }

namespace {

// The backoff jitter's source: one per thread (retries are decided on the poller thread), so a
// call carries no generator and seeding costs nothing per call.
std::mt19937_64& jitter_source() {
  thread_local std::mt19937_64 source{std::random_device{}()};
  return source;
}

}  // namespace

bool RetryBufferBudget::take(size_t bytes) {
  if (limit_ >= 0 && used_ + bytes > static_cast<size_t>(limit_)) return false;
  used_ += bytes;
  return true;
}

RetryState::RetryState(const RetryPolicy& policy, std::shared_ptr<RetryThrottle> throttle,
                       std::shared_ptr<RetryBufferBudget> buffer)
    : policy_(policy), throttle_(std::move(throttle)), buffer_(std::move(buffer)) {}

bool RetryState::hold_buffer(size_t bytes) {
  if (!buffer_ || bytes <= buffer_held_) return true;
  if (!buffer_->take(bytes - buffer_held_)) return false;
  buffer_held_ = bytes;
  return true;
}

void RetryState::release_buffer() {
  if (buffer_) buffer_->give_back(buffer_held_);
  buffer_held_ = 0;
}

std::optional<Clock::duration> RetryState::after_failure(StatusCode code,
                                                         std::optional<std::string_view> pushback,
                                                         bool pushback_repeated) {
  // The order is grpc-go's: a pushback that says stop counts as a failure and ends it; then the
  // code must be retryable; then the throttle and the attempt budget.
  std::optional<int64_t> pushback_ms;
  if (pushback) {
    pushback_ms = pushback_repeated ? std::nullopt : parse_pushback_ms(*pushback);
    if (!pushback_ms) {
      if (throttle_) throttle_->record_failure();
      return std::nullopt;
    }
  }
  if (!policy_.retryable_codes.contains(code)) return std::nullopt;
  if (throttle_ && throttle_->record_failure()) return std::nullopt;
  if (attempts_ >= policy_.max_attempts) return std::nullopt;
  ++attempts_;
  if (pushback_ms) {
    backoffs_since_pushback_ = 0;  // after the pushed-back attempt, backoff starts over
    return std::chrono::milliseconds(*pushback_ms);
  }
  double ceiling = std::min(policy_.initial_backoff_seconds *
                                std::pow(policy_.backoff_multiplier, backoffs_since_pushback_),
                            policy_.max_backoff_seconds);
  ++backoffs_since_pushback_;
  double seconds = std::uniform_real_distribution<double>(0, ceiling)(jitter_source());
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

void RetryState::on_success() {
  if (throttle_) throttle_->record_success();
}

std::optional<int64_t> parse_pushback_ms(std::string_view value) {
  if (value.empty() || value.size() > 10) return std::nullopt;
  if (value.size() > 1 && value[0] == '0') return std::nullopt;
  int64_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n > INT32_MAX) return std::nullopt;
  return n;
}

}  // namespace turbogrpc::internal
