#include "io/trace.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <new>
#include <string_view>

namespace turbogrpc::internal {
namespace {

unsigned parse(const char* text) {
  if (text == nullptr) return 0;
  unsigned flags = 0;
  std::string_view rest(text);
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view name = rest.substr(0, comma);
    if (name == "all") flags = ~0u;
    else if (name == "channel") flags |= static_cast<unsigned>(Trace::kChannel);
    else if (name == "connection") flags |= static_cast<unsigned>(Trace::kConnection);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  return flags;
}

unsigned stderr_flags() {
  static const unsigned flags = parse(std::getenv("TURBOGRPC_TRACE"));
  return flags;
}

const char* name_of(Trace what) { return what == Trace::kChannel ? "channel" : "connection"; }

struct Forwarding {
  std::atomic<bool> on{false};
  std::mutex mu;
  std::condition_variable ready;
  std::deque<ForwardedTrace> lines;
  size_t dropped = 0;
};

Forwarding& forwarding() {
  static Forwarding* f = [] {
    // A fork can catch the mutex held by the poller: the child starts with forwarding off
    // (its Python side starts it again when it wants it).
    pthread_atfork(nullptr, nullptr, [] { new (&forwarding()) Forwarding(); });
    return new Forwarding();
  }();
  return *f;
}

}  // namespace

bool tracing(Trace what) {
  return (stderr_flags() & static_cast<unsigned>(what)) != 0 ||
         forwarding().on.load(std::memory_order_relaxed);
}

void trace_line(Trace what, const std::string& line) {
  if ((stderr_flags() & static_cast<unsigned>(what)) != 0) {
    std::string out = std::string("turbogrpc[") + name_of(what) + "] " + line + "\n";
    ssize_t ignored = ::write(STDERR_FILENO, out.data(), out.size());  // best effort
    (void)ignored;
  }
  Forwarding& f = forwarding();
  if (!f.on.load(std::memory_order_relaxed)) return;
  {
    std::lock_guard lock(f.mu);
    if (f.lines.size() >= kMaxForwardedTraceLines) {
      ++f.dropped;
      return;
    }
    f.lines.emplace_back(name_of(what), line);
  }
  f.ready.notify_one();
}

void forward_traces(bool on) {
  Forwarding& f = forwarding();
  {
    std::lock_guard lock(f.mu);
    f.on.store(on, std::memory_order_relaxed);
    if (!on) {
      f.lines.clear();
      f.dropped = 0;
    }
  }
  f.ready.notify_all();
}

std::vector<ForwardedTrace> take_forwarded_traces(std::chrono::milliseconds wait) {
  Forwarding& f = forwarding();
  std::unique_lock lock(f.mu);
  f.ready.wait_for(lock, wait, [&f] {
    return !f.on.load(std::memory_order_relaxed) || !f.lines.empty() || f.dropped > 0;
  });
  std::vector<ForwardedTrace> taken;
  if (f.dropped > 0) {
    taken.emplace_back("trace", std::to_string(f.dropped) + " trace lines dropped (the reader fell behind)");
    f.dropped = 0;
  }
  taken.insert(taken.end(), std::make_move_iterator(f.lines.begin()), std::make_move_iterator(f.lines.end()));
  f.lines.clear();
  return taken;
}

}  // namespace turbogrpc::internal
