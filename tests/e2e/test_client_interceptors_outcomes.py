"""Client interceptors (grpc.aio's API), unary-unary outcomes: an interceptor raising, status
and metadata through the intercepted call, cancellation before and after the RPC started (and
of the awaiting task), done callbacks, time_remaining(), channel close while an interceptor
waits. Expectations are grpc.aio's (its client_unary_unary_interceptor_test.py covers the same)."""

from __future__ import annotations

import asyncio

import pytest

from e2e.helpers import code_name, eventually, md_values, rpc_error, wait_for_event
from e2e.test_client_interceptors import LOCALLY_CANCELLED, Service, intercepted, passing, uu


async def test_interceptor_raising(pairing):
    aio = pairing.client.aio

    class Boom(aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, details, request):
            raise ValueError("boom")

    service = Service()
    async with intercepted(pairing, service, [Boom()]) as channel:
        call = uu(channel, "Echo")(b"x")
        with pytest.raises(ValueError, match="boom"):
            await call
        assert call.done() and not call.cancelled() and not call.cancel()
        with pytest.raises(ValueError, match="boom"):
            await call.code()
        done = []
        call.add_done_callback(done.append)
        assert done == [call]
    assert service.seen == []


@pytest.mark.parametrize("interceptor_awaits", [False, True])
async def test_status_and_metadata_through_the_intercepted_call(pairing, interceptor_awaits):
    # The interceptor returns the failed call, or awaits it and lets its AioRpcError escape:
    # either way the caller sees the RPC's status, details and both metadata.
    aio = pairing.client.aio

    class Interceptor(aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, details, request):
            call = await continuation(details, request)
            if interceptor_awaits:
                await call
            return call

    async with intercepted(pairing, Service(), [Interceptor()]) as channel:
        call = uu(channel, "Status")(b"")
        err = await rpc_error(pairing, call, "NOT_FOUND")
        assert err.details() == "no such thing"
        assert call.done() and not call.cancelled()
        assert code_name(await call.code()) == "NOT_FOUND"
        assert await call.details() == "no such thing"
        assert md_values(await call.initial_metadata(), "x-initial") == ["i"]
        assert md_values(await call.trailing_metadata(), "x-trailing") == ["t"]


async def test_cancel_while_the_interceptor_waits(pairing):
    aio = pairing.client.aio
    reached = asyncio.Event()
    never = asyncio.Event()

    class Hold(aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, details, request):
            reached.set()
            await never.wait()
            return await continuation(details, request)

    service = Service()
    async with intercepted(pairing, service, [Hold()]) as channel:
        call = uu(channel, "Echo")(b"")
        assert not call.done() and not call.cancelled()
        await wait_for_event(reached)
        assert call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert call.cancelled() and call.done() and not call.cancel()
        assert code_name(await call.code()) == "CANCELLED"
        assert await call.details() == LOCALLY_CANCELLED
        assert await call.initial_metadata() is None
        assert await call.trailing_metadata() is None
    assert service.seen == []


async def test_cancel_after_the_rpc_started(pairing):
    aio = pairing.client.aio
    service = Service()
    async with intercepted(pairing, service, [passing(aio)]) as channel:
        call = uu(channel, "Park")(b"")
        await wait_for_event(service.parked)
        assert call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert call.cancelled() and call.done()
        assert code_name(await call.code()) == "CANCELLED"
        assert await call.details() == LOCALLY_CANCELLED
        await wait_for_event(service.cancelled, what="server-side cancellation")


async def test_cancelling_the_awaiting_task_cancels_the_rpc(pairing):
    aio = pairing.client.aio
    service = Service()
    async with intercepted(pairing, service, [passing(aio)]) as channel:
        call = uu(channel, "Park")(b"")

        async def wait():
            return await call

        task = asyncio.ensure_future(wait())
        await wait_for_event(service.parked)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await wait_for_event(service.cancelled, what="server-side cancellation")
        assert code_name(await call.code()) == "CANCELLED"


async def test_done_callbacks(pairing):
    aio = pairing.client.aio
    gate = asyncio.Event()

    class Gate(aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, details, request):
            await gate.wait()
            return await continuation(details, request)

    async with intercepted(pairing, Service(), [Gate()]) as channel:
        pending = uu(channel, "Echo")(b"1")
        early = []
        pending.add_done_callback(early.append)  # while the interceptor still waits
        gate.set()
        assert await pending == b"1"
        await eventually(lambda: early == [pending], what="done callback")

        running = uu(channel, "Echo")(b"2")
        before_await = []
        running.add_done_callback(before_await.append)
        assert await running == b"2"
        await eventually(lambda: before_await == [running], what="done callback")
        after = []
        running.add_done_callback(after.append)  # already done: called at once
        assert after == [running]


async def test_time_remaining(pairing):
    aio = pairing.client.aio
    async with intercepted(pairing, Service(), [passing(aio)]) as channel:
        call = uu(channel, "Echo")(b"", timeout=30)
        if pairing.client.is_ours:
            assert 25 < call.time_remaining() <= 30
            await call
            assert 0 < call.time_remaining() <= 30
        else:  # grpc.aio's intercepted calls do not implement it
            with pytest.raises(NotImplementedError):
                call.time_remaining()
            await call


async def test_channel_close_cancels_a_waiting_interceptor(pairing):
    aio = pairing.client.aio
    reached = asyncio.Event()
    never = asyncio.Event()

    class Hold(aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, details, request):
            reached.set()
            await never.wait()
            return await continuation(details, request)

    async with pairing.serve(Service().handlers()) as srv:
        async with pairing.connect(srv.target, interceptors=[Hold()]) as channel:
            call = uu(channel, "Echo")(b"")
            await wait_for_event(reached)
            await channel.close()
            with pytest.raises(asyncio.CancelledError):
                await call
            assert call.cancelled()


async def test_call_credentials_refused_on_an_insecure_channel(pairing):
    # The RPC starts in the continuation, so the refusal reaches the caller through the chain.
    aio = pairing.client.aio
    service = Service()
    creds = pairing.client.lib.access_token_call_credentials("tok")
    async with intercepted(pairing, service, [passing(aio)]) as channel:
        call = uu(channel, "Echo")(b"", credentials=creds)
        with pytest.raises(aio.UsageError,
                           match="^Call credentials are only valid on secure channels$"):
            await call
        assert call.done()
        assert await uu(channel, "Echo")(b"ok") == b"ok"
    assert len(service.seen) == 1
