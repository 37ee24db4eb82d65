"""Message sizes: empty messages in every shape, 4 MiB+ messages both ways with raised limits,
the default 4 MiB receive limit and max_send limits → RESOURCE_EXHAUSTED, channel still usable."""

from __future__ import annotations

import grpc

from e2e.helpers import BIG_OPTIONS, MiB, rpc_error

BIG = 5 * MiB + 123


def payload(size: int, seed: int = 0) -> bytes:
    block = bytes((i * 31 + seed) & 0xFF for i in range(4096))
    return (block * (size // len(block) + 1))[:size]


def handlers():
    async def echo(request, context):
        return request

    async def sized(request, context):  # responds with int(request) bytes
        return payload(int(request), seed=7)

    async def stream_sized(request, context):  # one response per size in "a,b,c"
        for size in request.decode().split(","):
            yield payload(int(size), seed=9)

    async def collect_sizes(request_iterator, context):
        sizes = []
        async for message in request_iterator:
            assert message == payload(len(message), seed=len(sizes))
            sizes.append(str(len(message)))
        return ",".join(sizes).encode()

    async def bidi_echo(request_iterator, context):
        async for message in request_iterator:
            yield message

    return {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "Sized": grpc.unary_unary_rpc_method_handler(sized),
        "StreamSized": grpc.unary_stream_rpc_method_handler(stream_sized),
        "CollectSizes": grpc.stream_unary_rpc_method_handler(collect_sizes),
        "BidiEcho": grpc.stream_stream_rpc_method_handler(bidi_echo),
    }


async def test_empty_messages_every_shape(pairing):
    async with pairing.env(handlers()) as env:
        assert await env.uu("Echo")(b"") == b""
        assert await env.uu("Sized")(b"0") == b""
        assert [m async for m in env.us("StreamSized")(b"0,0,0")] == [b"", b"", b""]
        assert await env.su("CollectSizes")(iter([b"", b""])) == b"0,0"
        assert [m async for m in env.ss("BidiEcho")(iter([b"", b"x", b""]))] == [b"", b"x", b""]


async def test_large_messages_both_ways(pairing):
    big = payload(BIG)
    async with pairing.env(handlers(), server_options=BIG_OPTIONS, channel_options=BIG_OPTIONS) as env:
        assert await env.uu("Echo")(big) == big
        assert await env.uu("Sized")(b"%d" % BIG) == payload(BIG, seed=7)
        got = [m async for m in env.us("StreamSized")(b"%d,10,%d" % (BIG, BIG))]
        assert [len(m) for m in got] == [BIG, 10, BIG]
        assert got[0] == payload(BIG, seed=9)
        requests = [payload(BIG, seed=0), payload(1, seed=1), payload(BIG, seed=2)]
        assert await env.su("CollectSizes")(iter(requests)) == b"%d,1,%d" % (BIG, BIG)
        got = [m async for m in env.ss("BidiEcho")(iter([big, b"small", big]))]
        assert got == [big, b"small", big]


async def test_exactly_4_mib_passes_default_limits(pairing):
    exact = payload(4 * MiB)
    async with pairing.env(handlers()) as env:
        assert await env.uu("Echo")(exact) == exact


async def test_request_over_default_limit(pairing):
    async with pairing.env(handlers()) as env:
        await rpc_error(pairing, env.uu("Echo")(payload(4 * MiB + 1)), "RESOURCE_EXHAUSTED")
        assert await env.uu("Echo")(b"still works") == b"still works"
        await rpc_error(pairing, env.su("CollectSizes")(iter([payload(1), payload(BIG, seed=1)])),
                        "RESOURCE_EXHAUSTED")
        assert await env.uu("Echo")(b"still works") == b"still works"


async def test_response_over_default_limit(pairing):
    async with pairing.env(handlers(), server_options=BIG_OPTIONS) as env:
        err = await rpc_error(pairing, env.uu("Sized")(b"%d" % (4 * MiB + 1)), "RESOURCE_EXHAUSTED")
        assert err.details()
        assert await env.uu("Echo")(b"still works") == b"still works"
        # streaming: the small message arrives, the big one fails the call
        call = env.us("StreamSized")(b"3,%d" % BIG)
        assert await call.read() == payload(3, seed=9)
        await rpc_error(pairing, call.read(), "RESOURCE_EXHAUSTED")
        assert await env.uu("Echo")(b"still works") == b"still works"


async def test_client_max_send_message_length(pairing):
    options = [("grpc.max_send_message_length", 1 * MiB)]
    async with pairing.env(handlers(), channel_options=options) as env:
        assert await env.uu("Echo")(payload(MiB)) == payload(MiB)
        await rpc_error(pairing, env.uu("Echo")(payload(MiB + 1)), "RESOURCE_EXHAUSTED")
        assert await env.uu("Echo")(b"ok") == b"ok"


async def test_server_max_send_message_length(pairing):
    options = [("grpc.max_send_message_length", 1 * MiB)]
    async with pairing.env(handlers(), server_options=options) as env:
        assert len(await env.uu("Sized")(b"%d" % MiB)) == MiB
        await rpc_error(pairing, env.uu("Sized")(b"%d" % (MiB + 1)), "RESOURCE_EXHAUSTED")
        assert await env.uu("Echo")(b"ok") == b"ok"


async def test_raised_receive_limit_still_enforced(pairing):
    options = [("grpc.max_receive_message_length", 6 * MiB)]
    async with pairing.env(handlers(), server_options=options + BIG_OPTIONS[1:],
                           channel_options=options) as env:
        assert len(await env.uu("Sized")(b"%d" % (6 * MiB))) == 6 * MiB
        await rpc_error(pairing, env.uu("Sized")(b"%d" % (6 * MiB + 1)), "RESOURCE_EXHAUSTED")
        await rpc_error(pairing, env.uu("Echo")(payload(6 * MiB + 1)), "RESOURCE_EXHAUSTED")
        assert await env.uu("Echo")(payload(6 * MiB)) == payload(6 * MiB)
