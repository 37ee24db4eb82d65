"""Timeouts at the edges: 0 and 1e-9 end at once with DEADLINE_EXCEEDED; 1e10, 1e12 and inf
mean no deadline (grpc's treatment) instead of overflowing into the past; NaN is refused with
a clear error; a negative timeout has already passed. On the server, a grpc-timeout header that
does not parse ends the call INTERNAL naming the header, and the largest one is no deadline."""

from __future__ import annotations

import math
import time

import grpc
import pytest

from e2e.helpers import ours_only, rpc_error
from e2e.test_compression_errors import grpc_message, md_values, raw_request, status_of


class Recorder:
    def __init__(self):
        self.remaining = []

    async def echo(self, request, context):
        self.remaining.append(context.time_remaining())
        return request

    async def stream(self, request, context):
        self.remaining.append(context.time_remaining())
        for _ in range(3):
            yield request

    async def bidi(self, requests, context):
        self.remaining.append(context.time_remaining())
        async for request in requests:
            yield request

    def handlers(self):
        return {
            "Echo": grpc.unary_unary_rpc_method_handler(self.echo),
            "Stream": grpc.unary_stream_rpc_method_handler(self.stream),
            "Bidi": grpc.stream_stream_rpc_method_handler(self.bidi),
        }


@pytest.mark.parametrize("seconds", [0, 1e-9, -1.0, -math.inf])
async def test_expired_timeouts_fail_at_once(our_client_pairing, seconds):
    """(grpc.aio's client is left out: it sends at least "1m" and a fast handler may beat it.)"""
    pairing = our_client_pairing
    async with pairing.env(Recorder().handlers()) as env:
        assert await env.uu("Echo")(b"warm") == b"warm"
        started = time.monotonic()
        await rpc_error(pairing, env.uu("Echo")(b"x", timeout=seconds), "DEADLINE_EXCEEDED")
        assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("seconds", [1e10, 1e12, math.inf, 1e300])
async def test_huge_timeouts_mean_no_deadline(our_client_pairing, seconds):
    """int64 nanoseconds overflow here used to end these calls at once, DEADLINE_EXCEEDED."""
    recorder = Recorder()
    async with our_client_pairing.env(recorder.handlers()) as env:
        assert await env.uu("Echo")(b"unary", timeout=seconds) == b"unary"
        call = env.us("Stream")(b"s", timeout=seconds)
        assert [m async for m in call] == [b"s"] * 3
        bidi = env.ss("Bidi")(timeout=seconds)
        await bidi.write(b"b")
        assert await bidi.read() == b"b"
        await bidi.done_writing()
        assert (await bidi.code()).name == "OK"
        # The call's own view: it has all the time in the world.
        assert call.time_remaining() is None or call.time_remaining() > 1e9
        # No grpc-timeout at all, or one beyond any practical horizon.
        assert all(r is None or r > 1e6 for r in recorder.remaining), recorder.remaining


@ours_only
async def test_nan_timeout_is_refused(our_client_pairing):
    async with our_client_pairing.env(Recorder().handlers()) as env:
        aio = our_client_pairing.client.aio
        for start in (lambda: env.uu("Echo")(b"x", timeout=math.nan),
                      lambda: env.us("Stream")(b"x", timeout=float("nan")),
                      lambda: env.ss("Bidi")(timeout=math.nan)):
            with pytest.raises(aio.UsageError, match="NaN"):
                start()
        assert await env.uu("Echo")(b"after") == b"after"


# grpc.aio's server (validating these tests) reads 9 digits although the spec allows 8.
GRPC_SERVER_ACCEPTS = {"123456789S"}


@pytest.mark.parametrize("value", ["abc", "-1S", "1X", "1.5S", "S", "123456789S", "1SS"])
async def test_server_rejects_invalid_grpc_timeout(ours_pairing, value):
    async with ours_pairing.env(Recorder().handlers()) as env:
        fields = await raw_request(env.srv.port, [("grpc-timeout", value)], grpc_message(b"hi"))
        lenient = not ours_pairing.server.is_ours and value in GRPC_SERVER_ACCEPTS
        assert status_of(fields) == ("OK" if lenient else "INTERNAL"), fields
        if ours_pairing.server.is_ours:
            (message,) = md_values(fields, "grpc-message")
            assert "grpc-timeout" in message, message
        assert await env.uu("Echo")(b"after") == b"after"


async def test_server_largest_grpc_timeout_is_no_deadline(ours_pairing):
    recorder = Recorder()
    async with ours_pairing.env(recorder.handlers()) as env:
        fields = await raw_request(env.srv.port, [("grpc-timeout", "99999999H")], grpc_message(b"hi"))
        assert status_of(fields) == "OK", fields
        (remaining,) = recorder.remaining
        # 99999999 hours is beyond int64 nanoseconds (~292 years): it saturates there.
        assert remaining is not None and remaining > 9e9, remaining
