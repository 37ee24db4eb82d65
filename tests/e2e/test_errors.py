"""Errors that need no handler: unknown method/service → UNIMPLEMENTED in every shape; nothing
listening → UNAVAILABLE, fast. Serializers that raise, in every shape: the client's request
serializer or response deserializer → INTERNAL on our client; the server's request
deserializer → INTERNAL from our server (UNKNOWN from grpc.aio's); the server keeps serving.
Also: grpcio's except clauses catch our errors; two requests to a unary method → INTERNAL."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from e2e.helpers import Pairing, eventually, free_port_refusing, ours_only, rpc_error


def handlers():
    async def echo(request, context):
        return request

    return {"Echo": grpc.unary_unary_rpc_method_handler(echo)}


async def test_unknown_method_unimplemented(pairing):
    async with pairing.env(handlers()) as env:
        await rpc_error(pairing, env.uu("Nope")(b""), "UNIMPLEMENTED")
        await rpc_error(pairing, env.uu("Echo", service="test.Other")(b""), "UNIMPLEMENTED")
        call = env.us("Nope")(b"")
        await rpc_error(pairing, call.read(), "UNIMPLEMENTED")
        # No requests in flight: grpc.aio's client races when a call ends while its request
        # iterator still writes (test_shapes.test_streams_ended_at_once_by_the_server covers that).
        await rpc_error(pairing, env.su("Nope")(), "UNIMPLEMENTED")
        call = env.ss("Nope")()
        await rpc_error(pairing, call.read(), "UNIMPLEMENTED")
        assert await env.uu("Echo")(b"fine") == b"fine"


async def test_no_handlers_at_all_unimplemented(pairing):
    async with pairing.env([]) as env:
        await rpc_error(pairing, env.uu("Echo")(b""), "UNIMPLEMENTED")


async def test_connection_refused_unavailable(pairing):
    with free_port_refusing() as sock:
        port = sock.getsockname()[1]
        async with pairing.connect(f"127.0.0.1:{port}") as channel:
            started = time.monotonic()
            err = await rpc_error(pairing, channel.unary_unary("/test.Svc/Echo")(b"", timeout=20),
                                  "UNAVAILABLE")
            assert time.monotonic() - started < 5
            assert err.details()
            call = channel.unary_stream("/test.Svc/Echo")(b"", timeout=20)
            await rpc_error(pairing, call.read(), "UNAVAILABLE")


# ---- serializers that raise ------------------------------------------------------------------

SHAPES = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")
# grpc.aio's client logs a raising serializer and sends an empty message instead, and returns
# None for a response its deserializer raised on; ours ends the call INTERNAL. So the tests of
# that run our client only (against both servers), and grpc-only mode does not collect them.
# grpc.aio's server reports a raising request deserializer like a handler exception.
GRPC_SERVER_DESERIALIZE_CODE = "UNKNOWN"


def boom(message):
    raise ValueError("boom")


def echo_handlers():
    """An echo per shape, named after it, and the same with a raising request deserializer
    ("bad_" + shape)."""
    async def echo(request, context):
        return request

    async def repeat(request, context):
        yield request

    async def concat(request_iterator, context):
        return b"".join([m async for m in request_iterator])

    async def bidi(request_iterator, context):
        async for message in request_iterator:
            yield message

    kinds = {"unary_unary": (grpc.unary_unary_rpc_method_handler, echo),
             "unary_stream": (grpc.unary_stream_rpc_method_handler, repeat),
             "stream_unary": (grpc.stream_unary_rpc_method_handler, concat),
             "stream_stream": (grpc.stream_stream_rpc_method_handler, bidi)}
    handlers = {}
    for shape, (make, behaviour) in kinds.items():
        handlers[shape] = make(behaviour)
        handlers["bad_" + shape] = make(behaviour, request_deserializer=boom)
    return handlers


def start_call(env, shape, method=None, **multicallable_kwargs):
    """A call of `shape` to `method` (default: the echo of that shape) sending b"x"."""
    path = f"/test.Svc/{method or shape}"
    multicallable = getattr(env.channel, shape)(path, **multicallable_kwargs)
    return multicallable(b"x" if shape.startswith("unary_") else iter([b"x"]))


def outcome(shape, call):
    """What to await for the call's (first) response."""
    return call.read() if shape.endswith("_stream") else call


@ours_only
@pytest.mark.parametrize("shape", SHAPES)
async def test_request_serializer_raising(our_client_pairing, shape):
    pairing = our_client_pairing
    async with pairing.env(echo_handlers()) as env:
        call = start_call(env, shape, request_serializer=boom)
        err = await rpc_error(pairing, outcome(shape, call), "INTERNAL")
        assert "serializing" in err.details(), err.details()
        assert await env.uu("unary_unary")(b"fine") == b"fine"


@ours_only
@pytest.mark.parametrize("when", ["while running", "after the end"])
@pytest.mark.parametrize("shape", SHAPES)
async def test_response_deserializer_raising(our_client_pairing, shape, when):
    pairing = our_client_pairing
    async with pairing.env(echo_handlers()) as env:
        call = start_call(env, shape, response_deserializer=boom)
        if when == "after the end":
            # The status (OK) is in before the response is deserialized: still INTERNAL.
            await eventually(call.done, what="the call's end")
        err = await rpc_error(pairing, outcome(shape, call), "INTERNAL")
        assert "deserializing" in err.details(), err.details()
        assert await env.uu("unary_unary")(b"fine") == b"fine"


@pytest.mark.parametrize("shape", SHAPES)
async def test_server_request_deserializer_raising(pairing, shape):
    expected = "INTERNAL" if pairing.server.is_ours else GRPC_SERVER_DESERIALIZE_CODE
    async with pairing.env(echo_handlers()) as env:
        call = start_call(env, shape, method="bad_" + shape)
        err = await rpc_error(pairing, outcome(shape, call), expected)
        if pairing.server.is_ours:
            assert "deserializing" in err.details(), err.details()
        assert await env.uu("unary_unary")(b"fine") == b"fine"


async def test_grpcio_except_clauses_catch_our_errors(pairing):
    """Code written for grpc.aio catches failed RPCs with grpcio's classes; it must keep doing
    so when the channel is ours, in the unary and the streaming shapes."""
    async with pairing.env(handlers()) as env:
        with pytest.raises(grpc.RpcError) as info:
            await env.uu("Nope")(b"")
        assert isinstance(info.value, grpc.aio.AioRpcError)
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
        try:
            await env.us("Nope")(b"").read()
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.UNIMPLEMENTED
        else:
            raise AssertionError("the streaming call did not fail")


@ours_only
@pytest.mark.parametrize("pairing_id", ["ours-ours", "grpc-ours"])
async def test_second_request_to_unary_method_is_internal(pairing_id):
    """A unary method takes one request; our server answers more with INTERNAL instead of
    dropping the rest (grpc.aio's server silently uses the first). The handler is still running
    when the second request comes, so the answer does not race with its reply."""
    pairing = Pairing(pairing_id)

    async def slow_echo(request, context):
        await asyncio.sleep(0.3)
        return request

    async with pairing.env({"Echo": grpc.unary_unary_rpc_method_handler(slow_echo)}) as env:
        call = env.su("Echo")(iter([b"one", b"two"]))
        error = await rpc_error(pairing, call, "INTERNAL")
        assert "sent more" in error.details()
        assert await env.uu("Echo")(b"fine") == b"fine"  # the connection serves on
