#include "engine/codec_worker.h"

#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "io/wakeup_fd.h"

namespace turbogrpc::internal {

CodecWorker::CodecWorker(Poller& poller) : poller_(poller), wake_fd_(make_wakeup_fd()) {
  SysResult watched = poller_.add(wake_fd_, EPOLLIN, this);
  if (!watched.ok()) {
    ::close(wake_fd_);
    throw std::system_error(watched.error, std::generic_category(), "epoll_ctl(codec worker)");
  }
  thread_ = std::thread([this] { run(); });
}

CodecWorker::~CodecWorker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_.notify_one();
  if (thread_.joinable()) thread_.join();
  poller_.remove(wake_fd_);
  ::close(wake_fd_);
}

void CodecWorker::submit(MessageStream& stream, CodecJob job) {
  streams_[stream.id()] = &stream;
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back({stream.id(), std::move(job)});
  }
  work_.notify_one();
}

void CodecWorker::forget(const MessageStream& stream) { streams_.erase(stream.id()); }

void CodecWorker::keep_until_done(std::unique_ptr<Call> call) {
  uint64_t id = call->id();
  kept_[id] = std::move(call);
}

void CodecWorker::run() {
  for (;;) {
    Pending pending;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      pending = std::move(jobs_.front());
      jobs_.pop_front();
    }
    CodecResult result = run_codec_job(std::move(pending.job));
    bool signal;
    {
      std::lock_guard<std::mutex> lock(mu_);
      signal = results_.empty();  // one wakeup per batch of results
      results_.push_back({pending.stream_id, std::move(result)});
    }
    if (signal) signal_wakeup_fd(wake_fd_);
  }
}

void CodecWorker::on_io(uint32_t) {
  clear_wakeup_fd(wake_fd_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    delivering_.swap(results_);
  }
  for (Done& done : delivering_) {
    auto it = streams_.find(done.stream_id);
    if (it == streams_.end()) continue;  // the stream is gone: nobody wants this any more
    MessageStream* stream = it->second;
    stream->on_codec_result(std::move(done.result));
    if (stream->codec_busy()) continue;
    streams_.erase(done.stream_id);
    kept_.erase(done.stream_id);  // a kept call has had its last result: it may go now
  }
  delivering_.clear();
}

}  // namespace turbogrpc::internal
