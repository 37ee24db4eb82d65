"""Parsing grpc.service_config: what the engine gets, and what is named as not implemented."""

from __future__ import annotations

import json
import re

import pytest

from turbogrpc import aio
from turbogrpc._core._service_config import parse_service_config


def parse(config):
    return parse_service_config(json.dumps(config))


def test_method_config_fields_reach_the_engine_form():
    engine, unsupported = parse({"methodConfig": [
        {"name": [{"service": "s", "method": "m"}, {"service": "t"}], "timeout": "1.5s",
         "waitForReady": True, "maxRequestMessageBytes": "1024", "maxResponseMessageBytes": 7,
         "retryPolicy": {"maxAttempts": 9, "initialBackoff": "0.000000001s", "maxBackoff": "2s",
                         "backoffMultiplier": 1.5, "retryableStatusCodes": ["UNAVAILABLE", 4]}},
        {"name": [{}]}], "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.12345}})
    assert unsupported == []
    first, default = engine["methods"]
    assert first == ([("s", "m"), ("t", "")], 1.5, True, 1024, 7, (5, 1e-9, 2.0, 1.5, [14, 4]))
    assert default == ([("", "")], None, None, None, None, None)
    assert engine["retry_throttling"] == (10.0, 0.123)


def test_parts_not_implemented_are_named():
    _, unsupported = parse({
        "loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": ""},
        "methodConfig": [{"name": [{}], "hedgingPolicy": {"maxAttempts": 2}}]})
    assert any("hedgingPolicy" in part for part in unsupported)
    assert any("'round_robin'" in part for part in unsupported)
    assert any("healthCheckConfig" in part for part in unsupported)
    assert parse({"loadBalancingPolicy": "pick_first"})[1] == []


def test_the_channel_warns_once_naming_them():
    config = json.dumps({"methodConfig": [{"name": [{}], "hedgingPolicy": {}}]})
    with pytest.warns(aio.UnsupportedOptionWarning, match=re.escape("hedgingPolicy")):
        from turbogrpc._core._options import channel_options
        channel_options([("grpc.service_config", config)])


def test_a_non_string_is_refused():
    with pytest.raises(aio.UsageError, match="takes a JSON str"):
        parse_service_config({"methodConfig": []})
