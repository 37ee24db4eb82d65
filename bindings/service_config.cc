#include "service_config.h"

#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <string>
#include <tuple>
#include <vector>

namespace nb = nanobind;

namespace turbogrpc::binding {
namespace {

template <typename T>
std::optional<T> optional_of(nb::handle value) {
  if (value.is_none()) return std::nullopt;
  return nb::cast<T>(value);
}

StatusCodeSet status_codes_from(const std::vector<int>& codes) {
  StatusCodeSet set;
  for (int code : codes) {
    if (code < 0 || code > 16) throw nb::value_error(("status code out of range: " + std::to_string(code)).c_str());
    set.add(static_cast<StatusCode>(code));
  }
  return set;
}

RetryPolicy retry_policy_from(nb::handle value) {
  auto [attempts, initial, max, multiplier, codes] =
      nb::cast<std::tuple<int, double, double, double, std::vector<int>>>(value);
  RetryPolicy policy;
  policy.max_attempts = attempts;
  policy.initial_backoff_seconds = initial;
  policy.max_backoff_seconds = max;
  policy.backoff_multiplier = multiplier;
  policy.retryable_codes = status_codes_from(codes);
  return policy;
}

HedgingPolicy hedging_policy_from(nb::handle value) {
  auto [attempts, delay, codes] = nb::cast<std::tuple<int, double, std::vector<int>>>(value);
  HedgingPolicy policy;
  policy.max_attempts = attempts;
  policy.delay_seconds = delay;
  policy.non_fatal_codes = status_codes_from(codes);
  return policy;
}

}  // namespace

std::shared_ptr<const ServiceConfig> service_config_from(nb::handle config) {
  auto out = std::make_shared<ServiceConfig>();
  nb::dict fields = nb::cast<nb::dict>(config);
  for (nb::handle entry : nb::cast<nb::list>(fields["methods"])) {
    nb::tuple t = nb::cast<nb::tuple>(entry);
    if (t.size() != 7) throw nb::value_error("a method config entry has 7 fields");
    auto method = std::make_shared<MethodConfig>();
    method->timeout_seconds = optional_of<double>(t[1]);
    method->wait_for_ready = optional_of<bool>(t[2]);
    method->max_request_bytes = optional_of<int64_t>(t[3]);
    method->max_response_bytes = optional_of<int64_t>(t[4]);
    if (!t[5].is_none()) method->retry = retry_policy_from(t[5]);
    if (!t[6].is_none()) method->hedging = hedging_policy_from(t[6]);
    // The first entry naming a method wins (the parser refuses duplicates anyway).
    for (auto [service, name] : nb::cast<std::vector<std::tuple<std::string, std::string>>>(t[0])) {
      if (service.empty()) {
        if (!out->fallback) out->fallback = method;
      } else if (name.empty()) {
        out->by_service.emplace(service, method);
      } else {
        out->by_method.emplace("/" + service + "/" + name, method);
      }
    }
  }
  if (fields.contains("retry_throttling") && !fields["retry_throttling"].is_none()) {
    auto [tokens, ratio] = nb::cast<std::tuple<double, double>>(fields["retry_throttling"]);
    out->retry_throttling = RetryThrottling{tokens, ratio};
  }
  return out;
}

}  // namespace turbogrpc::binding
