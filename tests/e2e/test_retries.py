"""Configured retries (gRPC proposal A6) through ``grpc.service_config``: a call that fails with
a retryable code before the response started goes again, with the attempts counted in
grpc-previous-rpc-attempts; not for other codes, not once committed, not beyond maxAttempts
(capped at 5), not over the retry buffer, not when throttled; pushback honoured. Every pairing:
grpc.aio's client against our server validates the expectations."""

from __future__ import annotations

import asyncio
import json
import time

import grpc
import pytest

from e2e.helpers import code_name, md_values, ours_only


def retry_config(codes=("UNAVAILABLE",), attempts=5, initial="0.01s", maximum="0.05s",
                 throttling=None, **method):
    config = {"methodConfig": [{
        "name": [{"service": "test.Svc"}],
        "retryPolicy": {"maxAttempts": attempts, "initialBackoff": initial, "maxBackoff": maximum,
                        "backoffMultiplier": 2, "retryableStatusCodes": list(codes)},
        **method}]}
    if throttling:
        config["retryThrottling"] = throttling
    return [("grpc.service_config", json.dumps(config))]


class Flaky:
    """Fails the first `failures` attempts of each request with `code`, recording each attempt's
    grpc-previous-rpc-attempts and when it came."""

    def __init__(self, pairing, failures, code="UNAVAILABLE", trailers=(), headers_first=False):
        self.codes = pairing.server.aio.StatusCode if hasattr(pairing.server.aio, "StatusCode") else grpc.StatusCode
        self.failures, self.code, self.trailers = failures, code, tuple(trailers)
        self.headers_first = headers_first
        self.attempts: dict[bytes, list[tuple[list, float]]] = {}

    def record(self, key, context):
        seen = self.attempts.setdefault(key, [])
        seen.append((md_values(context.invocation_metadata(), "grpc-previous-rpc-attempts"),
                     time.monotonic()))
        return len(seen)

    async def maybe_fail(self, attempt, context):
        if attempt <= self.failures:
            if self.headers_first:
                await context.send_initial_metadata((("started", "yes"),))
            if self.trailers:
                context.set_trailing_metadata(self.trailers)
            await context.abort(getattr(grpc.StatusCode, self.code), f"attempt {attempt} fails")

    async def unary(self, request, context):
        await self.maybe_fail(self.record(request, context), context)
        return request

    async def join(self, request_iterator, context):
        parts = [request async for request in request_iterator]
        await self.maybe_fail(self.record(b"join", context), context)
        return b"|".join(parts)

    async def count(self, request, context):
        await self.maybe_fail(self.record(request, context), context)
        for i in range(3):
            yield str(i).encode()

    def handlers(self):
        return {"Unary": grpc.unary_unary_rpc_method_handler(self.unary),
                "Join": grpc.stream_unary_rpc_method_handler(self.join),
                "Count": grpc.unary_stream_rpc_method_handler(self.count)}

    def counts(self, key):
        return [headers for headers, _ in self.attempts.get(key, [])]


async def call_code(pairing, awaitable):
    try:
        await awaitable
    except pairing.client.aio.AioRpcError as err:
        return code_name(err.code())
    return "OK"


async def test_a_retryable_failure_goes_again_with_the_attempts_counted(pairing):
    flaky = Flaky(pairing, failures=2)
    async with pairing.env(flaky.handlers(), channel_options=retry_config()) as env:
        assert await env.uu("Unary")(b"a", timeout=5) == b"a"
    assert flaky.counts(b"a") == [[], ["1"], ["2"]]


async def test_a_code_not_listed_is_not_retried(pairing):
    flaky = Flaky(pairing, failures=1, code="INVALID_ARGUMENT")
    async with pairing.env(flaky.handlers(), channel_options=retry_config()) as env:
        assert await call_code(pairing, env.uu("Unary")(b"a", timeout=5)) == "INVALID_ARGUMENT"
    assert flaky.counts(b"a") == [[]]


@pytest.mark.parametrize("attempts, made", [(3, 3), (9, 5)])
async def test_attempts_stop_at_max_attempts_capped_at_five(pairing, attempts, made):
    flaky = Flaky(pairing, failures=100)
    async with pairing.env(flaky.handlers(), channel_options=retry_config(attempts=attempts)) as env:
        assert await call_code(pairing, env.uu("Unary")(b"a", timeout=5)) == "UNAVAILABLE"
    assert len(flaky.counts(b"a")) == made


async def test_a_response_that_started_is_not_retried(pairing):
    flaky = Flaky(pairing, failures=1, headers_first=True)
    async with pairing.env(flaky.handlers(), channel_options=retry_config()) as env:
        assert await call_code(pairing, env.uu("Unary")(b"a", timeout=5)) == "UNAVAILABLE"
    assert flaky.counts(b"a") == [[]]


async def test_server_pushback_sets_the_delay_or_stops_the_retries(pairing):
    waits = Flaky(pairing, failures=1, trailers=[("grpc-retry-pushback-ms", "300")])
    async with pairing.env(waits.handlers(), channel_options=retry_config()) as env:
        assert await env.uu("Unary")(b"a", timeout=5) == b"a"
    (_, first), (_, second) = waits.attempts[b"a"]
    assert second - first >= 0.28
    stops = Flaky(pairing, failures=1, trailers=[("grpc-retry-pushback-ms", "-1")])
    async with pairing.env(stops.handlers(), channel_options=retry_config()) as env:
        assert await call_code(pairing, env.uu("Unary")(b"a", timeout=5)) == "UNAVAILABLE"
    assert len(stops.counts(b"a")) == 1


async def test_a_request_over_the_retry_buffer_is_not_retried(pairing):
    flaky = Flaky(pairing, failures=1)
    options = retry_config() + [("grpc.per_rpc_retry_buffer_size", 1000)]
    big, small = b"x" * 5000, b"y" * 100
    async with pairing.env(flaky.handlers(), channel_options=options) as env:
        assert await call_code(pairing, env.uu("Unary")(big, timeout=5)) == "UNAVAILABLE"
        assert await env.uu("Unary")(small, timeout=5) == small
    assert len(flaky.counts(big)) == 1
    assert len(flaky.counts(small)) == 2


async def test_retries_can_be_turned_off(pairing):
    flaky = Flaky(pairing, failures=1)
    options = retry_config() + [("grpc.enable_retries", 0)]
    async with pairing.env(flaky.handlers(), channel_options=options) as env:
        assert await call_code(pairing, env.uu("Unary")(b"a", timeout=5)) == "UNAVAILABLE"
    assert len(flaky.counts(b"a")) == 1


async def test_request_streams_are_sent_again_whole(pairing):
    flaky = Flaky(pairing, failures=2)
    async with pairing.env(flaky.handlers(), channel_options=retry_config()) as env:
        call = env.su("Join")(timeout=5)
        for part in (b"one", b"two", b"three"):
            await call.write(part)
        await call.done_writing()
        assert await call == b"one|two|three"
    assert flaky.counts(b"join") == [[], ["1"], ["2"]]


async def test_a_response_stream_that_failed_before_its_first_message_goes_again(pairing):
    flaky = Flaky(pairing, failures=1)
    async with pairing.env(flaky.handlers(), channel_options=retry_config()) as env:
        assert [m async for m in env.us("Count")(b"c", timeout=5)] == [b"0", b"1", b"2"]
    assert flaky.counts(b"c") == [[], ["1"]]


async def test_throttling_stops_retries_while_too_many_calls_fail(pairing):
    flaky = Flaky(pairing, failures=100)
    options = retry_config(throttling={"maxTokens": 4, "tokenRatio": 0.5})
    async with pairing.env(flaky.handlers(), channel_options=options) as env:
        # 4 tokens: a failure takes one; retries only while more than 2 are left.
        assert await call_code(pairing, env.uu("Unary")(b"a", timeout=5)) == "UNAVAILABLE"
        assert await call_code(pairing, env.uu("Unary")(b"b", timeout=5)) == "UNAVAILABLE"
    assert len(flaky.counts(b"a")) == 2  # 4 → 3: retried; 3 → 2: throttled
    assert len(flaky.counts(b"b")) == 1  # 2 → 1: throttled


async def test_the_method_config_sets_timeout_and_message_limits(pairing):
    async def slow(request, context):
        await asyncio.sleep(2)
        return request

    config = {"methodConfig": [
        {"name": [{"service": "test.Svc", "method": "Slow"}], "timeout": "0.2s"},
        {"name": [{"service": "test.Svc", "method": "Small"}], "maxRequestMessageBytes": 10}]}
    handlers = {"Slow": grpc.unary_unary_rpc_method_handler(slow),
                "Small": grpc.unary_unary_rpc_method_handler(slow)}
    options = [("grpc.service_config", json.dumps(config))]
    async with pairing.env(handlers, channel_options=options) as env:
        began = time.monotonic()
        assert await call_code(pairing, env.uu("Slow")(b"x", timeout=10)) == "DEADLINE_EXCEEDED"
        assert time.monotonic() - began < 1.5
        assert await call_code(pairing, env.uu("Small")(b"x" * 11, timeout=10)) == "RESOURCE_EXHAUSTED"


async def test_wait_for_ready_from_the_method_config(pairing):
    """A channel to nothing: with waitForReady the call waits for its deadline instead of
    failing fast UNAVAILABLE."""
    config = {"methodConfig": [{"name": [{}], "waitForReady": True}]}
    async with pairing.connect("127.0.0.1:1", [("grpc.service_config", json.dumps(config))]) as channel:
        call = channel.unary_unary("/test.Svc/Unary")(b"x", timeout=0.5)
        assert await call_code(pairing, call) == "DEADLINE_EXCEEDED"
        # the call's own wait_for_ready=False wins over the config
        call = channel.unary_unary("/test.Svc/Unary")(b"x", timeout=5, wait_for_ready=False)
        assert await call_code(pairing, call) == "UNAVAILABLE"


@ours_only
@pytest.mark.parametrize("config, message", [
    ("{", "not JSON"),
    ("[]", "must be a JSON object"),
    ('{"methodConfig": [{"name": [{"method": "M"}]}]}', "needs its service"),
    ('{"methodConfig": [{"name": [{}]}, {"name": [{}]}]}', "named by an earlier methodConfig"),
    ('{"methodConfig": [{"name": [{}], "timeout": "1m"}]}', "must be a duration"),
    ('{"methodConfig": [{"name": [{}], "retryPolicy": {"maxAttempts": 1, "initialBackoff": "1s",'
     ' "maxBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]}',
     "maxAttempts must be an integer of at least 2"),
    ('{"methodConfig": [{"name": [{}], "retryPolicy": {"maxAttempts": 2, "initialBackoff": "0s",'
     ' "maxBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]}',
     "initialBackoff must be above 0"),
    ('{"methodConfig": [{"name": [{}], "retryPolicy": {"maxAttempts": 2, "initialBackoff": "1s",'
     ' "maxBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": ["NOPE"]}}]}',
     "unknown status code 'NOPE'"),
    ('{"retryThrottling": {"maxTokens": 0, "tokenRatio": 1}}', "maxTokens must be in (0, 1000]"),
])
async def test_an_invalid_service_config_is_refused_at_channel_creation(config, message):
    from turbogrpc import aio

    with pytest.raises(aio.UsageError, match="invalid service config") as info:
        aio.insecure_channel("127.0.0.1:1", options=[("grpc.service_config", config)])
    assert message in str(info.value)
