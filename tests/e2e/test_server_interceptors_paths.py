"""Server interceptors, continued (see test_server_interceptors.py): contextvars shared by the
interceptors and the handler, interceptors that suspend, calls cancelled in an interceptor or
behind one, interceptors in front of generic, dictionary and registered method handlers, and
continuations asked for another method.
"""

from __future__ import annotations

import asyncio
import collections

import grpc
import pytest

from e2e.helpers import SERVICE, eventually, ours_only, rpc_error
from e2e.test_server_interceptors import (
    EXPECTED, REQUEST_ID, Call, Recorder, all_shapes, count_to, echo, handlers,
)


# ---- contextvars --------------------------------------------------------------------------------

@pytest.mark.parametrize("suspends", [False, True], ids=["eager", "suspending"])
async def test_contextvars_reach_the_handler(pairing, suspends):
    calls = 0

    async def tag(continuation, details):
        nonlocal calls
        calls += 1
        number = calls
        if suspends:
            await asyncio.sleep(0.01)
        assert REQUEST_ID.get() == "unset"  # a fresh context per call: nothing left over
        REQUEST_ID.set(f"call-{number}")
        return await continuation(details)

    async with pairing.env(handlers(), interceptors=[Call(tag)]) as env:
        assert await env.uu("RequestId")(b"", timeout=10) == b"call-1"
        assert await env.uu("RequestIdLater")(b"", timeout=10) == b"call-2"
        assert [m async for m in env.us("RequestIdStream")(b"", timeout=10)] == [b"call-3"] * 2
        together = await asyncio.gather(*(env.uu("RequestIdLater")(b"", timeout=10)
                                          for _ in range(5)))
        assert sorted(together) == [b"call-%d" % i for i in range(4, 9)]


async def test_contextvars_pass_down_the_chain(pairing):
    seen = []

    async def outer(continuation, details):
        REQUEST_ID.set("from outer")
        return await continuation(details)

    async def inner(continuation, details):
        seen.append(REQUEST_ID.get())
        return await continuation(details)

    async with pairing.env(handlers(), interceptors=[Call(outer), Call(inner)]) as env:
        assert await env.uu("RequestId")(b"", timeout=10) == b"from outer"
    assert seen == ["from outer"]


# ---- suspending interceptors --------------------------------------------------------------------

async def test_suspending_interceptor_every_shape(pairing):
    log = []

    async def slow(continuation, details):
        await asyncio.sleep(0.005)
        handler = await continuation(details)
        await asyncio.sleep(0)
        log.append(details.method.rsplit("/", 1)[1])
        return handler

    async with pairing.env(handlers(), interceptors=[Call(slow), Recorder("r", [])]) as env:
        assert await all_shapes(env) == EXPECTED
    assert log == list(EXPECTED)


async def test_client_gone_while_interceptor_waits(pairing):
    entered = asyncio.Event()
    outcome = []

    async def blocks(continuation, details):
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise
        return await continuation(details)  # pragma: no cover

    async with pairing.env(handlers(), interceptors=[Call(blocks)]) as env:
        call = env.uu("Echo")(b"x", timeout=10)
        await asyncio.wait_for(entered.wait(), 5)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await eventually(lambda: outcome == ["cancelled"], what="interceptor cancelled")
        # the server carries on
        entered.clear()
        await rpc_error(pairing, env.uu("Echo")(b"x", timeout=0.3), "DEADLINE_EXCEEDED")
        await eventually(lambda: outcome == ["cancelled"] * 2, what="interceptor cancelled")


async def test_client_gone_while_handler_waits_behind_interceptor(pairing):
    entered = asyncio.Event()
    outcome = []

    async def blocked(request, context):
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    async with pairing.env({"Blocked": grpc.unary_unary_rpc_method_handler(blocked),
                            "Echo": grpc.unary_unary_rpc_method_handler(echo)},
                           interceptors=[Recorder("r", [])]) as env:
        call = env.uu("Blocked")(b"x", timeout=10)
        await asyncio.wait_for(entered.wait(), 5)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await eventually(lambda: outcome == ["cancelled"], what="handler cancelled")
        assert await env.uu("Echo")(b"x", timeout=10) == b"x"


# ---- with generic, dictionary and registered handlers -------------------------------------------

class _Prefixed(grpc.GenericRpcHandler):
    """A computed generic handler: serves any method of test.Other by echoing with its name."""

    def service(self, handler_call_details):
        if not handler_call_details.method.startswith("/test.Other/"):
            return None
        name = handler_call_details.method.rsplit("/", 1)[1]

        async def named(request, context):
            return name.encode() + b":" + request
        return grpc.unary_unary_rpc_method_handler(named)


async def test_generic_dictionary_and_registered_handlers(pairing):
    log = []

    async def registered(request, context):
        return b"registered:" + request

    def register(server):
        server.add_generic_rpc_handlers((
            grpc.method_handlers_generic_handler(SERVICE, handlers()), _Prefixed()))
        server.add_registered_method_handlers(
            "test.Registered", {"Echo": grpc.unary_unary_rpc_method_handler(registered),
                                "Count": grpc.unary_stream_rpc_method_handler(count_to)})
        server.add_registered_method_handlers(
            SERVICE, {"EchoSync": grpc.unary_unary_rpc_method_handler(registered)})

    async with pairing.env(register, interceptors=[Recorder("r", log)]) as env:
        assert await env.uu("Echo")(b"x", timeout=10) == b"x"
        assert await env.uu("EchoSync")(b"x", timeout=10) == b"registered:x"  # registered wins
        assert await env.uu("Echo", service="test.Registered")(b"x", timeout=10) == (
            b"registered:x")
        assert [m async for m in env.us("Count", service="test.Registered")(
            b"2", timeout=10)] == [b"m0", b"m1"]
        assert await env.uu("Anything", service="test.Other")(b"x", timeout=10) == (
            b"Anything:x")
        await rpc_error(pairing, env.uu("Nope", service="test.Nobody")(b"x", timeout=10),
                        "UNIMPLEMENTED")
    assert log == ["r>", "<r"] * 6


async def test_continuation_for_another_method(pairing):
    """The continuation looks up whatever method the details it gets name (grpc.aio does).
    grpc.aio takes only its own details type there: build one like the one received."""
    async def reroute(continuation, details):
        Details = type(details)
        if details.method.endswith("/Old"):
            details = Details(f"/{SERVICE}/Echo", details.invocation_metadata)
        elif details.method.endswith("/Computed"):
            details = Details("/test.Other/Renamed", details.invocation_metadata)
        elif details.method.endswith("/OldStream"):
            details = Details(f"/{SERVICE}/Count", details.invocation_metadata)
        return await continuation(details)

    def register(server):
        server.add_generic_rpc_handlers((
            grpc.method_handlers_generic_handler(SERVICE, handlers()), _Prefixed()))

    async with pairing.env(register, interceptors=[Call(reroute)]) as env:
        assert await env.uu("Old")(b"x", timeout=10) == b"x"
        assert await env.uu("Computed")(b"x", timeout=10) == b"Renamed:x"
        assert [m async for m in env.us("OldStream")(b"2", timeout=10)] == [b"m0", b"m1"]


@ours_only
async def test_continuation_takes_any_details_object(ours_pairing):
    """Our server also takes details of the interceptor's own making (grpc.aio raises
    TypeError for anything but its internal class; grpc's sync server takes any)."""
    Details = collections.namedtuple("Details", ("method", "invocation_metadata"))

    async def reroute(continuation, details):
        return await continuation(Details(f"/{SERVICE}/Echo", ()))

    async with ours_pairing.env(handlers(), interceptors=[Call(reroute)]) as env:
        assert await env.uu("Old")(b"x", timeout=10) == b"x"


async def test_interceptor_with_concurrent_calls(pairing):
    async def maybe_wait(continuation, details):
        if ("wait", "yes") in details.invocation_metadata:
            await asyncio.sleep(0.002)
        return await continuation(details)

    async with pairing.env(handlers(), interceptors=[Call(maybe_wait)]) as env:
        calls = [env.uu("Echo")(b"%d" % i, metadata=(("wait", "yes" if i % 2 else "no"),),
                                timeout=10) for i in range(50)]
        assert await asyncio.gather(*calls) == [b"%d" % i for i in range(50)]
