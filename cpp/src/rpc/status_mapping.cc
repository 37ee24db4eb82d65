#include "rpc/status_mapping.h"

#include <nghttp2/nghttp2.h>

#include <string>

namespace turbogrpc::internal {

Status status_from_http(int http_status) {
  StatusCode code;
  switch (http_status) {
    case 400: code = StatusCode::kInternal; break;
    case 401: code = StatusCode::kUnauthenticated; break;
    case 403: code = StatusCode::kPermissionDenied; break;
    case 404: code = StatusCode::kUnimplemented; break;
    case 429:
    case 502:
    case 503:
    case 504: code = StatusCode::kUnavailable; break;
    default: code = StatusCode::kUnknown; break;
  }
  return {code, "Received http2 header with status: " + std::to_string(http_status)};
}

Status status_from_rst_stream(uint32_t error_code) {
  std::string what = std::string("Stream reset by peer: ") +
                     nghttp2_http2_strerror(error_code) + " (" + std::to_string(error_code) + ")";
  switch (error_code) {
    case NGHTTP2_REFUSED_STREAM: return {StatusCode::kUnavailable, what};
    case NGHTTP2_CANCEL: return {StatusCode::kCancelled, what};
    case NGHTTP2_ENHANCE_YOUR_CALM: return {StatusCode::kResourceExhausted, what};
    case NGHTTP2_INADEQUATE_SECURITY: return {StatusCode::kPermissionDenied, what};
    default: return {StatusCode::kInternal, what};
  }
}

std::optional<StatusCode> parse_grpc_status(std::string_view value) {
  if (value.empty()) return std::nullopt;
  int n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    if (n <= 16) n = n * 10 + (c - '0');  // past 16 the exact value no longer matters
  }
  if (n > 16) return StatusCode::kUnknown;
  return static_cast<StatusCode>(n);
}

const char* status_code_name(StatusCode code) {
  static const char* const kNames[] = {
      "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
      "UNAUTHENTICATED"};
  int i = static_cast<int>(code);
  return i >= 0 && i <= 16 ? kNames[i] : "UNKNOWN";
}

}  // namespace turbogrpc::internal
