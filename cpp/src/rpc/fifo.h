// Fifo: a first-in-first-out queue kept in a vector with a head index. Unlike std::deque
// (libstdc++ allocates ~600 bytes on construction), an empty one allocates nothing: a server
// holds two per open stream, most of them empty most of the time.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace turbogrpc::internal {

template <typename T>
class Fifo {
 public:
  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }
  T& front() { return items_[head_]; }
  T& operator[](size_t i) { return items_[head_ + i]; }  // i-th from the front
  T& emplace_back() { return items_.emplace_back(); }
  void push_back(T&& item) { items_.push_back(std::move(item)); }

  void pop_front() {
    ++head_;
    if (head_ == items_.size()) {
      items_.clear();  // keeps the capacity for the next burst
      head_ = 0;
    } else if (head_ >= kCompactAfter && head_ * 2 >= items_.size()) {
      // A queue that never drains fully: drop the consumed prefix now and then.
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

  T take_front() {
    T item = std::move(front());
    pop_front();
    return item;
  }

 private:
  static constexpr size_t kCompactAfter = 64;
  std::vector<T> items_;
  size_t head_ = 0;
};

}  // namespace turbogrpc::internal
