// Engine tracing for operators: TURBOGRPC_TRACE=channel,connection (or "all") makes the poller
// write one line per event to stderr — channel state changes, connect attempts with their
// outcome and time, GOAWAYs sent and received. Off (one relaxed load per call site) otherwise.
#pragma once

#include <string>

namespace turbogrpc::internal {

enum class Trace : unsigned {
  kChannel = 1,     // connectivity states and connect attempts
  kConnection = 2,  // GOAWAY sent / received, keepalive
};

// Whether TURBOGRPC_TRACE (read once, at the first call) names `what`.
bool tracing(Trace what);
// "turbogrpc[<what>] <line>\n" to stderr in one write, so lines of threads do not interleave.
void trace_line(Trace what, const std::string& line);

}  // namespace turbogrpc::internal
