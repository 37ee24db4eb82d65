#include "rpc/codec_offload.h"

namespace turbogrpc::internal {

CodecResult run_codec_job(CodecJob&& job) {
  CodecResult r;
  r.direction = job.direction;
  if (job.direction == CodecJob::Direction::kCompress) {
    r.compressed = compress_message(job.algorithm, job.input, r.output);
    if (!r.compressed) r.output = std::move(job.input);  // compressing did not help: send as is
    return r;
  }
  r.error = decompress_message(job.algorithm, job.input, job.max_size, r.output);
  if (r.error == InflateError::kNone) r.compressed = true;
  return r;
}

}  // namespace turbogrpc::internal
