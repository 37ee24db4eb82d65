// Engine tracing for operators: TURBOGRPC_TRACE=channel,connection (or "all") makes the poller
// write one line per event to stderr — channel state changes, connect attempts with their
// outcome and time, GOAWAYs sent and received, keepalive timeouts. Off (one relaxed load per
// call site) otherwise.
//
// The same lines can be forwarded to Python's logging: once forwarding is on, every line is
// also queued (bounded) for a reader thread that takes them with the GIL released. The poller
// never waits for that reader; when the queue is full, lines are counted as dropped.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace turbogrpc::internal {

enum class Trace : unsigned {
  kChannel = 1,     // connectivity states and connect attempts
  kConnection = 2,  // GOAWAY sent / received, keepalive
};

// Whether TURBOGRPC_TRACE (read once, at the first call) names `what`, or forwarding is on.
bool tracing(Trace what);
// "turbogrpc[<what>] <line>\n" to stderr in one write (so lines of threads do not interleave)
// when TURBOGRPC_TRACE names `what`; queued for the reader when forwarding is on.
void trace_line(Trace what, const std::string& line);

// At most this many lines wait for the reader; more are dropped (and counted).
inline constexpr size_t kMaxForwardedTraceLines = 4096;

// (category, line): the category is "channel" or "connection".
using ForwardedTrace = std::pair<std::string, std::string>;

// Turns forwarding on or off. Off wakes a waiting reader and discards what was queued.
void forward_traces(bool on);
// The lines queued so far, waiting up to `wait` for the first; empty after the wait or when
// forwarding is off. Lines dropped since the last take come first, as one line saying how many.
std::vector<ForwardedTrace> take_forwarded_traces(std::chrono::milliseconds wait);

}  // namespace turbogrpc::internal
