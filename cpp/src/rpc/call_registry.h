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
  // Registers `call` under `id`, replacing whichever call had it (a hedged call's attempts
  // share one id and take turns).
  void add(uint64_t id, Call* call) { calls_[id] = call; }
  // Removes `id` if `call` has it (another attempt of the same call may have it by now).
  void remove(uint64_t id, const Call* call) {
    auto it = calls_.find(id);
    if (it != calls_.end() && it->second == call) calls_.erase(it);
  }
  Call* find(uint64_t id) const {
    auto it = calls_.find(id);
    return it == calls_.end() ? nullptr : it->second;
  }
  size_t size() const { return calls_.size(); }

 private:
  std::unordered_map<uint64_t, Call*> calls_;
};

}  // namespace turbogrpc::internal
