// gRPC status codes and the Status value that ends every call.
// Shared by the engine, the binding and the tests; numbers are the gRPC spec's.
#pragma once

#include <string>

namespace turbogrpc {

enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

struct Status {
  StatusCode code = StatusCode::kOk;
  std::string details;  // UTF-8, not percent-encoded

  bool ok() const { return code == StatusCode::kOk; }
};

}  // namespace turbogrpc
