// gRPC target names in the seam: the engine's own parser (cpp/src/io/target.h) answers Python,
// so a target is parsed in one place and a malformed one is refused when the channel is made.
#pragma once

#include <nanobind/nanobind.h>

namespace turbogrpc::binding {

// target_authority(target) -> str: the :authority the target names (grpc-core's default
// authority); raises ValueError "invalid target '<target>': <what is wrong>".
void register_targets(nanobind::module_& m);

}  // namespace turbogrpc::binding
