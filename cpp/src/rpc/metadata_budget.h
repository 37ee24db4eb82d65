// MetadataBudget: the limits on one received header block (request headers, response headers,
// trailers), with grpcio's two options: grpc.max_metadata_size (soft) and
// grpc.absolute_max_metadata_size (hard). Size is RFC 9113's header list size: name + value +
// 32 per field. Over the hard limit a block is always refused and its further fields are not
// kept (an HPACK bomb costs no memory); between the limits it is refused at random, with a
// probability growing linearly from 0 at the soft limit to 1 at the hard one, as grpc-core does,
// so that a limit is approached gradually rather than as a cliff. Poller thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "turbogrpc/status.h"

namespace turbogrpc::internal {

class MetadataBudget {
 public:
  // Negative limits mean unlimited. A hard limit below the soft one is raised to it.
  MetadataBudget(int64_t soft_limit, int64_t hard_limit);

  void start_block() { block_bytes_ = 0; }
  // Counts one field; false when the block is now over the hard limit (drop the field).
  bool add(std::string_view name, std::string_view value);
  // At the end of a block: whether it is refused (always over the hard limit, at random
  // between the limits). `roll` in [0, 1) stands for the random draw; tests pass their own.
  bool refuses_block(double roll) const;
  bool refuses_block() const;
  // RESOURCE_EXHAUSTED naming the sizes and the options, for a refused block.
  Status refusal(std::string_view what) const;

  size_t block_bytes() const { return block_bytes_; }
  int64_t hard_limit() const { return hard_; }

 private:
  const int64_t soft_;
  const int64_t hard_;
  size_t block_bytes_ = 0;
};

}  // namespace turbogrpc::internal
