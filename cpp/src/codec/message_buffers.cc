// The recycled message-buffer pool; see turbogrpc/message_buffers.h.
#include "turbogrpc/message_buffers.h"

#include <pthread.h>

#include <algorithm>
#include <mutex>
#include <new>
#include <vector>

namespace turbogrpc {
namespace {

// What the pool may hold at once: enough for a few large messages in flight each way,
// small enough that an idle process does not keep much.
constexpr size_t kMaxPooledBuffers = 8;
constexpr size_t kMaxPooledTotalBytes = size_t{32} << 20;

struct Pool {
  std::mutex mu;
  std::vector<std::string> free;  // guarded by mu
  size_t total = 0;               // capacity held in `free`; guarded by mu
};

Pool& pool() {
  static Pool* p = [] {
    // A fork can catch the mutex held by another thread: the child starts with an empty pool.
    pthread_atfork(nullptr, nullptr, [] { new (&pool()) Pool(); });
    return new Pool();  // leaked on purpose: no destructor runs at exit while threads still use it
  }();
  return *p;
}

}  // namespace

std::string take_message_buffer(size_t size) {
  std::string out;
  if (size >= kPooledMessageBytes) {
    Pool& p = pool();
    std::unique_lock<std::mutex> lock(p.mu, std::try_to_lock);
    if (lock.owns_lock()) {
      // The smallest buffer that fits, so a big one stays for a big message.
      auto best = p.free.end();
      for (auto it = p.free.begin(); it != p.free.end(); ++it) {
        if (it->capacity() >= size && (best == p.free.end() || it->capacity() < best->capacity()))
          best = it;
      }
      if (best != p.free.end()) {
        out = std::move(*best);
        p.total -= out.capacity();
        p.free.erase(best);
        return out;
      }
    }
  }
  out.reserve(size);
  return out;
}

void recycle_message_buffer(std::string&& buffer) {
  size_t capacity = buffer.capacity();
  if (capacity < kPooledMessageBytes) return;
  Pool& p = pool();
  std::unique_lock<std::mutex> lock(p.mu, std::try_to_lock);
  if (!lock.owns_lock() || p.free.size() >= kMaxPooledBuffers ||
      p.total + capacity > kMaxPooledTotalBytes) {
    return;
  }
  buffer.clear();
  p.total += capacity;
  p.free.push_back(std::move(buffer));
}

size_t pooled_message_buffer_count() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  return p.free.size();
}

}  // namespace turbogrpc
