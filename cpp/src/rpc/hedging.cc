#include "rpc/hedging.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>

#include "rpc/call_registry.h"
#include "rpc/client_call.h"

namespace turbogrpc::internal {

HedgeDecisions::HedgeDecisions(const HedgingPolicy& policy, std::shared_ptr<RetryThrottle> throttle)
    : policy_(policy),
      delay_(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(policy.delay_seconds))),
      throttle_(std::move(throttle)) {}

bool HedgeDecisions::may_start() const {
  return started_ < policy_.max_attempts && !stopped_ && !(throttle_ && throttle_->throttled());
}

HedgeDecisions::AfterFailure HedgeDecisions::after_failure(StatusCode code,
                                                           std::optional<std::string_view> pushback,
                                                           bool pushback_repeated) {
  // Every failed attempt counts against the throttle (A6: hedged attempts are RPCs to it).
  if (throttle_) throttle_->record_failure();
  if (!policy_.non_fatal_codes.contains(code)) return {Verdict::kFatal};
  std::optional<int64_t> pushback_ms;
  if (pushback) {
    pushback_ms = pushback_repeated ? std::nullopt : parse_pushback_ms(*pushback);
    if (!pushback_ms) stopped_ = true;  // the server says: no more attempts
  }
  if (!may_start()) return {Verdict::kNoMore};
  if (pushback_ms) return {Verdict::kNextAfter, std::chrono::milliseconds(*pushback_ms)};
  return {Verdict::kNextNow};
}

void HedgeDecisions::on_success() {
  if (throttle_) throttle_->record_success();
}

Hedging::Hedging(const HedgingPolicy& policy, std::shared_ptr<RetryThrottle> throttle,
                 std::shared_ptr<RetryBufferBudget> buffer, HedgeSeed seed)
    : decisions_(policy, std::move(throttle)), buffer_budget_(std::move(buffer)), seed_(std::move(seed)) {}

Hedging::~Hedging() { drop_buffer(); }

void Hedging::register_attempt(ClientCall& attempt) {
  Call* current = seed_.registry->find(seed_.id);
  if (current == &attempt) return;
  // Reads the application asked for before this attempt took over are its now.
  if (current != nullptr && std::find(live_.begin(), live_.end(), current) != live_.end()) {
    auto* previous = static_cast<ClientCall*>(current);
    attempt.read_credit_ += previous->read_credit_;
    previous->read_credit_ = 0;
  }
  seed_.registry->add(seed_.id, &attempt);
}

void Hedging::unlink(ClientCall& attempt) {
  auto it = std::find(live_.begin(), live_.end(), &attempt);
  if (it == live_.end()) return;
  live_.erase(it);
  if (seed_.registry->find(seed_.id) != &attempt) return;
  if (!live_.empty()) register_attempt(*live_.front());
  else seed_.registry->remove(seed_.id, &attempt);
}

void Hedging::abandon(ClientCall& attempt, Reset reset) {
  attempt.finished_ = true;  // silently: the application never hears of this attempt
  if (reset == Reset::kYes && attempt.port_ != nullptr) attempt.port_->reset_stream(attempt.stream_id_, NGHTTP2_CANCEL);
  unlink(attempt);
}

void Hedging::cancel_others(ClientCall& keep) {
  std::vector<ClientCall*> others;
  for (ClientCall* a : live_)
    if (a != &keep) others.push_back(a);
  for (ClientCall* a : others) abandon(*a, Reset::kYes);
  next_due_.reset();
  drop_buffer();
}

void Hedging::on_attempt_submitted(ClientCall& attempt, HedgeHost& host) {
  host_ = &host;
  if (attempt.hedge_submitted_) return;  // sent again after a refused stream: not a new attempt
  attempt.hedge_submitted_ = true;
  if (replaying() && decisions_.may_start()) schedule_next(Clock::now() + decisions_.delay());
}

bool Hedging::has_attempt_on(const StreamPort* port) const {
  return std::any_of(live_.begin(), live_.end(), [&](const ClientCall* a) { return a->port_ == port; });
}

void Hedging::schedule_next(Clock::time_point due) {
  if (next_due_ && *next_due_ <= due) return;  // one already due sooner
  next_due_ = due;
  if (host_ != nullptr) host_->wake_hedging_at(due, weak_from_this());
}

void Hedging::on_wake(Clock::time_point now) {
  if (!replaying() || !next_due_ || *next_due_ > now) return;  // stale wakeup
  next_due_.reset();
  start_next();
}

void Hedging::start_next() {
  if (!replaying() || host_ == nullptr || !decisions_.may_start()) return;
  auto attempt = std::make_unique<ClientCall>(shared_from_this(), decisions_.start_attempt());
  replay_into(*attempt);
  host_->start_hedge(std::move(attempt));
}

void Hedging::replay_into(ClientCall& attempt) {
  for (const Buffered& b : buffer_) attempt.queue_on_attempt(std::string(b.message), false, b.compress);
  if (closed_) attempt.close_outbound();
}

void Hedging::refill(ClientCall& attempt) {
  attempt.discard_outbound();
  replay_into(attempt);
}

void Hedging::on_send(std::string&& message, bool end_of_stream, bool compress) {
  size_t size = message.size();
  bool fits = buffer_bytes_ + size <= seed_.per_rpc_buffer &&
              (!buffer_budget_ || buffer_budget_->take(size));
  if (!fits) {
    // Over the buffer: commit to the attempt that has sent the most (the oldest), as A6 says.
    ClientCall& keep = *live_.front();
    committed_ = true;
    register_attempt(keep);
    cancel_others(keep);
    keep.queue_on_attempt(std::move(message), end_of_stream, compress);
    return;
  }
  buffer_bytes_ += size;
  if (end_of_stream) closed_ = true;
  for (ClientCall* a : live_) a->queue_on_attempt(std::string(message), end_of_stream, compress);
  buffer_.push_back({std::move(message), compress});
}

void Hedging::on_half_close() {
  closed_ = true;
  for (ClientCall* a : live_)
    if (!a->finished_ && !a->outbound_closed()) a->close_outbound();
}

bool Hedging::attempt_ended(ClientCall& attempt, const Status& status) {
  if (status.ok()) {
    decisions_.on_success();
    return false;  // an OK end commits it: complete() cancels the others
  }
  std::optional<std::string_view> pushback;
  if (attempt.pushback_) pushback = *attempt.pushback_;
  auto after = decisions_.after_failure(status.code, pushback, attempt.pushback_repeated_);
  if (after.verdict == HedgeDecisions::Verdict::kFatal || !replaying()) return false;
  bool alone = live_.size() == 1 && live_.front() == &attempt;
  if (after.verdict == HedgeDecisions::Verdict::kNoMore) {
    if (alone) return false;  // every attempt failed: the call ends with the last failure
    abandon(attempt, Reset::kNo);  // its stream is over (or its caller resets it)
    return true;
  }
  if (alone) {
    // Nothing else in flight: this attempt goes again itself (the channel's retry path), so
    // the call keeps its place in the registry and its deadline timer.
    attempt.attempt_index_ = decisions_.start_attempt();
    attempt.hedge_submitted_ = false;
    attempt.retry_due_ = true;
    attempt.retry_delay_ = after.delay;
    next_due_.reset();
    return true;
  }
  abandon(attempt, Reset::kNo);
  // A pushback puts off the next hedge even if the schedule had it sooner (A6).
  if (after.verdict == HedgeDecisions::Verdict::kNextAfter) next_due_.reset();
  schedule_next(Clock::now() + after.delay);
  return true;
}

void Hedging::commit(ClientCall& attempt) {
  if (!replaying() || attempt.finished_) return;  // a cancelled loser's late headers change nothing
  committed_ = true;
  register_attempt(attempt);  // first, so it gets the read credit of the one registered
  cancel_others(attempt);
}

void Hedging::on_complete(ClientCall& attempt) {
  if (finished_) return;
  finished_ = true;
  register_attempt(attempt);  // so leave_registry() takes the call out
  cancel_others(attempt);
}

void Hedging::drop_buffer() {
  buffer_.clear();
  if (buffer_budget_) buffer_budget_->give_back(buffer_bytes_);
  buffer_bytes_ = 0;
}

}  // namespace turbogrpc::internal
