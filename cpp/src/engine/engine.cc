// The Engine facade: lazily started process singleton, fork handling, listen_on().
#include "turbogrpc/engine.h"

#include <pthread.h>

#include <mutex>

#include "engine/engine_core.h"
#include "io/address.h"

namespace turbogrpc {
namespace {
std::mutex g_mu;
Engine* g_engine = nullptr;  // guarded by g_mu; deliberately leaked (no exit-time destructor)
std::atomic<uint64_t> g_generation{1};
std::atomic<uint64_t> g_next_id{1};

void after_fork_in_child() {
  // The parent's poller thread does not exist here: forget its engine without touching it.
  new (&g_mu) std::mutex();
  g_engine = nullptr;
  g_generation.fetch_add(1);
}

std::once_flag g_atfork_once;
}  // namespace

Engine::Engine() : core_(std::make_unique<internal::EngineCore>(g_next_id)) {}

Engine::~Engine() = default;

Engine& Engine::instance() {
  std::call_once(g_atfork_once, [] { pthread_atfork(nullptr, nullptr, after_fork_in_child); });
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_engine == nullptr) g_engine = new Engine();
  return *g_engine;
}

uint64_t Engine::generation() { return g_generation.load(); }

void Engine::submit(Command command) { core_->submit(std::move(command)); }

uint64_t Engine::next_id() { return g_next_id.fetch_add(1, std::memory_order_relaxed); }

void Engine::shutdown() {
  Engine* engine;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    engine = g_engine;
    g_engine = nullptr;
  }
  if (engine != nullptr) engine->core_->stop();  // the object stays leaked: see g_engine
}

ListenResult listen_on(const std::string& address, bool reuse_port) {
  internal::Listener l = internal::listen_on_address(
      address, reuse_port ? internal::ReusePort::kYes : internal::ReusePort::kNo);
  return ListenResult{l.fd, l.port, std::move(l.error)};
}

}  // namespace turbogrpc
