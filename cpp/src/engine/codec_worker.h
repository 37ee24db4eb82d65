// CodecWorker: the engine's CodecOffload — one thread that runs (de)compression jobs in order,
// so the poller never spends milliseconds in zlib. Jobs go in from the poller; results come
// back through an eventfd the poller watches and are handed to their stream on the poller
// thread. The worker thread runs only zlib: no poller state, no Python.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "io/poller.h"
#include "rpc/call.h"
#include "rpc/codec_offload.h"

namespace turbogrpc::internal {

class CodecWorker final : public CodecOffload, public IoHandler {
 public:
  // Throws std::system_error when the eventfd cannot be made or watched.
  explicit CodecWorker(Poller& poller);
  ~CodecWorker() override;  // stops and joins the thread; unfinished jobs are dropped
  CodecWorker(const CodecWorker&) = delete;
  CodecWorker& operator=(const CodecWorker&) = delete;

  // Poller thread only, from here on.
  void submit(MessageStream& stream, CodecJob job) override;
  void forget(const MessageStream& stream) override;
  // Keeps a call whose stream closed while its jobs run (its end waits for them), until the
  // last result has reached it.
  void keep_until_done(std::unique_ptr<Call> call);
  void on_io(uint32_t epoll_events) override;  // results are ready

 private:
  struct Pending {
    uint64_t stream_id;
    CodecJob job;
  };
  struct Done {
    uint64_t stream_id;
    CodecResult result;
  };
  void run();

  Poller& poller_;
  const int wake_fd_;  // immutable after construction

  std::mutex mu_;
  std::condition_variable work_;
  std::deque<Pending> jobs_;    // guarded by mu_
  std::vector<Done> results_;   // guarded by mu_
  bool stopping_ = false;       // guarded by mu_

  // Poller thread only: streams with jobs in flight, by id (ids are never reused, so a result
  // for a stream that is gone finds nothing), and calls kept alive for their results.
  std::unordered_map<uint64_t, MessageStream*> streams_;
  std::unordered_map<uint64_t, std::unique_ptr<Call>> kept_;
  std::vector<Done> delivering_;

  std::thread thread_;  // last: starts after everything above exists
};

}  // namespace turbogrpc::internal
