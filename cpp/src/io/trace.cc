#include "io/trace.h"

#include <unistd.h>

#include <cstdlib>
#include <string_view>

namespace turbogrpc::internal {
namespace {

unsigned parse(const char* text) {
  if (text == nullptr) return 0;
  unsigned flags = 0;
  std::string_view rest(text);
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view name = rest.substr(0, comma);
    if (name == "all") flags = ~0u;
    else if (name == "channel") flags |= static_cast<unsigned>(Trace::kChannel);
    else if (name == "connection") flags |= static_cast<unsigned>(Trace::kConnection);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  return flags;
}

const char* name_of(Trace what) { return what == Trace::kChannel ? "channel" : "connection"; }

}  // namespace

bool tracing(Trace what) {
  static const unsigned flags = parse(std::getenv("TURBOGRPC_TRACE"));
  return (flags & static_cast<unsigned>(what)) != 0;
}

void trace_line(Trace what, const std::string& line) {
  std::string out = std::string("turbogrpc[") + name_of(what) + "] " + line + "\n";
  ssize_t ignored = ::write(STDERR_FILENO, out.data(), out.size());  // best effort
  (void)ignored;
}

}  // namespace turbogrpc::internal
