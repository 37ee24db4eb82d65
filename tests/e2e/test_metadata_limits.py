"""Metadata at and above the header-list limits, both directions (docs/limits.md): under the
8 KiB soft limit it always passes; over the 16 KiB hard limit the call ends RESOURCE_EXHAUSTED
and the channel goes on; `grpc.max_metadata_size` / `grpc.absolute_max_metadata_size` raise
the limits on our side. (Between the limits a block is refused at random, as in grpc-core, so
no test sits there.)"""

from __future__ import annotations

import grpc
import pytest

from e2e.helpers import code_name, md_values, rpc_error

UNDER = 6 * 1024
OVER = 20 * 1024


def handlers(trailing_size):
    async def echo(request, context):
        if trailing_size[0]:
            context.set_trailing_metadata((("x-trail", "t" * trailing_size[0]),))
        return request

    return {"Echo": grpc.unary_unary_rpc_method_handler(echo)}


async def test_request_metadata_under_and_over_the_limit(pairing):
    async with pairing.env(handlers([0])) as env:
        echo = env.uu("Echo")
        assert await echo(b"under", metadata=(("x-big", "u" * UNDER),)) == b"under"
        if pairing.server.is_ours or not pairing.client.is_ours:
            # grpc.aio's server accepts 20 KB from our client; grpc-core's client refuses it itself
            await rpc_error(pairing, echo(b"over", metadata=(("x-big", "o" * OVER),)),
                            "RESOURCE_EXHAUSTED")
        assert await echo(b"after") == b"after"


async def test_response_metadata_under_and_over_the_limit(pairing):
    size = [UNDER]
    async with pairing.env(handlers(size)) as env:
        echo = env.uu("Echo")
        call = echo(b"under")
        assert await call == b"under"
        assert md_values(await call.trailing_metadata(), "x-trail") == ["t" * UNDER]
        size[0] = OVER
        await rpc_error(pairing, echo(b"over"), "RESOURCE_EXHAUSTED")
        size[0] = 0
        assert await echo(b"after") == b"after"


@pytest.mark.parametrize("direction", ["request", "response"])
async def test_raised_limits_let_larger_metadata_through(ours_pairing, direction):
    raised = [("grpc.max_metadata_size", 64 * 1024), ("grpc.absolute_max_metadata_size", 64 * 1024)]
    size = [OVER if direction == "response" else 0]
    async with ours_pairing.env(handlers(size), server_options=raised, channel_options=raised) as env:
        metadata = (("x-big", "r" * OVER),) if direction == "request" else None
        call = env.uu("Echo")(b"raised", metadata=metadata)
        assert await call == b"raised"
        assert code_name(await call.code()) == "OK"
