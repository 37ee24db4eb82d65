"""Message compression on every pairing, proven on the wire.

Every call here goes through a CountingProxy (wire_meter.py), which counts the bytes crossing
127.0.0.1 per direction. Compressible messages (repeated text) cross in a small fraction of
their size when compressed and in at least their size when not, so each test checks both that
the payloads round-trip intact and that compression did (or did not) happen in each direction,
whatever stacks sit on either side. This holds for grpc.aio on both sides too, so the tests are
validated with TURBOGRPC_TESTS_GRPC_ONLY=1.

Where grpc.aio (1.85) falls short of its documented API, the test says so where it lets
grpc.aio off (two places); our stack always gets the documented behaviour.
The turbogrpc extensions (last_request_compressed, last_response_compressed,
write(compress=False)) are in test_compression_ours.py.
"""

from __future__ import annotations

import contextlib
import os

import grpc
import pytest

from e2e.helpers import MiB
from e2e.wire_meter import CountingProxy, assert_crossed, compressible

KiB = 1024
ALGORITHMS = ("gzip", "deflate")
ENUM_NAMES = {"gzip": "Gzip", "deflate": "Deflate", "none": "NoCompression"}
# grpcio drops a per-call compression=NoCompression (it is falsy: `if compression:`), so a grpc.aio
# client keeps the channel's default. With a grpc.aio client the test sends instead what grpcio
# means to send: the internal metadata key grpc-core reads.
GRPC_CLIENT_NO_COMPRESSION_METADATA = (("grpc-internal-encoding-request", "identity"),)


def compression(stack, name: str | None):
    """`stack`'s Compression member for "gzip", "deflate" or "none"; None stays None (unset)."""
    return None if name is None else getattr(stack.Compression, ENUM_NAMES[name])


def handlers(pairing):
    """Echo in each shape. A request carrying metadata x-set-compression: <name> makes the
    handler call context.set_compression() first."""
    server = pairing.server

    def maybe_set_compression(context):
        for key, value in context.invocation_metadata():
            if key == "x-set-compression":
                context.set_compression(compression(server, value))

    async def echo(request, context):
        maybe_set_compression(context)
        return request

    async def repeat(request, context):  # the request, three times
        maybe_set_compression(context)
        for _ in range(3):
            yield request

    async def concat(request_iterator, context):
        maybe_set_compression(context)
        return b"".join([m async for m in request_iterator])

    async def bidi_echo(request_iterator, context):
        maybe_set_compression(context)
        async for message in request_iterator:
            yield message

    return {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "Repeat": grpc.unary_stream_rpc_method_handler(repeat),
        "Concat": grpc.stream_unary_rpc_method_handler(concat),
        "BidiEcho": grpc.stream_stream_rpc_method_handler(bidi_echo),
    }


SHAPES = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")
METHODS = {"unary_unary": "Echo", "unary_stream": "Repeat", "stream_unary": "Concat",
           "stream_stream": "BidiEcho"}


def request_count(shape: str) -> int:
    return 1 if shape.startswith("unary_") else 3


def expected_responses(shape: str, requests: list[bytes]) -> list[bytes]:
    return {"unary_unary": requests, "unary_stream": requests * 3,
            "stream_unary": [b"".join(requests)], "stream_stream": requests}[shape]


async def exchange(channel, shape: str, requests: list[bytes], **call_kwargs) -> list[bytes]:
    """One call of `shape` with `requests`; its responses."""
    multicallable = getattr(channel, shape)(f"/test.Svc/{METHODS[shape]}")
    if shape == "unary_unary":
        return [await multicallable(requests[0], **call_kwargs)]
    if shape == "unary_stream":
        return [m async for m in multicallable(requests[0], **call_kwargs)]
    if shape == "stream_unary":
        return [await multicallable(iter(requests), **call_kwargs)]
    return [m async for m in multicallable(iter(requests), **call_kwargs)]


@contextlib.asynccontextmanager
async def proxied(pairing, h=None, *, server_compression=None, channel_compression=None):
    """A server with handlers `h` (default: the echoes above) and `server_compression`, a
    CountingProxy in front of it, and a channel through the proxy with `channel_compression`
    (names as in ENUM_NAMES; None leaves it unset): yields (channel, proxy)."""
    server_kwargs = {}
    if server_compression is not None:
        server_kwargs["compression"] = compression(pairing.server, server_compression)
    channel_kwargs = {}
    if channel_compression is not None:
        channel_kwargs["compression"] = compression(pairing.client, channel_compression)
    async with pairing.serve(h or handlers(pairing), **server_kwargs) as srv:
        async with CountingProxy(srv.port) as proxy:
            async with pairing.connect(proxy.target, **channel_kwargs) as channel:
                yield channel, proxy


# mode -> (requests compressed, responses compressed)
MODES = {
    "channel": (True, False),   # insecure_channel(compression=)
    "call": (True, False),      # stub call compression=
    "server": (False, True),    # server(compression=)
    "context": (False, True),   # context.set_compression() in the handler
    "both": (True, True),       # channel and server defaults at once
}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("shape", SHAPES)
async def test_compressed_round_trip(pairing, shape, mode, algorithm):
    requests = [compressible(200 * KiB, seed=i) for i in range(request_count(shape))]
    call_kwargs = {}
    if mode == "call":
        call_kwargs["compression"] = compression(pairing.client, algorithm)
    if mode == "context":
        call_kwargs["metadata"] = (("x-set-compression", algorithm),)
    requests_compressed, responses_compressed = MODES[mode]
    if mode == "context" and shape.endswith("_unary") and not pairing.server.is_ours:
        # grpc.aio's server ignores context.set_compression() for a unary response (its unary
        # path sends the initial metadata without the choice); streamed responses honour it.
        responses_compressed = False
    async with proxied(
            pairing,
            server_compression=algorithm if mode in ("server", "both") else None,
            channel_compression=algorithm if mode in ("channel", "both") else None) as (channel,
                                                                                       proxy):
        with proxy.measure() as wire:
            responses = await exchange(channel, shape, requests, **call_kwargs)
    expected = expected_responses(shape, requests)
    assert responses == expected, "payloads changed on the way"
    assert_crossed("requests", wire.up, sum(map(len, requests)), requests_compressed)
    assert_crossed("responses", wire.down, sum(map(len, expected)), responses_compressed)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("shape", SHAPES)
async def test_incompressible_payloads_round_trip(pairing, shape, algorithm):
    # Random bytes do not get smaller, so they cross as they are, compression or not.
    requests = [os.urandom(100 * KiB) for _ in range(request_count(shape))]
    async with proxied(pairing, server_compression=algorithm,
                       channel_compression=algorithm) as (channel, proxy):
        with proxy.measure() as wire:
            responses = await exchange(channel, shape, requests)
    expected = expected_responses(shape, requests)
    assert responses == expected, "payloads changed on the way"
    assert_crossed("requests", wire.up, sum(map(len, requests)), compressed=False)
    assert_crossed("responses", wire.down, sum(map(len, expected)), compressed=False)


@pytest.mark.parametrize("algorithm", [None, *ALGORITHMS])
async def test_one_megabyte_on_the_wire(pairing, algorithm):
    """1 MB of text both ways: far fewer bytes cross when compressed, at least 1 MB when not."""
    message = compressible(MiB)
    async with proxied(pairing, server_compression=algorithm,
                       channel_compression=algorithm) as (channel, proxy):
        with proxy.measure() as wire:
            assert await channel.unary_unary("/test.Svc/Echo")(message) == message
    assert_crossed("request", wire.up, MiB, compressed=algorithm is not None)
    assert_crossed("response", wire.down, MiB, compressed=algorithm is not None)


async def test_no_compression_on_the_call_overrides_the_channel_default(pairing):
    message = compressible(MiB)
    if pairing.client.is_ours:
        no_compression = {"compression": pairing.client.Compression.NoCompression}
    else:
        no_compression = {"metadata": GRPC_CLIENT_NO_COMPRESSION_METADATA}
    async with proxied(pairing, channel_compression="gzip") as (channel, proxy):
        echo = channel.unary_unary("/test.Svc/Echo")
        with proxy.measure() as default:
            assert await echo(message) == message
        with proxy.measure() as overridden:
            assert await echo(message, **no_compression) == message
        with proxy.measure() as default_again:
            assert await echo(message) == message
    assert_crossed("request with the channel default", default.up, MiB, compressed=True)
    assert_crossed("request with NoCompression", overridden.up, MiB, compressed=False)
    assert_crossed("next request", default_again.up, MiB, compressed=True)


async def test_context_no_compression_overrides_the_server_default(pairing):
    message = compressible(MiB)
    async with proxied(pairing, server_compression="gzip") as (channel, proxy):
        repeat = channel.unary_stream("/test.Svc/Repeat")
        with proxy.measure() as default:
            assert [m async for m in repeat(message)] == [message] * 3
        no_compression = (("x-set-compression", "none"),)
        with proxy.measure() as overridden:
            assert [m async for m in repeat(message, metadata=no_compression)] == [message] * 3
    assert_crossed("responses with the server default", default.down, 3 * MiB, compressed=True)
    assert_crossed("responses after set_compression(NoCompression)", overridden.down, 3 * MiB,
                   compressed=False)


async def test_disable_next_message_compression(pairing):
    """Bidi ping-pong, so that each response crosses on its own: only the response after
    disable_next_message_compression() crosses uncompressed."""
    message = compressible(MiB)

    async def respond(request_iterator, context):
        async for command in request_iterator:
            if command == b"plain":
                context.disable_next_message_compression()
            yield message

    h = {"Respond": grpc.stream_stream_rpc_method_handler(respond)}
    async with proxied(pairing, h, server_compression="gzip") as (channel, proxy):
        call = channel.stream_stream("/test.Svc/Respond")()
        crossed = []
        for command in (b"compressed", b"plain", b"compressed"):
            with proxy.measure() as wire:
                await call.write(command)
                assert await call.read() == message
            crossed.append(wire.down)
        await call.done_writing()
        assert await call.read() is pairing.client.EOF
    for which, wire_bytes in zip(("first", "disabled", "third"), crossed):
        assert_crossed(f"{which} response", wire_bytes, MiB, compressed=which != "disabled")
