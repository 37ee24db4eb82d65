"""Deadlines: a client timeout on a slow handler ends with DEADLINE_EXCEEDED promptly; the server
sees time_remaining() within the timeout and its handler is cancelled."""

from __future__ import annotations

import asyncio
import time

import grpc

from e2e.helpers import code_name, eventually, rpc_error, wait_for_event

TIMEOUT = 0.5


class SlowService:
    def __init__(self, pairing):
        self.server_is_ours = pairing.server.is_ours
        self.remaining = []
        self.fast_remaining = []
        self.contexts = []
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def _park(self, context):
        self.contexts.append(context)
        self.remaining.append(context.time_remaining())
        self.started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise

    async def slow_unary(self, request, context):
        await self._park(context)
        return b"too late"

    async def slow_stream(self, request, context):
        yield b"first"
        await self._park(context)
        yield b"too late"

    async def slow_bidi(self, request_iterator, context):
        async for message in request_iterator:
            yield message
            await self._park(context)

    async def fast(self, request, context):
        self.fast_remaining.append(context.time_remaining())
        return request

    def handlers(self):
        return {
            "SlowUnary": grpc.unary_unary_rpc_method_handler(self.slow_unary),
            "SlowStream": grpc.unary_stream_rpc_method_handler(self.slow_stream),
            "SlowBidi": grpc.stream_stream_rpc_method_handler(self.slow_bidi),
            "Fast": grpc.unary_unary_rpc_method_handler(self.fast),
        }

    async def assert_server_side(self):
        assert self.remaining and self.remaining[0] is not None
        # grpc-timeout travels in whole units of the chosen resolution, so allow a few ms.
        assert 0 < self.remaining[0] <= TIMEOUT + 0.005, f"time_remaining()={self.remaining[0]}"
        await wait_for_event(self.cancelled, 5, "server handler cancellation after the deadline")
        if self.server_is_ours:  # grpc.aio cancels the handler but keeps context.cancelled() False
            await eventually(self.contexts[0].cancelled, 5, "context.cancelled() after the deadline")


async def test_unary_deadline(pairing):
    svc = SlowService(pairing)
    async with pairing.env(svc.handlers()) as env:
        await env.uu("Fast")(b"")  # connect outside the measured time
        started = time.monotonic()
        err = await rpc_error(pairing, env.uu("SlowUnary")(b"", timeout=TIMEOUT), "DEADLINE_EXCEEDED")
        elapsed = time.monotonic() - started
        assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + 1.0, f"took {elapsed:.2f}s"
        assert err.details()
        await svc.assert_server_side()
        # the channel is fine afterwards
        assert await env.uu("Fast")(b"ok") == b"ok"


async def test_server_streaming_deadline(pairing):
    svc = SlowService(pairing)
    async with pairing.env(svc.handlers()) as env:
        await env.uu("Fast")(b"")
        call = env.us("SlowStream")(b"", timeout=TIMEOUT)
        assert await call.read() == b"first"
        started = time.monotonic()
        await rpc_error(pairing, call.read(), "DEADLINE_EXCEEDED")
        assert time.monotonic() - started < TIMEOUT + 1.0
        assert code_name(await call.code()) == "DEADLINE_EXCEEDED"
        await svc.assert_server_side()


async def test_bidi_deadline(pairing):
    svc = SlowService(pairing)
    async with pairing.env(svc.handlers()) as env:
        await env.uu("Fast")(b"")
        call = env.ss("SlowBidi")(timeout=TIMEOUT)
        await call.write(b"ping")
        assert await call.read() == b"ping"
        await rpc_error(pairing, call.read(), "DEADLINE_EXCEEDED")
        await svc.assert_server_side()


async def test_time_remaining_seen_by_server(pairing):
    svc = SlowService(pairing)
    async with pairing.env(svc.handlers()) as env:
        await env.uu("Fast")(b"", timeout=7.5)
        remaining = svc.fast_remaining[-1]
        # grpc-core clients round the grpc-timeout they send up (7.5 s may arrive as "7510m").
        assert remaining is not None and 6.0 < remaining <= 7.52, remaining
