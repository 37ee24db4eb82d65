#include "transport/server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "transport/transport_context.h"
#include "io/sys_error.h"
#include "transport/server_connection.h"

namespace turbogrpc::internal {
namespace {
void drop_unwatched_listener(uint64_t server_id, int fd, const SysResult& failure) {
  // The engine has no error channel for a server yet, so say it on stderr: an unwatched
  // listener would otherwise be a port that silently never accepts.
  std::fprintf(stderr,
               "turbogrpc: server %llu: cannot watch listening socket fd %d (epoll_ctl: %s); "
               "dropped, it will not accept connections\n",
               static_cast<unsigned long long>(server_id), fd, failure.message().c_str());
  // EEXIST: the fd is watched already, by someone else (or twice in this list): not ours to close.
  if (failure.error != EEXIST) ::close(fd);
}
}  // namespace

Server::Server(TransportContext& context, StartServerCommand&& command)
    : context_(context),
      id_(command.server_id),
      cq_(std::move(command.cq)),
      options_(command.options),
      unary_request_methods_(std::move(command.unary_request_methods)) {
  settings_ = internal::http2_settings(options_.absolute_max_metadata_size, options_.max_concurrent_streams);
  listeners_security_ = std::move(command.security);
  listeners_security_.resize(command.listen_fds.size());
  for (uint32_t i = 0; i < command.listen_fds.size(); ++i) {
    int fd = command.listen_fds[i];
    auto listener = std::make_unique<Listener>(*this, fd, i);
    SysResult watched = context_.poller().add(fd, EPOLLIN, listener.get());
    if (!watched.ok()) {
      drop_unwatched_listener(id_, fd, watched);
      continue;
    }
    listeners_.push_back(std::move(listener));
  }
}

Server::~Server() { close_listeners(); }

std::chrono::milliseconds Server::jittered_age() {
  std::uniform_real_distribution<double> spread(0.9, 1.1);
  double ms = static_cast<double>(options_.max_connection_age_ms) * spread(random_);
  return std::chrono::milliseconds(std::max<int64_t>(1, static_cast<int64_t>(ms)));
}

void Server::accept_from(int listen_fd, uint32_t listener) {
  for (int i = 0; i < 64 && accepting_ && !accept_paused_; ++i) {
    SysResult r = sys_call([&] { return ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC); });
    if (!r.ok()) {
      if (r.error == EMFILE || r.error == ENFILE || r.error == ENOBUFS || r.error == ENOMEM)
        pause_accepting(r);
      break;  // EAGAIN, or a connection that failed before we took it (ECONNABORTED, ...)
    }
    accept_backoff_ = std::chrono::milliseconds(0);
    auto connection = std::make_unique<ServerConnection>(context_, *this, static_cast<int>(r.value), listener);
    connections_.insert(connection.get());
    context_.adopt(std::move(connection));
  }
}

void Server::pause_accepting(const SysResult& failure) {
  constexpr auto kFirstBackoff = std::chrono::milliseconds(5);
  constexpr auto kMaxBackoff = std::chrono::milliseconds(1000);
  accept_backoff_ = accept_backoff_.count() == 0 ? kFirstBackoff : std::min(accept_backoff_ * 2, kMaxBackoff);
  accept_paused_ = true;
  for (auto& l : listeners_) context_.poller().remove(l->fd());
  context_.timers().add(Clock::now() + accept_backoff_, TimerKind::kAcceptRetry, id_);
  if (!accept_pause_reported_) {
    accept_pause_reported_ = true;
    // No event channel reaches the application for this, so say it where an operator looks.
    std::fprintf(stderr,
                 "turbogrpc: server %llu: cannot accept connections (%s); pausing accept, retrying "
                 "with backoff up to 1 s (reported once)\n",
                 static_cast<unsigned long long>(id_), failure.message().c_str());
  }
}

void Server::on_accept_timer() {
  if (!accept_paused_ || !accepting_) return;
  accept_paused_ = false;
  for (auto& l : listeners_) context_.poller().add(l->fd(), EPOLLIN, l.get());
  for (auto& l : listeners_) accept_from(l->fd(), l->index());  // connections waiting since the pause
}

void Server::close_listeners() {
  for (auto& l : listeners_) {
    // A failed remove needs nothing more: closing the fd ends its watch as well.
    context_.poller().remove(l->fd());
    ::close(l->fd());
  }
  listeners_.clear();
}

void Server::stop(StopPhase phase) {
  accepting_ = false;
  close_listeners();
  std::vector<ServerConnection*> connections(connections_.begin(), connections_.end());
  for (ServerConnection* c : connections) {
    if (phase == StopPhase::kStopAccepting) {
      c->drain();
    } else {
      c->shut_down();
      c->flush();
      c->close({StatusCode::kUnavailable, "Server shutting down"});
    }
  }
}

void Server::on_connection_closed(ServerConnection* connection) {
  connections_.erase(connection);
  for (auto& [listener, fetch] : fetches_)
    fetch.waiting.erase(std::remove(fetch.waiting.begin(), fetch.waiting.end(), connection), fetch.waiting.end());
}

void Server::fetch_certificates(uint32_t listener, ServerConnection* connection) {
  CertificateFetch& fetch = fetches_[listener];
  fetch.waiting.push_back(connection);
  if (fetch.asked) return;  // one question at a time; its answer serves every waiting connection
  fetch.asked = true;
  Event e;
  e.kind = EventKind::kCertificateFetch;
  e.server_id = id_;
  e.listener = listener;
  cq_->push(std::move(e));
}

void Server::on_certificates(ServerCertificatesCommand&& command) {
  if (command.listener >= listeners_security_.size()) return;
  if (command.tls) listeners_security_[command.listener].tls = std::move(command.tls);
  CertificateFetch& fetch = fetches_[command.listener];
  fetch.asked = false;
  std::vector<ServerConnection*> waiting = std::move(fetch.waiting);
  fetch.waiting.clear();
  for (ServerConnection* c : waiting) c->start_server_tls(*listeners_security_[command.listener].tls);
}

}  // namespace turbogrpc::internal
