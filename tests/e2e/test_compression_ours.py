"""turbogrpc's compression extensions, which grpc.aio lacks: context.last_request_compressed()
on the server, call.last_response_compressed() on the client, and
`await call.write(message, compress=False)`; also that grpc.Compression values are accepted.

Every test here is marked @ours_only (helpers.py): with TURBOGRPC_TESTS_GRPC_ONLY=1, where
grpc-grpc stands in for `ours_pairing`, these methods do not exist, so the tests are not
collected at all rather than run against something that cannot pass them. Where a flag is
checked, the bytes on the wire (CountingProxy) are checked too, so a flag that merely echoes the
call's setting cannot pass.
"""

from __future__ import annotations

import os

import grpc
import pytest

from e2e.helpers import ours_only
from e2e.wire_meter import assert_crossed, compressible
from e2e.test_compression import proxied

MESSAGE = compressible(256 * 1024)
FLAG = {True: b"compressed", False: b"plain"}


def flag_handlers(pairing):
    """Handlers that answer with what last_request_compressed() said about each request."""
    eof = pairing.server.EOF

    async def unary_flag(request, context):
        return FLAG[context.last_request_compressed()]

    async def stream_flags(request_iterator, context):  # async-for style
        flags = []
        async for _ in request_iterator:
            flags.append(FLAG[context.last_request_compressed()])
        return b",".join(flags)

    async def bidi_flags(request_iterator, context):  # read() style, one answer per request
        while (message := await context.read()) is not eof:
            assert message == MESSAGE
            yield FLAG[context.last_request_compressed()]

    async def respond(request_iterator, context):  # MESSAGE per request; b"plain": uncompressed
        async for command in request_iterator:
            if command == b"plain":
                context.disable_next_message_compression()
            yield MESSAGE

    async def echo(request, context):
        return request

    return {
        "UnaryFlag": grpc.unary_unary_rpc_method_handler(unary_flag),
        "StreamFlags": grpc.stream_unary_rpc_method_handler(stream_flags),
        "BidiFlags": grpc.stream_stream_rpc_method_handler(bidi_flags),
        "Respond": grpc.stream_stream_rpc_method_handler(respond),
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
    }


@ours_only
@pytest.mark.parametrize("algorithm", [None, "gzip", "deflate"])
async def test_last_request_compressed_unary(ours_pairing, algorithm):
    Compression = ours_pairing.client.Compression
    call_compression = {None: None, "gzip": Compression.Gzip, "deflate": Compression.Deflate}
    async with proxied(ours_pairing, flag_handlers(ours_pairing)) as (channel, proxy):
        flag = channel.unary_unary("/test.Svc/UnaryFlag")
        with proxy.measure() as wire:
            answer = await flag(MESSAGE, compression=call_compression[algorithm])
        assert answer == FLAG[algorithm is not None]
        assert_crossed("request", wire.up, len(MESSAGE), compressed=algorithm is not None)
        # Incompressible: the engine sends it as is, and the server sees that.
        assert await flag(os.urandom(64 * 1024), compression=Compression.Gzip) == FLAG[False]


@ours_only
async def test_write_compress_false_and_last_request_compressed_per_message(ours_pairing):
    Compression = ours_pairing.client.Compression
    async with proxied(ours_pairing, flag_handlers(ours_pairing),
                       channel_compression="gzip") as (channel, proxy):
        call = channel.stream_unary("/test.Svc/StreamFlags")()
        for compress in (True, False, True):
            await call.write(MESSAGE, compress=compress)
        await call.done_writing()
        assert await call == b"compressed,plain,compressed"

        # ping-pong, so each request crosses on its own and is measured alone
        call = channel.stream_stream("/test.Svc/BidiFlags")(compression=Compression.Deflate)
        for compress in (False, True, False):
            with proxy.measure() as wire:
                await call.write(MESSAGE, compress=compress)
                assert await call.read() == FLAG[compress]
            assert_crossed(f"request with compress={compress}", wire.up, len(MESSAGE), compress)
        await call.done_writing()
        assert await call.read() is ours_pairing.client.EOF


@ours_only
@pytest.mark.parametrize("algorithm", [None, "gzip", "deflate"])
async def test_last_response_compressed_unary(ours_pairing, algorithm):
    async with proxied(ours_pairing, flag_handlers(ours_pairing),
                       server_compression=algorithm) as (channel, proxy):
        echo = channel.unary_unary("/test.Svc/Echo")
        call = echo(MESSAGE)
        assert not call.last_response_compressed()  # nothing received yet
        with proxy.measure() as wire:
            assert await call == MESSAGE
        assert call.last_response_compressed() is (algorithm is not None)
        assert_crossed("response", wire.down, len(MESSAGE), compressed=algorithm is not None)
        call = echo(os.urandom(64 * 1024))
        await call
        assert call.last_response_compressed() is False, "an incompressible response compressed"


@ours_only
async def test_last_response_compressed_per_message(ours_pairing):
    async with proxied(ours_pairing, flag_handlers(ours_pairing),
                       server_compression="gzip") as (channel, proxy):
        call = channel.stream_stream("/test.Svc/Respond")()
        for command in (b"compressed", b"plain", b"compressed"):
            with proxy.measure() as wire:
                await call.write(command)
                assert await call.read() == MESSAGE
            compressed = command == b"compressed"
            assert call.last_response_compressed() is compressed, command
            assert_crossed(f"{command!r} response", wire.down, len(MESSAGE), compressed)
        await call.done_writing()
        assert await call.read() is ours_pairing.client.EOF


@ours_only
async def test_grpc_compression_values_accepted(ours_pairing):
    async def respond_gzip(request, context):
        context.set_compression(grpc.Compression.Gzip)
        return request

    h = {"Echo": grpc.unary_unary_rpc_method_handler(respond_gzip)}
    async with ours_pairing.serve(h, compression=grpc.Compression.Deflate) as srv:
        async with ours_pairing.connect(srv.target, compression=grpc.Compression.Gzip) as channel:
            call = channel.unary_unary("/test.Svc/Echo")(MESSAGE,
                                                        compression=grpc.Compression.Deflate)
            assert await call == MESSAGE
            assert call.last_response_compressed()


@ours_only
@pytest.mark.parametrize("bad", [3, -1, "gzip", 1.0])
async def test_bad_compression_value_rejected(ours_pairing, bad):
    aio = ours_pairing.client.aio
    with pytest.raises(aio.UsageError, match="compression"):
        aio.insecure_channel("127.0.0.1:1", compression=bad)
    async with ours_pairing.serve({}) as srv:
        async with ours_pairing.connect(srv.target) as channel:
            with pytest.raises(aio.UsageError, match="compression"):
                await channel.unary_unary("/test.Svc/Echo")(b"", compression=bad)
    with pytest.raises(aio.UsageError, match="compression"):
        aio.server(compression=bad)

