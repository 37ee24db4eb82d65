#include "transport/keepalive.h"

#include <algorithm>

namespace turbogrpc::internal {

Keepalive::Action Keepalive::check(Clock::time_point now, size_t active_streams, Clock::time_point& next) {
  if (awaiting_ack_) {
    // Something read after the PING answers it as well as its ACK would.
    if (last_read_ > ping_sent_at_) {
      awaiting_ack_ = false;
    } else if (now >= ping_sent_at_ + settings_.timeout) {
      return Action::kTimedOut;
    } else {
      // Look again after one interval as well (as grpc-go): an ACK by then means the next
      // PING is due one interval after it, not after the whole timeout.
      next = std::min(ping_sent_at_ + settings_.timeout, now + settings_.time);
      return Action::kNone;
    }
  }
  Clock::time_point due = last_read_ + settings_.time;
  if (now < due) {
    next = due;
    return Action::kNone;
  }
  // Dormant (no call and not permitted, or out of pings until we send data): look again one
  // interval on; a call opening meanwhile is pinged for at most that much later.
  bool dormant = active_streams == 0 && !settings_.permit_without_calls;
  bool out_of_pings = settings_.max_pings_without_data > 0 &&
                      pings_without_data_ >= settings_.max_pings_without_data;
  if (dormant || out_of_pings) {
    next = now + settings_.time;
    return Action::kNone;
  }
  awaiting_ack_ = true;
  ping_sent_at_ = now;
  ++pings_without_data_;
  next = now + std::min(settings_.timeout, settings_.time);
  return Action::kPing;
}

}  // namespace turbogrpc::internal
