// Custom metadata as it crosses the engine boundary: ordered (key, value) pairs.
// Keys are lowercase; values of keys ending in "-bin" are raw bytes (base64 only on the wire).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace turbogrpc {

using MetadataEntry = std::pair<std::string, std::string>;
using Metadata = std::vector<MetadataEntry>;

}  // namespace turbogrpc
