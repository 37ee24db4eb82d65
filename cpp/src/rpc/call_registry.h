// CallRegistry: the live calls by id, so commands and timers can find them. A call leaves the
// registry when it is finished (commands for it are then ignored), even if its HTTP/2 stream
// lingers a moment longer. Poller thread only.
#pragma once

#include <cstdint>
#include <unordered_map>

namespace turbogrpc::internal {

class Call;

class CallRegistry {
 public:
  void add(uint64_t id, Call* call) { calls_[id] = call; }
  void remove(uint64_t id) { calls_.erase(id); }
  Call* find(uint64_t id) const {
    auto it = calls_.find(id);
    return it == calls_.end() ? nullptr : it->second;
  }
  size_t size() const { return calls_.size(); }

 private:
  std::unordered_map<uint64_t, Call*> calls_;
};

}  // namespace turbogrpc::internal
