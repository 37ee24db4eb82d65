"""``grpc.service_config``: the JSON service config (gRPC's service-config doc, proposal A6)
checked and turned into the engine's form (bindings/service_config.h). Runs once, when the
channel is created; a config that is not valid raises UsageError there, naming what is wrong
(grpc-go's rules: the whole config is refused, not the bad part alone).

Honoured: methodConfig's name matching, timeout, waitForReady, maxRequestMessageBytes,
maxResponseMessageBytes, retryPolicy, hedgingPolicy; retryThrottling;
loadBalancingConfig/loadBalancingPolicy naming pick_first (with shuffleAddressList, gRPC's
A62) or round_robin; healthCheckConfig (round_robin checks, pick_first does not, as gRPC's
A17). A field turbogrpc does not know (a typo, or one from a later proposal) is named in the
channel's UnsupportedOptionWarning, where grpc ignores it silently (docs/service_config.md).
"""

from __future__ import annotations

import json
import re
from typing import Any, Optional

from ._errors import UsageError
from ._status import StatusCode

__all__ = ["parse_service_config", "MAX_ATTEMPTS", "LB_POLICIES"]

# maxAttempts above this is treated as this (A6: a client-side cap, grpc's default 5).
MAX_ATTEMPTS = 5

# A proto3 JSON Duration: seconds with up to 9 fractional digits, then "s".
_DURATION = re.compile(r"^(-?)(\d+)(?:\.(\d{1,9}))?s$")
_CODES = {code.name: code.value[0] for code in StatusCode}
# The load-balancing policies the engine implements (ChannelOptions::lb_policy).
LB_POLICIES = ("pick_first", "round_robin")


# The fields read at each level; any other is named as unknown (never ignored silently).
_FIELDS = {
    "": {"methodConfig", "retryThrottling", "loadBalancingConfig", "loadBalancingPolicy",
         "healthCheckConfig"},
    "methodConfig": {"name", "timeout", "waitForReady", "maxRequestMessageBytes",
                     "maxResponseMessageBytes", "retryPolicy", "hedgingPolicy"},
    "retryPolicy": {"maxAttempts", "initialBackoff", "maxBackoff", "backoffMultiplier",
                    "retryableStatusCodes"},
    "hedgingPolicy": {"maxAttempts", "hedgingDelay", "nonFatalStatusCodes"},
    "retryThrottling": {"maxTokens", "tokenRatio"},
    "healthCheckConfig": {"serviceName"},
    "pick_first": {"shuffleAddressList"},
    "round_robin": set(),
}


def _note_unknown(fields: Any, level: str, where: str, unsupported: list[str]) -> None:
    """Names each field of the object `fields` (at `where`) that `level` does not have."""
    if isinstance(fields, dict):
        for key in fields:
            if key not in _FIELDS[level]:
                unsupported.append(f"unknown field {where}{'.' if where else ''}{key}")


class _Invalid(Exception):
    pass


def parse_service_config(text: Any) -> tuple[dict[str, Any], list[str]]:
    """The engine's service config for the JSON ``text``, and the parts of it turbogrpc does
    not implement (for the channel's UnsupportedOptionWarning); UsageError when it is not valid.
    The config's load-balancing policy, if it names one, is under ``"lb_policy"``, pick_first's
    shuffleAddressList under ``"shuffle_address_list"``, and its health-checked service under
    ``"health_check_service"``: channel options, not the engine's service config (_options
    moves them)."""
    if not isinstance(text, str):
        raise UsageError(f"option 'grpc.service_config' takes a JSON str, got {text!r}")
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"invalid service config: not JSON: {exc}") from None
    unsupported: list[str] = []
    try:
        if not isinstance(config, dict):
            raise _Invalid("the service config must be a JSON object")
        methods = _method_configs(config.get("methodConfig"), unsupported)
        throttling = _retry_throttling(config.get("retryThrottling"))
        lb_policy, shuffle = _load_balancing(config, unsupported)
        health_check_service = _health_check(config.get("healthCheckConfig"))
    except _Invalid as exc:
        raise UsageError(f"invalid service config: {exc}") from None
    _note_unknown(config, "", "", unsupported)
    _note_unknown(config.get("retryThrottling"), "retryThrottling", "retryThrottling", unsupported)
    _note_unknown(config.get("healthCheckConfig"), "healthCheckConfig", "healthCheckConfig",
                  unsupported)
    return {"methods": methods, "retry_throttling": throttling, "lb_policy": lb_policy,
            "shuffle_address_list": shuffle, "health_check_service": health_check_service,
            }, unsupported


def _health_check(config: Any) -> Optional[str]:
    """healthCheckConfig.serviceName (A17; "" asks about the server as a whole), or None."""
    if config is None:
        return None
    if not isinstance(config, dict):
        raise _Invalid("healthCheckConfig must be an object")
    name = config.get("serviceName", "")
    if not isinstance(name, str):
        raise _Invalid(f"healthCheckConfig.serviceName must be a string, got {name!r}")
    return name


def _method_configs(entries: Any, unsupported: list[str]) -> list[tuple[Any, ...]]:
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise _Invalid("methodConfig must be a list")
    seen: set[tuple[str, str]] = set()
    out = []
    for index, entry in enumerate(entries):
        where = f"methodConfig[{index}]"
        if not isinstance(entry, dict):
            raise _Invalid(f"{where} must be an object")
        names = _names(entry.get("name"), where, seen)
        retry = _retry_policy(entry.get("retryPolicy"), where)
        hedging = _hedging_policy(entry.get("hedgingPolicy"), where)
        if hedging is not None and retry is not None:
            raise _Invalid(f"{where} has both retryPolicy and hedgingPolicy")
        wait_for_ready = entry.get("waitForReady")
        if wait_for_ready is not None and not isinstance(wait_for_ready, bool):
            raise _Invalid(f"{where}.waitForReady must be true or false, got {wait_for_ready!r}")
        timeout = entry.get("timeout")
        _note_unknown(entry, "methodConfig", where, unsupported)
        for policy in ("retryPolicy", "hedgingPolicy"):
            _note_unknown(entry.get(policy), policy, f"{where}.{policy}", unsupported)
        out.append((names,
                    None if timeout is None else _duration(timeout, f"{where}.timeout"),
                    wait_for_ready,
                    _byte_count(entry.get("maxRequestMessageBytes"), f"{where}.maxRequestMessageBytes"),
                    _byte_count(entry.get("maxResponseMessageBytes"), f"{where}.maxResponseMessageBytes"),
                    retry, hedging))
    return out


def _names(names: Any, where: str, seen: set[tuple[str, str]]) -> list[tuple[str, str]]:
    if not isinstance(names, list) or not names:
        raise _Invalid(f"{where}.name must be a non-empty list of {{service, method}} objects")
    out = []
    for name in names:
        if not isinstance(name, dict):
            raise _Invalid(f"{where}.name entries must be objects, got {name!r}")
        service, method = name.get("service", ""), name.get("method", "")
        if not isinstance(service, str) or not isinstance(method, str):
            raise _Invalid(f"{where}.name: service and method must be strings, got {name!r}")
        if method and not service:
            raise _Invalid(f"{where}.name: a method ({method!r}) needs its service")
        if (service, method) in seen:
            raise _Invalid(f"{where}.name: {name!r} is named by an earlier methodConfig too")
        seen.add((service, method))
        out.append((service, method))
    return out


def _capped_attempts(policy: Any, where: str) -> int:
    """A retry or hedging policy's maxAttempts (proto3 JSON may quote an integer), capped at
    MAX_ATTEMPTS; checks first that the policy is an object."""
    if not isinstance(policy, dict):
        raise _Invalid(f"{where} must be an object")
    attempts = policy.get("maxAttempts")
    if isinstance(attempts, str) and attempts.isdigit():
        attempts = int(attempts)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 2:
        raise _Invalid(f"{where}.maxAttempts must be an integer of at least 2, got {attempts!r}")
    return min(attempts, MAX_ATTEMPTS)


def _retry_policy(policy: Any, where: str) -> Optional[tuple[Any, ...]]:
    if policy is None:
        return None
    where += ".retryPolicy"
    attempts = _capped_attempts(policy, where)
    initial = _positive_duration(policy.get("initialBackoff"), f"{where}.initialBackoff")
    maximum = _positive_duration(policy.get("maxBackoff"), f"{where}.maxBackoff")
    multiplier = policy.get("backoffMultiplier")
    if isinstance(multiplier, bool) or not isinstance(multiplier, (int, float)) or not multiplier > 0:
        raise _Invalid(f"{where}.backoffMultiplier must be a number above 0, got {multiplier!r}")
    codes = policy.get("retryableStatusCodes")
    if not isinstance(codes, list) or not codes:
        raise _Invalid(f"{where}.retryableStatusCodes must be a non-empty list of status codes")
    return (attempts, initial, maximum, float(multiplier),
            [_status_code(code, f"{where}.retryableStatusCodes") for code in codes])


def _hedging_policy(policy: Any, where: str) -> Optional[tuple[Any, ...]]:
    """(maxAttempts capped, hedgingDelay in seconds, nonFatalStatusCodes), or None."""
    if policy is None:
        return None
    where += ".hedgingPolicy"
    attempts = _capped_attempts(policy, where)
    delay = policy.get("hedgingDelay")
    seconds = 0.0 if delay is None else _duration(delay, f"{where}.hedgingDelay")
    # A6 calls the list required; grpc-go and grpc-java accept it absent (every code fatal).
    codes = policy.get("nonFatalStatusCodes", [])
    if not isinstance(codes, list):
        raise _Invalid(f"{where}.nonFatalStatusCodes must be a list of status codes")
    return (attempts, seconds,
            [_status_code(code, f"{where}.nonFatalStatusCodes") for code in codes])


def _retry_throttling(throttling: Any) -> Optional[tuple[float, float]]:
    if throttling is None:
        return None
    if not isinstance(throttling, dict):
        raise _Invalid("retryThrottling must be an object")
    tokens, ratio = throttling.get("maxTokens"), throttling.get("tokenRatio")
    if isinstance(tokens, bool) or not isinstance(tokens, (int, float)) or not 0 < tokens <= 1000:
        raise _Invalid(f"retryThrottling.maxTokens must be in (0, 1000], got {tokens!r}")
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not ratio > 0:
        raise _Invalid(f"retryThrottling.tokenRatio must be above 0, got {ratio!r}")
    return float(tokens), round(float(ratio), 3)  # grpc keeps three decimals of the ratio


def _load_balancing(config: dict[str, Any], unsupported: list[str]) -> tuple[Optional[str], bool]:
    """The policy the config picks (None: it names none), and whether pick_first is to shuffle
    the addresses of each resolution (A62's shuffleAddressList). As gRPC's proposal A24, the first
    policy of loadBalancingConfig that the client implements is used, and a list naming none
    it implements makes the config invalid; the deprecated loadBalancingPolicy is read when
    loadBalancingConfig is absent."""
    policies = config.get("loadBalancingConfig")
    if policies is not None:
        if not isinstance(policies, list) or not all(
                isinstance(p, dict) and len(p) == 1 for p in policies):
            raise _Invalid("loadBalancingConfig must be a list of {policy_name: config} objects")
        for entry in policies:
            name, settings = next(iter(entry.items()))
            if name not in LB_POLICIES:
                continue
            if not isinstance(settings, dict):
                raise _Invalid(f"loadBalancingConfig {name!r} must map to an object")
            _note_unknown(settings, name, f"loadBalancingConfig.{name}", unsupported)
            shuffle = settings.get("shuffleAddressList", False) if name == "pick_first" else False
            if not isinstance(shuffle, bool):
                raise _Invalid(f"pick_first.shuffleAddressList must be true or false, got {shuffle!r}")
            return str(name), shuffle
        if policies:
            names = [next(iter(p)) for p in policies]
            raise _Invalid(f"loadBalancingConfig names no policy turbogrpc implements "
                           f"({', '.join(LB_POLICIES)}): {names}")
        return None, False
    policy = config.get("loadBalancingPolicy")
    if policy is None:
        return None, False
    if not isinstance(policy, str):
        raise _Invalid(f"loadBalancingPolicy must be a string, got {policy!r}")
    if policy.lower() not in LB_POLICIES:
        raise _Invalid(f"loadBalancingPolicy {policy!r} is not a policy turbogrpc implements "
                       f"({', '.join(LB_POLICIES)})")
    return policy.lower(), False


def _status_code(code: Any, where: str) -> int:
    if isinstance(code, str) and code in _CODES:
        return _CODES[code]
    if isinstance(code, int) and not isinstance(code, bool) and 0 <= code <= 16:
        return code
    raise _Invalid(f"{where}: unknown status code {code!r}")


def _duration(value: Any, where: str) -> float:
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None or match.group(1):
        raise _Invalid(f"{where} must be a duration like \"1.5s\" (not negative), got {value!r}")
    return int(match.group(2)) + int((match.group(3) or "0").ljust(9, "0")) / 1e9


def _positive_duration(value: Any, where: str) -> float:
    seconds = _duration(value, where)
    if seconds <= 0:
        raise _Invalid(f"{where} must be above 0, got {value!r}")
    return seconds


def _byte_count(value: Any, where: str) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit():  # proto3 JSON writes int64s as strings
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Invalid(f"{where} must be a non-negative integer, got {value!r}")
    return value
