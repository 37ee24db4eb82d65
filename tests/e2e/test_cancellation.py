"""Cancellation: the client cancels mid-call (call.cancel() or cancelling the awaiting task) and
the server handler is cancelled; the server aborts mid-stream and the client gets that status."""

from __future__ import annotations

import asyncio

import grpc

from e2e.helpers import code_name, eventually, rpc_error, wait_for_event


class Service:
    def __init__(self, pairing):
        self.server_is_ours = pairing.server.is_ours
        self.codes = pairing.server.StatusCode
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.finally_ran = asyncio.Event()
        self.contexts = []
        self.sent = 0

    async def endless(self, request, context):
        self.contexts.append(context)
        try:
            while True:
                yield b"tick %d" % self.sent
                self.sent += 1
                self.started.set()
                await asyncio.sleep(0.005)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        finally:
            self.finally_ran.set()

    async def parked(self, request, context):
        self.contexts.append(context)
        self.started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        finally:
            self.finally_ran.set()
        return b""

    async def bidi_echo(self, request_iterator, context):
        self.contexts.append(context)
        try:
            async for message in request_iterator:
                self.started.set()
                await context.write(message)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        finally:
            self.finally_ran.set()

    async def abort_mid_stream(self, request, context):
        for i in range(3):
            yield b"m%d" % i
        await context.abort(self.codes.ABORTED, "aborted mid-stream ✓")

    async def bidi_abort_after_two(self, request_iterator, context):
        count = 0
        async for message in request_iterator:
            await context.write(message)
            count += 1
            if count == 2:
                await context.abort(self.codes.RESOURCE_EXHAUSTED, "enough")

    async def echo(self, request, context):
        return request

    def handlers(self):
        return {
            "Endless": grpc.unary_stream_rpc_method_handler(self.endless),
            "Parked": grpc.unary_unary_rpc_method_handler(self.parked),
            "BidiEcho": grpc.stream_stream_rpc_method_handler(self.bidi_echo),
            "AbortMidStream": grpc.unary_stream_rpc_method_handler(self.abort_mid_stream),
            "BidiAbort": grpc.stream_stream_rpc_method_handler(self.bidi_abort_after_two),
            "Echo": grpc.unary_unary_rpc_method_handler(self.echo),
        }

    async def assert_handler_cancelled(self, grpc_may_end_quietly: bool = False):
        """The handler ended promptly. Our server must raise CancelledError into it and report
        context.cancelled(); grpc.aio keeps context.cancelled() False, and for a handler blocked in
        the request iterator it just ends the iteration as if the client had half-closed."""
        await wait_for_event(self.finally_ran, 5, "the server handler's finally block")
        if self.server_is_ours or not grpc_may_end_quietly:
            await wait_for_event(self.cancelled, 1, "CancelledError in the server handler")
        if self.server_is_ours:
            await eventually(self.contexts[0].cancelled, 5, "context.cancelled()")


async def test_cancel_server_stream_mid_stream(pairing):
    svc = Service(pairing)
    async with pairing.env(svc.handlers()) as env:
        call = env.us("Endless")(b"")
        for i in range(3):
            assert await call.read() == b"tick %d" % i
        assert call.cancel() is True
        assert call.cancelled()
        assert code_name(await call.code()) == "CANCELLED"
        await svc.assert_handler_cancelled()
        sent_at_cancel = svc.sent
        await asyncio.sleep(0.1)
        assert svc.sent == sent_at_cancel, "server kept producing after the cancel"
        assert await env.uu("Echo")(b"ok") == b"ok"


async def test_cancel_unary_in_flight(pairing):
    svc = Service(pairing)
    async with pairing.env(svc.handlers()) as env:
        call = env.uu("Parked")(b"")
        await wait_for_event(svc.started, 5, "handler start")
        assert call.cancel() is True
        assert call.cancelled()
        assert code_name(await call.code()) == "CANCELLED"
        await svc.assert_handler_cancelled()
        assert await env.uu("Echo")(b"ok") == b"ok"


async def test_cancelling_the_awaiting_task_cancels_the_rpc(pairing):
    svc = Service(pairing)
    async with pairing.env(svc.handlers()) as env:
        task = asyncio.ensure_future(env.uu("Parked")(b""))
        await wait_for_event(svc.started, 5, "handler start")
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        else:
            raise AssertionError("the cancelled task returned normally")
        await svc.assert_handler_cancelled()


async def test_cancel_bidi_mid_stream(pairing):
    svc = Service(pairing)
    async with pairing.env(svc.handlers()) as env:
        call = env.ss("BidiEcho")()
        await call.write(b"one")
        assert await call.read() == b"one"
        call.cancel()
        assert code_name(await call.code()) == "CANCELLED"
        await svc.assert_handler_cancelled(grpc_may_end_quietly=True)


async def test_server_abort_mid_stream(pairing):
    svc = Service(pairing)
    async with pairing.env(svc.handlers()) as env:
        call = env.us("AbortMidStream")(b"")
        got = []
        err = None
        try:
            async for message in call:
                got.append(message)
        except pairing.client.AioRpcError as e:
            err = e
        assert got == [b"m0", b"m1", b"m2"]
        assert err is not None and code_name(err.code()) == "ABORTED"
        assert err.details() == "aborted mid-stream ✓"
        assert code_name(await call.code()) == "ABORTED"


async def test_server_abort_mid_bidi(pairing):
    svc = Service(pairing)
    async with pairing.env(svc.handlers()) as env:
        call = env.ss("BidiAbort")()
        await call.write(b"a")
        assert await call.read() == b"a"
        await call.write(b"b")
        assert await call.read() == b"b"
        err = await rpc_error(pairing, call.read(), "RESOURCE_EXHAUSTED")
        assert err.details() == "enough"
