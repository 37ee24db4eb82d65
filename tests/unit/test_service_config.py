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
    assert first == ([("s", "m"), ("t", "")], 1.5, True, 1024, 7, (5, 1e-9, 2.0, 1.5, [14, 4]), None)
    assert default == ([("", "")], None, None, None, None, None, None)
    assert engine["retry_throttling"] == (10.0, 0.123)


def test_hedging_policy_reaches_the_engine_form():
    engine, unsupported = parse({"methodConfig": [{"name": [{}], "hedgingPolicy": {
        "maxAttempts": 7, "hedgingDelay": "0.25s", "nonFatalStatusCodes": ["UNAVAILABLE", 13]}}]})
    assert unsupported == []
    assert engine["methods"][0][6] == (5, 0.25, [14, 13])  # maxAttempts capped as retries'
    engine, _ = parse({"methodConfig": [{"name": [{}], "hedgingPolicy": {"maxAttempts": "2"}}]})
    assert engine["methods"][0][6] == (2, 0.0, [])  # no delay: every attempt at once


@pytest.mark.parametrize("policy, message", [
    ({}, "maxAttempts must be an integer of at least 2"),
    ({"maxAttempts": 1}, "maxAttempts must be an integer of at least 2"),
    ({"maxAttempts": 2, "hedgingDelay": "-1s"}, "hedgingDelay must be a duration"),
    ({"maxAttempts": 2, "nonFatalStatusCodes": "UNAVAILABLE"}, "must be a list"),
    ({"maxAttempts": 2, "nonFatalStatusCodes": ["NOPE"]}, "unknown status code 'NOPE'"),
    ([], "hedgingPolicy must be an object"),
])
def test_a_bad_hedging_policy_is_refused(policy, message):
    with pytest.raises(aio.UsageError, match=re.escape(message)):
        parse({"methodConfig": [{"name": [{}], "hedgingPolicy": policy}]})


def test_every_field_turbogrpc_reads_is_known():
    engine, unsupported = parse({
        "loadBalancingConfig": [{"pick_first": {"shuffleAddressList": True}}],
        "healthCheckConfig": {"serviceName": ""},
        "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1},
        "methodConfig": [
            {"name": [{}], "hedgingPolicy": {"maxAttempts": 2, "hedgingDelay": "1s",
                                             "nonFatalStatusCodes": []}},
            {"name": [{"service": "a.B"}], "timeout": "1s", "waitForReady": True,
             "maxRequestMessageBytes": 1, "maxResponseMessageBytes": 1,
             "retryPolicy": {"maxAttempts": 2, "initialBackoff": "1s", "maxBackoff": "1s",
                             "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]})
    assert unsupported == []
    assert engine["shuffle_address_list"] is True
    assert parse({"loadBalancingConfig": [{"round_robin": {}}]})[0]["shuffle_address_list"] is False
    assert parse({"loadBalancingPolicy": "pick_first"})[1] == []


def test_unknown_fields_are_named_at_every_level():
    """A typo or a field of a later proposal: grpc ignores it silently; we name it."""
    _, unsupported = parse({
        "loadBalancingConfig": [{"round_robin": {"weights": 1}}],
        "healthCheckConfig": {"servicename": "a"},
        "retryThrottling": {"maxTokens": 1, "tokenRatio": 1, "burst": 2},
        "methodConfig": [
            {"name": [{}], "retrypolicy": {},
             "hedgingPolicy": {"maxAttempts": 2, "hedgeDelay": "1s"}},
            {"name": [{"service": "a.B"}],
             "retryPolicy": {"maxAttempts": 2, "initialBackoff": "1s", "maxBackoff": "1s",
                             "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"],
                             "perAttemptRecvTimeout": "1s"}}],
        "xdsServer": "x"})
    assert sorted(unsupported) == sorted([
        "unknown field loadBalancingConfig.round_robin.weights",
        "unknown field healthCheckConfig.servicename",
        "unknown field retryThrottling.burst",
        "unknown field methodConfig[0].retrypolicy",
        "unknown field methodConfig[0].hedgingPolicy.hedgeDelay",
        "unknown field methodConfig[1].retryPolicy.perAttemptRecvTimeout",
        "unknown field xdsServer"])


def test_shuffle_address_list_must_be_a_bool():
    with pytest.raises(aio.UsageError, match=re.escape("shuffleAddressList must be true or false")):
        parse({"loadBalancingConfig": [{"pick_first": {"shuffleAddressList": "yes"}}]})


@pytest.mark.parametrize("config, service", [
    ({}, None), ({"healthCheckConfig": {}}, ""), ({"healthCheckConfig": {"serviceName": "a.B"}}, "a.B")])
def test_the_health_checked_service_is_read(config, service):
    assert parse(config)[0]["health_check_service"] == service


@pytest.mark.parametrize("config", [{"healthCheckConfig": []},
                                    {"healthCheckConfig": {"serviceName": 3}}])
def test_a_malformed_health_check_config_is_refused(config):
    with pytest.raises(aio.UsageError, match="healthCheckConfig"):
        parse(config)


def test_health_checking_goes_to_the_channel_unless_inhibited():
    from turbogrpc._core._options import channel_options
    config = ("grpc.service_config", json.dumps({"healthCheckConfig": {"serviceName": "s"}}))
    assert channel_options([config])["health_check_service"] == "s"
    assert "health_check_service" not in channel_options([config, ("grpc.inhibit_health_checking", 1)])


@pytest.mark.parametrize("config, policy", [
    ({}, None),
    ({"loadBalancingConfig": [{"round_robin": {}}]}, "round_robin"),
    ({"loadBalancingConfig": [{"pick_first": {}}]}, "pick_first"),
    # A24: the first policy the client implements; unknown ones before it are passed over.
    ({"loadBalancingConfig": [{"ring_hash_experimental": {}}, {"round_robin": {}},
                              {"pick_first": {}}]}, "round_robin"),
    ({"loadBalancingPolicy": "ROUND_ROBIN"}, "round_robin"),
    # loadBalancingConfig wins over the deprecated field.
    ({"loadBalancingConfig": [{"pick_first": {}}], "loadBalancingPolicy": "round_robin"},
     "pick_first"),
])
def test_the_load_balancing_policy_is_picked(config, policy):
    engine, unsupported = parse(config)
    assert engine["lb_policy"] == policy and unsupported == []


@pytest.mark.parametrize("config, message", [
    ({"loadBalancingConfig": [{"grpclb": {}}, {"xds": {}}]}, "names no policy turbogrpc implements"),
    ({"loadBalancingConfig": {"round_robin": {}}}, "must be a list"),
    ({"loadBalancingConfig": [{"round_robin": []}]}, "must map to an object"),
    ({"loadBalancingPolicy": "grpclb"}, "not a policy turbogrpc implements"),
    ({"loadBalancingPolicy": 3}, "must be a string"),
])
def test_a_load_balancing_config_naming_nothing_usable_is_refused(config, message):
    with pytest.raises(aio.UsageError, match=message):
        parse(config)


def test_the_config_policy_overrides_lb_policy_name_and_an_unknown_name_is_warned():
    from turbogrpc._core._options import channel_options
    config = json.dumps({"loadBalancingConfig": [{"pick_first": {}}]})
    engine = channel_options([("grpc.lb_policy_name", "round_robin"), ("grpc.service_config", config)])
    assert engine["lb_policy"] == "pick_first" and "lb_policy" not in engine["service_config"]
    assert channel_options([("grpc.lb_policy_name", "round_robin")])["lb_policy"] == "round_robin"
    with pytest.warns(aio.UnsupportedOptionWarning, match=re.escape("'ring_hash': only pick_first")):
        engine = channel_options([("grpc.lb_policy_name", "ring_hash")])
    assert "lb_policy" not in engine  # pick_first, as grpc-core falls back to


def test_the_channel_warns_once_naming_them():
    config = json.dumps({"methodConfig": [{"name": [{}], "timeOut": "1s"}]})
    with pytest.warns(aio.UnsupportedOptionWarning,
                      match=re.escape("unknown field methodConfig[0].timeOut")) as warned:
        from turbogrpc._core._options import channel_options
        channel_options([("grpc.service_config", config)])
    assert len(warned) == 1


def test_pick_first_shuffle_reaches_the_engine_options():
    from turbogrpc._core._options import channel_options
    config = json.dumps({"loadBalancingConfig": [{"pick_first": {"shuffleAddressList": True}}]})
    engine = channel_options([("grpc.service_config", config)])
    assert engine["shuffle_address_list"] == 1 and engine["lb_policy"] == "pick_first"
    assert "shuffle_address_list" not in engine["service_config"]
    assert "shuffle_address_list" not in channel_options([("grpc.lb_policy_name", "pick_first")])


def test_a_non_string_is_refused():
    with pytest.raises(aio.UsageError, match="takes a JSON str"):
        parse_service_config({"methodConfig": []})


def test_enable_hedging_0_drops_the_hedging_policies():
    from turbogrpc._core._options import channel_options
    config = ("grpc.service_config", json.dumps({"methodConfig": [{
        "name": [{}], "hedgingPolicy": {"maxAttempts": 3, "hedgingDelay": "0.1s"}}]}))
    assert channel_options([config])["service_config"]["methods"][0][-1] is not None
    off = channel_options([config, ("grpc.experimental.enable_hedging", 0)])
    assert off["service_config"]["methods"][0][-1] is None
