// The parts of a gRPC service config (gRPC's service-config doc, proposal A6) the engine acts
// on, already parsed and validated: the binding builds this from what the Python side made of
// the JSON (python/turbogrpc/_core/_service_config.py), so no JSON is read here.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "turbogrpc/status.h"

namespace turbogrpc {

// A set of status codes (bit N: code N).
class StatusCodeSet {
 public:
  void add(StatusCode code) { bits_ |= 1u << static_cast<unsigned>(code); }
  bool contains(StatusCode code) const { return (bits_ >> static_cast<unsigned>(code)) & 1u; }
  bool empty() const { return bits_ == 0; }

 private:
  uint32_t bits_ = 0;
};

// retryPolicy: attempts after a failure with a retryable code, before the response started.
struct RetryPolicy {
  int max_attempts = 2;  // all attempts, the first included; capped at 5 by the parser
  double initial_backoff_seconds = 0;
  double max_backoff_seconds = 0;
  double backoff_multiplier = 1;
  StatusCodeSet retryable_codes;
};

// hedgingPolicy: the same call sent up to max_attempts times, hedging_delay apart, until one
// attempt commits (rpc/hedging.h). Exclusive with retryPolicy in one entry.
struct HedgingPolicy {
  int max_attempts = 2;  // all attempts, the first included; capped at 5 by the parser
  double delay_seconds = 0;  // between attempts; 0: all at once
  StatusCodeSet non_fatal_codes;  // a failure with one of these lets the others go on
};

// One methodConfig entry: what applies to the calls of the methods it names.
struct MethodConfig {
  std::optional<double> timeout_seconds;      // the call's deadline is the earlier of both
  std::optional<bool> wait_for_ready;         // when the call did not say
  std::optional<int64_t> max_request_bytes;   // the smaller of this and the channel's limit
  std::optional<int64_t> max_response_bytes;  // likewise
  std::optional<RetryPolicy> retry;
  std::optional<HedgingPolicy> hedging;
};

// retryThrottling: retries stop while too many calls fail (see rpc/retry.h).
struct RetryThrottling {
  double max_tokens = 0;
  double token_ratio = 0;
};

struct ServiceConfig {
  // methodConfig, by the most specific name that matches: "/service/method", then "service",
  // then the default (an entry naming neither).
  std::unordered_map<std::string, std::shared_ptr<const MethodConfig>> by_method;
  std::unordered_map<std::string, std::shared_ptr<const MethodConfig>> by_service;
  std::shared_ptr<const MethodConfig> fallback;
  std::optional<RetryThrottling> retry_throttling;

  // The entry for `path` ("/package.Service/Method"), or null.
  const MethodConfig* find(const std::string& path) const {
    if (auto it = by_method.find(path); it != by_method.end()) return it->second.get();
    if (!by_service.empty() && path.size() > 1) {
      size_t slash = path.find('/', 1);
      if (slash != std::string::npos) {
        if (auto it = by_service.find(path.substr(1, slash - 1)); it != by_service.end()) return it->second.get();
      }
    }
    return fallback.get();
  }
};

}  // namespace turbogrpc
