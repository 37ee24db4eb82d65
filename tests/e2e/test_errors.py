"""Errors that need no handler: unknown method/service → UNIMPLEMENTED in every shape; nothing
listening → UNAVAILABLE, fast."""

from __future__ import annotations

import time

import grpc

from e2e.helpers import rpc_error, free_port_refusing


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
