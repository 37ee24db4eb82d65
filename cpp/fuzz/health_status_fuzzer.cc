// libFuzzer target for transport/health_watch: the grpc.health.v1 HealthCheckResponse bytes a
// server sends on a Watch stream, decoded by hand because the engine links no protobuf runtime.
// Checks, besides "no out-of-bounds read", the protobuf rules the decoder must keep: a valid
// message stays valid, with the same status, after a skipped field of any wire type is put in
// front of it; a status field appended to a valid message wins (the last one counts); an invalid
// message stays invalid with a valid field in front; and a request never reads as a status.
//
// Input: the bytes are the response message.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "fuzz_check.h"
#include "transport/health_watch.h"

namespace {

namespace ti = turbogrpc::internal;

// One field of each wire type that decode_health_status must skip: varint #2, fixed64 #3,
// length-delimited #4, fixed32 #5.
const std::string kSkippedFields[] = {
    std::string("\x10\x07", 2),
    std::string("\x19" "abcdefgh", 9),
    std::string("\x22\x03xyz", 5),
    std::string("\x2d" "abcd", 5),
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::optional<int32_t> status = ti::decode_health_status(input);

  for (const std::string& field : kSkippedFields) {
    FUZZ_CHECK(ti::decode_health_status(field + input) == status,
               "a skipped field in front changed the outcome");
  }
  if (status && size > 0) {
    const auto appended = static_cast<char>(data[0] % 4);  // UNKNOWN .. SERVICE_UNKNOWN
    FUZZ_CHECK(ti::decode_health_status(input + '\x08' + appended) == appended,
               "a status appended to a valid message did not win");
  }
  // A HealthCheckRequest has only a length-delimited field 1, which a response decoder skips.
  FUZZ_CHECK(ti::decode_health_status(ti::encode_health_request(input)) == 0,
             "an encoded request did not read as a message without a status");
  return 0;
}
