// CodecOffload: where a stream sends (de)compression too big to do on the poller thread. zlib
// needs ~100 ms for 4 MiB of typical data and ~750 ms for incompressible data; on the poller
// that stalls every connection in the process. The engine implements this with a worker thread
// (engine/codec_worker.h); tests may pass none, and the stream then does the work itself.
#pragma once

#include <cstdint>
#include <string>

#include "codec/compression.h"

namespace turbogrpc::internal {

class MessageStream;

struct CodecJob {
  enum class Direction : uint8_t { kCompress, kDecompress };
  Direction direction = Direction::kCompress;
  Compression algorithm = Compression::kNone;
  int64_t max_size = -1;  // kDecompress: the inflated size that is too large (< 0: no limit)
  std::string input;
};

struct CodecResult {
  CodecJob::Direction direction = CodecJob::Direction::kCompress;
  // kCompress: the message to send, and whether it is compressed (not when that did not help).
  // kDecompress: the inflated message, unless `error` says why there is none.
  std::string output;
  bool compressed = false;
  InflateError error = InflateError::kNone;
};

// Poller thread only. Results reach MessageStream::on_codec_result on the poller thread, in the
// order each stream submitted its jobs.
class CodecOffload {
 public:
  virtual ~CodecOffload() = default;
  virtual void submit(MessageStream& stream, CodecJob job) = 0;
  // `stream` is going away: its results are dropped from now on.
  virtual void forget(const MessageStream& stream) = 0;
};

// Runs one job where it is called (the worker thread, or a stream without offload).
CodecResult run_codec_job(CodecJob&& job);

}  // namespace turbogrpc::internal
