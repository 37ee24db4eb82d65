// One place that turns transport outcomes into gRPC statuses, per the gRPC HTTP/2 spec:
// HTTP status codes, RST_STREAM error codes, and the grpc-status trailer itself.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "turbogrpc/status.h"

namespace turbogrpc::internal {

// A non-200 HTTP status on a gRPC response (e.g. 404 → UNIMPLEMENTED, 503 → UNAVAILABLE).
Status status_from_http(int http_status);

// RST_STREAM with `error_code` ended a call that had no trailers.
Status status_from_rst_stream(uint32_t error_code);

// The grpc-status trailer value: nullopt when it is not a decimal number; numbers above 16
// map to UNKNOWN, as the spec says for codes we do not know.
std::optional<StatusCode> parse_grpc_status(std::string_view value);

const char* status_code_name(StatusCode code);

}  // namespace turbogrpc::internal
