// The service config in the seam: what python/turbogrpc/_core/_service_config.py made of the
// JSON (validated there) → the engine's ServiceConfig. Shape (docs/seam.md):
//   {"methods": [(names, timeout, wait_for_ready, max_request_bytes, max_response_bytes, retry,
//                 hedging)],
//    "retry_throttling": (max_tokens, token_ratio) | None}
// names: [(service, method)] ("" for any); retry: (max_attempts, initial_backoff_s,
// max_backoff_s, multiplier, [code numbers]) | None; hedging: (max_attempts, delay_s,
// [non-fatal code numbers]) | None; other absent fields None.
#pragma once

#include <nanobind/nanobind.h>

#include <memory>

#include "turbogrpc/service_config.h"

namespace turbogrpc::binding {

std::shared_ptr<const ServiceConfig> service_config_from(nanobind::handle config);

}  // namespace turbogrpc::binding
