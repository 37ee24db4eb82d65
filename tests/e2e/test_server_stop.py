"""Server stop(grace) with calls in flight: they finish within the grace; a call that outlives it
is cancelled (client sees an error, handler sees CancelledError); stop returns promptly, is
idempotent, wakes wait_for_termination(), and new calls are refused."""

from __future__ import annotations

import asyncio
import time

import grpc

from e2e.helpers import code_name, rpc_error, wait_for_event

ENDED_BY_STOP = {"CANCELLED", "UNAVAILABLE"}


class Service:
    def __init__(self):
        self.started = 0
        self.all_started = asyncio.Event()
        self.expected = 1
        self.cancelled = asyncio.Event()

    async def sleep_then_reply(self, request, context):
        self.started += 1
        if self.started >= self.expected:
            self.all_started.set()
        try:
            await asyncio.sleep(float(request))
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return b"done " + request

    async def stream_then_sleep(self, request, context):
        yield b"first"
        await self.sleep_then_reply(request, context)
        yield b"last"

    async def echo(self, request, context):
        return request

    def handlers(self):
        return {
            "Sleep": grpc.unary_unary_rpc_method_handler(self.sleep_then_reply),
            "StreamSleep": grpc.unary_stream_rpc_method_handler(self.stream_then_sleep),
            "Echo": grpc.unary_unary_rpc_method_handler(self.echo),
        }


async def test_in_flight_calls_finish_within_grace(pairing):
    svc = Service()
    svc.expected = 5
    async with pairing.env(svc.handlers()) as env:
        calls = [asyncio.ensure_future(env.uu("Sleep")(b"0.3")) for _ in range(5)]
        stream = env.us("StreamSleep")(b"0.3")
        assert await stream.read() == b"first"
        await wait_for_event(svc.all_started, 5, "all handlers started")
        started = time.monotonic()
        await env.server.stop(3.0)
        elapsed = time.monotonic() - started
        assert elapsed < 2.0, f"stop(3.0) took {elapsed:.2f}s although calls ended after ~0.3s"
        assert await asyncio.gather(*calls) == [b"done 0.3"] * 5
        assert await stream.read() == b"last"
        assert code_name(await stream.code()) == "OK"
        assert not svc.cancelled.is_set()


async def test_call_outliving_grace_is_cancelled(pairing):
    svc = Service()
    async with pairing.env(svc.handlers()) as env:
        call = env.uu("Sleep")(b"30")
        await wait_for_event(svc.all_started, 5, "handler started")
        started = time.monotonic()
        await env.server.stop(0.5)
        elapsed = time.monotonic() - started
        assert 0.4 <= elapsed < 2.0, f"stop(0.5) took {elapsed:.2f}s"
        try:
            await asyncio.wait_for(call, 5)
        except pairing.client.AioRpcError as err:
            assert code_name(err.code()) in ENDED_BY_STOP, (err.code(), err.details())
        else:
            raise AssertionError("the call outliving the grace succeeded")
        await wait_for_event(svc.cancelled, 5, "handler cancellation at the end of the grace")


async def test_stop_without_grace_cancels_at_once(pairing):
    svc = Service()
    svc.expected = 3
    async with pairing.env(svc.handlers()) as env:
        calls = [env.uu("Sleep")(b"30") for _ in range(3)]
        await wait_for_event(svc.all_started, 5, "handlers started")
        started = time.monotonic()
        await env.server.stop(None)
        assert time.monotonic() - started < 1.0
        for call in calls:
            try:
                await asyncio.wait_for(call, 5)
            except pairing.client.AioRpcError as err:
                assert code_name(err.code()) in ENDED_BY_STOP, (err.code(), err.details())
            else:
                raise AssertionError("call succeeded after stop(None)")
        await wait_for_event(svc.cancelled, 5, "handler cancellation")


async def test_stop_is_idempotent_and_wakes_wait_for_termination(pairing):
    svc = Service()
    async with pairing.env(svc.handlers()) as env:
        assert await env.uu("Echo")(b"x") == b"x"
        waiter = asyncio.ensure_future(env.server.wait_for_termination())
        await asyncio.sleep(0.05)
        assert not waiter.done()
        await env.server.stop(1.0)
        assert await asyncio.wait_for(waiter, 5) is False  # "False: did not time out"
        started = time.monotonic()
        await env.server.stop(1.0)
        await env.server.stop(None)
        assert time.monotonic() - started < 0.5
        # nothing listens any more: new calls on the old channel fail, they do not hang
        await rpc_error(pairing, env.uu("Echo")(b"x", timeout=10), "UNAVAILABLE")


async def test_new_calls_refused_during_grace(pairing):
    svc = Service()
    async with pairing.env(svc.handlers()) as env:
        in_flight = env.uu("Sleep")(b"0.5")
        await wait_for_event(svc.all_started, 5, "handler started")
        stopping = asyncio.ensure_future(env.server.stop(3.0))
        await asyncio.sleep(0.1)
        assert not stopping.done()
        await rpc_error(pairing, env.uu("Echo")(b"late", timeout=10), "UNAVAILABLE")
        assert await in_flight == b"done 0.5"
        await asyncio.wait_for(stopping, 5)
