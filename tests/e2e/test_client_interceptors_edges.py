"""Client interceptors at the edges of what they may hand back (our channel): an interceptor
written as a plain ``def`` returning an awaitable, metadata given as pairs instead of a
Metadata, a method that is not a path, and a chain that suspends before it returns."""

from __future__ import annotations

import asyncio

import pytest

from e2e.helpers import md_values, ours_only
from e2e.test_client_interceptors import Service, intercepted, uu


class PlainDef:
    """Not ``async def``: returns the continuation's awaitable, which the channel awaits."""

    def __init__(self, aio):
        self.aio = aio

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(details._replace(metadata=(("x-pairs", "given as pairs"),)), request)


@ours_only
async def test_plain_def_interceptor_and_metadata_pairs(ours_pairing):
    aio = ours_pairing.client.aio
    interceptor = type("P", (PlainDef, aio.UnaryUnaryClientInterceptor), {})(aio)
    service = Service()
    async with intercepted(ours_pairing, service, [interceptor]) as channel:
        assert await uu(channel, "Echo")(b"x", timeout=5) == b"x"
    assert md_values(service.seen[0], "x-pairs") == ["given as pairs"]


@ours_only
@pytest.mark.parametrize("method", ["no-slash", 42])
async def test_method_that_is_not_a_path_is_a_usage_error(ours_pairing, method):
    aio = ours_pairing.client.aio

    class BadMethod(aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, details, request):
            return await continuation(details._replace(method=method), request)

    async with intercepted(ours_pairing, Service(), [BadMethod()]) as channel:
        with pytest.raises(aio.UsageError, match="must be a path"):
            await uu(channel, "Echo")(b"x", timeout=5)


@ours_only
async def test_chain_that_suspends_first_still_returns_its_call(ours_pairing):
    aio = ours_pairing.client.aio
    order = []

    class Slow(aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, details, request):
            order.append("before")
            await asyncio.sleep(0.01)  # the rest of the chain runs in a Task
            call = await continuation(details, request)
            order.append("after")
            return call

    async with intercepted(ours_pairing, Service(), [Slow()]) as channel:
        call = uu(channel, "Echo")(b"slow", timeout=5)
        assert await call == b"slow"
        assert await call.code() == aio.StatusCode.OK
        assert await call.details() == ""
    assert order == ["before", "after"]


@ours_only
async def test_intercepted_call_reports_through_every_accessor(ours_pairing):
    aio = ours_pairing.client.aio
    release = asyncio.Event()

    class Gate(aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, details, request):
            await release.wait()
            return await continuation(details, request)

    class Refuse(aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, details, request):
            raise aio.AioRpcError(aio.StatusCode.PERMISSION_DENIED, aio.Metadata(),
                                  aio.Metadata(), "no", "refused here")

    async with intercepted(ours_pairing, Service(), [Gate()]) as channel:
        call = uu(channel, "Echo")(b"x", timeout=30)
        assert "interceptors running" in repr(call)
        assert 0 < call.time_remaining() <= 30  # the caller's timeout, while the chain runs
        assert call.last_response_compressed() is False
        release.set()
        await call.wait_for_connection()
        assert await call == b"x"
        assert "of <" in repr(call)
        assert not await call.debug_error_string()  # an OK call has none
        assert call.last_response_compressed() is False
    async with intercepted(ours_pairing, Service(), [Refuse()]) as channel:
        call = uu(channel, "Echo")(b"x", timeout=5)
        with pytest.raises(aio.AioRpcError):
            await call
        assert "raised" in repr(call)
        assert await call.debug_error_string() == "refused here"
        assert await call.details() == "no"
        assert call.time_remaining() is not None
