"""Metadata both ways: ASCII and -bin (arbitrary bytes), repeated keys, initial and trailing,
on success and in AioRpcError; reserved keys rejected by our client."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from e2e.helpers import md_pairs, md_values, rpc_error

BIN = bytes(range(256)) + b"\x00\x00\xff"
CLIENT_MD = (
    ("x-ascii", "hello, world"),
    ("x-multi", "one"),
    ("x-multi", "two"),
    ("x-data-bin", BIN),
    ("x-empty-bin", b""),
)
INITIAL_MD = (("x-init", "i1"), ("x-init-bin", b"\x00\x01\xfe\xff"))
TRAILING_MD = (("x-trail", "t1"), ("x-trail-bin", b"\xff\x00" * 10))


def assert_has(md, expected):
    pairs = md_pairs(md)
    for pair in expected:
        assert pair in pairs, f"{pair!r} missing from {pairs!r}"


def handlers(pairing, seen: list):
    codes = pairing.server.StatusCode

    async def unary(request, context):
        seen.append(tuple(md_pairs(context.invocation_metadata())))
        await context.send_initial_metadata(INITIAL_MD)
        context.set_trailing_metadata(TRAILING_MD)
        return request

    async def unary_sets_code(request, context):
        await context.send_initial_metadata(INITIAL_MD)
        context.set_trailing_metadata(TRAILING_MD)
        context.set_code(codes.FAILED_PRECONDITION)
        context.set_details("with metadata")
        return b""

    async def unary_aborts(request, context):
        await context.send_initial_metadata(INITIAL_MD)
        await context.abort(codes.NOT_FOUND, "aborted with metadata", trailing_metadata=TRAILING_MD)

    async def unary_aborts_trailers_only(request, context):
        await context.abort(codes.PERMISSION_DENIED, "trailers only", trailing_metadata=TRAILING_MD)

    async def stream(request, context):
        seen.append(tuple(md_pairs(context.invocation_metadata())))
        await context.send_initial_metadata(INITIAL_MD)
        # No message until the client confirms it got the headers on their own.
        await gate.wait()
        yield b"after-headers"
        context.set_trailing_metadata(TRAILING_MD)

    async def bidi(request_iterator, context):
        seen.append(tuple(md_pairs(context.invocation_metadata())))
        context.set_trailing_metadata(TRAILING_MD)
        async for message in request_iterator:
            yield message

    gate = asyncio.Event()
    return gate, {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "UnarySetsCode": grpc.unary_unary_rpc_method_handler(unary_sets_code),
        "UnaryAborts": grpc.unary_unary_rpc_method_handler(unary_aborts),
        "UnaryAbortsTrailersOnly": grpc.unary_unary_rpc_method_handler(unary_aborts_trailers_only),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
    }


async def test_unary_metadata_both_ways(pairing):
    seen = []
    _, h = handlers(pairing, seen)
    async with pairing.env(h) as env:
        call = env.uu("Unary")(b"req", metadata=CLIENT_MD)
        assert await call == b"req"
        assert_has(await call.initial_metadata(), INITIAL_MD)
        assert_has(await call.trailing_metadata(), TRAILING_MD)
    assert_has(seen[0], CLIENT_MD)
    # repeated keys keep their order
    assert md_values(seen[0], "x-multi") == ["one", "two"]
    assert md_values(seen[0], "x-data-bin") == [BIN]
    assert isinstance(md_values(seen[0], "x-ascii")[0], str)


async def test_grpc_aio_metadata_object_is_accepted(pairing):
    seen = []
    _, h = handlers(pairing, seen)
    md = pairing.client.aio.Metadata(*CLIENT_MD)
    async with pairing.env(h) as env:
        assert await env.uu("Unary")(b"r", metadata=md) == b"r"
    assert_has(seen[0], CLIENT_MD)


async def test_initial_metadata_arrives_before_any_message(pairing):
    seen = []
    gate, h = handlers(pairing, seen)
    async with pairing.env(h) as env:
        call = env.us("Stream")(b"", metadata=CLIENT_MD)
        initial = await asyncio.wait_for(call.initial_metadata(), 5)
        assert_has(initial, INITIAL_MD)
        gate.set()
        assert [m async for m in call] == [b"after-headers"]
        assert_has(await call.trailing_metadata(), TRAILING_MD)
    assert_has(seen[0], CLIENT_MD)


async def test_bidi_metadata(pairing):
    seen = []
    _, h = handlers(pairing, seen)
    async with pairing.env(h) as env:
        call = env.ss("Bidi")(iter([b"a", b"b"]), metadata=CLIENT_MD)
        assert [m async for m in call] == [b"a", b"b"]
        assert_has(await call.trailing_metadata(), TRAILING_MD)
    assert_has(seen[0], CLIENT_MD)


async def test_metadata_in_error_set_code(pairing):
    _, h = handlers(pairing, [])
    async with pairing.env(h) as env:
        err = await rpc_error(pairing, env.uu("UnarySetsCode")(b""), "FAILED_PRECONDITION")
        assert err.details() == "with metadata"
        assert_has(err.initial_metadata(), INITIAL_MD)
        assert_has(err.trailing_metadata(), TRAILING_MD)


async def test_metadata_in_error_abort(pairing):
    _, h = handlers(pairing, [])
    async with pairing.env(h) as env:
        call = env.uu("UnaryAborts")(b"")
        err = await rpc_error(pairing, call, "NOT_FOUND")
        assert err.details() == "aborted with metadata"
        assert_has(err.initial_metadata(), INITIAL_MD)
        assert_has(err.trailing_metadata(), TRAILING_MD)
        # the call object agrees with the exception
        assert_has(await call.trailing_metadata(), TRAILING_MD)
        assert (await call.code()).name == "NOT_FOUND"


async def test_metadata_in_error_trailers_only(pairing):
    _, h = handlers(pairing, [])
    async with pairing.env(h) as env:
        err = await rpc_error(pairing, env.uu("UnaryAbortsTrailersOnly")(b""), "PERMISSION_DENIED")
        assert err.details() == "trailers only"
        assert_has(err.trailing_metadata(), TRAILING_MD)
        assert not md_values(err.initial_metadata(), "x-init")


@pytest.mark.parametrize("key", [":authority", ":path", "grpc-timeout", "grpc-status",
                                 "content-type", "te", "connection"])
async def test_reserved_key_rejected_by_our_client(ours_pairing, key):
    if not ours_pairing.client.is_ours:
        pytest.skip("grpc.aio silently drops or overrides most reserved keys; only we reject them")
    _, h = handlers(ours_pairing, [])
    async with ours_pairing.env(h) as env:
        with pytest.raises(Exception) as info:  # noqa: PT011 - the type is ours to pick; the text matters
            await env.uu("Unary")(b"", metadata=((key, "x"),))
        assert key in str(info.value), f"error does not name the key: {info.value!r}"
        # the channel is still usable
        assert await env.uu("Unary")(b"ok") == b"ok"
