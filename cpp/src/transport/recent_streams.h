// RecentStreams: the last N stream ids that closed, and which of them the peer reset. nghttp2
// forgets closed streams (we ask it to: they cost memory for the connection's life), so this
// small ring is what lets the server still tell RFC 9113's cases apart: frames on a stream the
// peer reset (stream error STREAM_CLOSED), on one we closed (ignored: they may have been in
// flight), and a "new" stream numbered below one already seen (connection error). Poller
// thread only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace turbogrpc::internal {

class RecentStreams {
 public:
  static constexpr size_t kRemembered = 256;

  void closed(int32_t stream_id, bool reset_by_peer) {
    for (Entry& e : entries_) {
      if (e.stream_id == stream_id) {
        e.reset_by_peer = e.reset_by_peer || reset_by_peer;
        return;
      }
    }
    entries_[next_] = {stream_id, reset_by_peer};
    next_ = (next_ + 1) % kRemembered;
  }
  // 0: not remembered; 1: closed; 2: reset by the peer.
  int state(int32_t stream_id) const {
    for (const Entry& e : entries_)
      if (e.stream_id == stream_id) return e.reset_by_peer ? 2 : 1;
    return 0;
  }

 private:
  struct Entry {
    int32_t stream_id = 0;
    bool reset_by_peer = false;
  };
  std::array<Entry, kRemembered> entries_{};
  size_t next_ = 0;
};

}  // namespace turbogrpc::internal
