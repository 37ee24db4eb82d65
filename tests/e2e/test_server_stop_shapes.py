"""`server.stop(grace)` with a call of every shape in flight (unary, server-streaming,
client-streaming, bidi; async and sync handlers): a call that ends within the grace completes
normally and stop returns as soon as it has; a call still running when the grace expires is
cancelled (the client sees an error, an async handler sees CancelledError, a sync one sees
context.cancelled()), and stop returns within grace + a small slack."""

from __future__ import annotations

import asyncio
import threading
import time

import grpc
import pytest

from e2e.helpers import code_name, ours_only, wait_for_event

ENDED_BY_STOP = {"CANCELLED", "UNAVAILABLE"}
GRACE = 0.5
SLACK = 0.75  # stop(GRACE) returns within GRACE + SLACK
SHORT = 0.3  # how long a handler that ends within the grace runs
SHAPES = ("unary", "server_stream", "client_stream", "bidi", "sync_unary",
          "sync_server_stream")


class Service:
    """One handler per shape. Each records that it started, then waits `wait` seconds (given by
    the test) and answers; an async handler cancelled meanwhile records it."""

    def __init__(self, wait: float):
        self.wait = wait
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.sync_saw_cancel = threading.Event()
        self.release = threading.Event()  # ends sync handlers early (test cleanup)
        self.loop = asyncio.get_running_loop()

    def _started(self):
        self.loop.call_soon_threadsafe(self.started.set)

    async def _sleep(self):
        try:
            await asyncio.sleep(self.wait)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise

    def _sync_sleep(self, context):
        deadline = time.monotonic() + self.wait
        cancelled = getattr(context, "cancelled", lambda: False)  # grpc.aio's sync one has none
        while time.monotonic() < deadline and not self.release.is_set():
            if cancelled():
                self.sync_saw_cancel.set()
                return False
            time.sleep(0.01)
        return True

    async def unary(self, request, context):
        self._started()
        await self._sleep()
        return b"unary " + request

    async def server_stream(self, request, context):
        self._started()
        yield b"first"
        await self._sleep()
        yield b"last"

    async def client_stream(self, request_iterator, context):
        self._started()
        try:  # blocked reading when the client keeps its stream open
            received = [m async for m in request_iterator]
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        await self._sleep()
        return b"+".join(received)

    async def bidi(self, request_iterator, context):
        self._started()
        async for message in request_iterator:
            await self._sleep()
            yield message

    def sync_unary(self, request, context):
        self._started()
        self._sync_sleep(context)
        return b"sync " + request

    def sync_server_stream(self, request, context):
        self._started()
        yield b"first"
        if self._sync_sleep(context):
            yield b"last"

    def handlers(self):
        return {
            "unary": grpc.unary_unary_rpc_method_handler(self.unary),
            "server_stream": grpc.unary_stream_rpc_method_handler(self.server_stream),
            "client_stream": grpc.stream_unary_rpc_method_handler(self.client_stream),
            "bidi": grpc.stream_stream_rpc_method_handler(self.bidi),
            "sync_unary": grpc.unary_unary_rpc_method_handler(self.sync_unary),
            "sync_server_stream": grpc.unary_stream_rpc_method_handler(self.sync_server_stream),
        }


async def start(env, shape):
    """Starts a call of `shape` and returns a coroutine function giving its full result."""
    if shape in ("unary", "sync_unary"):
        call = env.uu(shape)(b"x", timeout=30)
        return call, lambda: call
    if shape in ("server_stream", "sync_server_stream"):
        call = env.us(shape)(b"x", timeout=30)

        async def read_all():
            return [m async for m in call]

        return call, read_all
    if shape == "client_stream":
        call = env.su(shape)(timeout=30)
        await call.write(b"a")
        await call.write(b"b")
        return call, lambda: call
    call = env.ss(shape)(timeout=30)
    await call.write(b"ping")

    async def read_all():
        return [m async for m in call]

    return call, read_all


EXPECTED = {
    "unary": b"unary x",
    "server_stream": [b"first", b"last"],
    "client_stream": b"a+b",
    "bidi": [b"ping"],
    "sync_unary": b"sync x",
    "sync_server_stream": [b"first", b"last"],
}


@pytest.mark.parametrize("shape", SHAPES)
async def test_call_ending_within_grace_completes(pairing, shape):
    svc = Service(wait=SHORT)
    async with pairing.env(svc.handlers()) as env:
        call, result = await start(env, shape)
        await wait_for_event(svc.started, 5, "handler start")
        if shape in ("client_stream", "bidi"):
            await call.done_writing()  # the handler can end now; stop must let it
        started = time.monotonic()
        await env.server.stop(3.0)
        elapsed = time.monotonic() - started
        assert elapsed < 2.0, f"stop(3.0) took {elapsed:.2f}s although the call ended after ~0.3s"
        assert await asyncio.wait_for(result(), 5) == EXPECTED[shape]
        assert code_name(await call.code()) == "OK"
        assert not svc.cancelled.is_set()


@pytest.mark.parametrize("shape", [s for s in SHAPES if s != "sync_server_stream"])
async def test_call_outliving_grace_is_cancelled(pairing, shape):
    await outliving_grace(pairing, shape)


# grpc.aio's server cannot run this one: a sync response generator still running when the grace
# ends wedges the process (it never exits after the generator returns; grpcio 1.85.1).
@ours_only
@pytest.mark.parametrize("pairing", ["ours-ours", "grpc-ours"], indirect=True)
async def test_sync_stream_outliving_grace_is_cancelled(pairing):
    await outliving_grace(pairing, "sync_server_stream")


async def outliving_grace(pairing, shape):
    svc = Service(wait=30)
    try:
        async with pairing.env(svc.handlers()) as env:
            call, result = await start(env, shape)
            await wait_for_event(svc.started, 5, "handler start")
            started = time.monotonic()
            await env.server.stop(GRACE)
            elapsed = time.monotonic() - started
            assert GRACE - 0.05 <= elapsed < GRACE + SLACK, f"stop({GRACE}) took {elapsed:.2f}s"
            try:
                outcome = await asyncio.wait_for(result(), 5)
            except pairing.client.AioRpcError as err:
                assert code_name(err.code()) in ENDED_BY_STOP, (err.code(), err.details())
            else:
                raise AssertionError(f"the call outliving the grace succeeded: {outcome!r}")
            if shape.startswith("sync_"):
                if pairing.server.is_ours:  # grpc.aio does not tell a sync handler
                    await asyncio.get_running_loop().run_in_executor(
                        None, svc.sync_saw_cancel.wait, 5)
                    assert svc.sync_saw_cancel.is_set(), "the sync handler never saw the cancel"
            elif shape != "client_stream" or pairing.server.is_ours:
                # (grpc.aio's server leaves a handler blocked reading requests alone)
                await wait_for_event(svc.cancelled, 5, "handler cancellation at the grace's end")
    finally:
        svc.release.set()


@pytest.mark.parametrize("shape", ("unary", "client_stream", "sync_unary"))
async def test_stop_returns_at_once_after_calls_ended(pairing, shape):
    """After the calls in flight ended (normally), stop(grace) does not wait at all."""
    svc = Service(wait=0.01)
    async with pairing.env(svc.handlers()) as env:
        for _ in range(3):
            call, result = await start(env, shape)
            if shape == "client_stream":
                await call.done_writing()
            await asyncio.wait_for(result(), 5)
        started = time.monotonic()
        await env.server.stop(5.0)
        assert time.monotonic() - started < 0.5
