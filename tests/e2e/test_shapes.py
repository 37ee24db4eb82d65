"""All four RPC shapes on every pairing, with async and sync handlers and both client styles
(async iteration and explicit read()/write()/done_writing())."""

from __future__ import annotations

import asyncio
import collections
import time

import grpc

from e2e.helpers import LoopStallMeter, code_name

N = 5


def handlers(pairing):
    server_eof = pairing.server.EOF

    async def echo(request, context):
        return request

    def echo_sync(request, context):
        time.sleep(0.05)
        return b"sync:" + request

    async def gen(request, context):
        for i in range(int(request)):
            yield b"m%d" % i

    async def gen_write(request, context):
        for i in range(int(request)):
            await context.write(b"w%d" % i)

    def gen_sync(request, context):
        for i in range(int(request)):
            yield b"s%d" % i

    async def collect(request_iterator, context):
        parts = [m async for m in request_iterator]
        return b"|".join(parts)

    async def collect_read(request_iterator, context):
        parts = []
        while True:
            message = await context.read()
            if message is server_eof:
                break
            parts.append(message)
        return b"r:" + b"|".join(parts)

    def collect_sync(request_iterator, context):
        return b"s:" + b"|".join(request_iterator)

    async def bidi_iter(request_iterator, context):
        async for message in request_iterator:
            yield message.upper()

    async def bidi_rw(request_iterator, context):
        while True:
            message = await context.read()
            if message is server_eof:
                break
            await context.write(message[::-1])

    def bidi_sync(request_iterator, context):
        for message in request_iterator:
            yield message + b"!"

    return {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "EchoSync": grpc.unary_unary_rpc_method_handler(echo_sync),
        "Gen": grpc.unary_stream_rpc_method_handler(gen),
        "GenWrite": grpc.unary_stream_rpc_method_handler(gen_write),
        "GenSync": grpc.unary_stream_rpc_method_handler(gen_sync),
        "Collect": grpc.stream_unary_rpc_method_handler(collect),
        "CollectRead": grpc.stream_unary_rpc_method_handler(collect_read),
        "CollectSync": grpc.stream_unary_rpc_method_handler(collect_sync),
        "BidiIter": grpc.stream_stream_rpc_method_handler(bidi_iter),
        "BidiRW": grpc.stream_stream_rpc_method_handler(bidi_rw),
        "BidiSync": grpc.stream_stream_rpc_method_handler(bidi_sync),
    }


async def test_unary(pairing):
    async with pairing.env(handlers(pairing)) as env:
        assert await env.uu("Echo")(b"hello") == b"hello"
        call = env.uu("Echo")(b"again")
        assert await call == b"again"
        assert code_name(await call.code()) == "OK"
        assert (await call.details()) in ("", None)
        assert call.done()


async def test_unary_sync_handler(pairing):
    async with pairing.env(handlers(pairing)) as env:
        assert await env.uu("EchoSync")(b"x") == b"sync:x"


async def test_server_streaming_async_generator(pairing):
    async with pairing.env(handlers(pairing)) as env:
        got = [m async for m in env.us("Gen")(b"%d" % N)]
        assert got == [b"m%d" % i for i in range(N)]


async def test_server_streaming_context_write_and_client_read(pairing):
    eof = pairing.client.EOF
    async with pairing.env(handlers(pairing)) as env:
        call = env.us("GenWrite")(b"%d" % N)
        got = []
        while True:
            message = await call.read()
            if message is eof:
                break
            got.append(message)
        assert got == [b"w%d" % i for i in range(N)]
        assert code_name(await call.code()) == "OK"


async def test_server_streaming_sync_generator(pairing):
    async with pairing.env(handlers(pairing)) as env:
        got = [m async for m in env.us("GenSync")(b"%d" % N)]
        assert got == [b"s%d" % i for i in range(N)]


async def test_server_streaming_zero_messages(pairing):
    async with pairing.env(handlers(pairing)) as env:
        call = env.us("Gen")(b"0")
        assert [m async for m in call] == []
        assert code_name(await call.code()) == "OK"


async def test_client_streaming_async_iterator(pairing):
    async def requests():
        for i in range(N):
            await asyncio.sleep(0)
            yield b"a%d" % i

    async with pairing.env(handlers(pairing)) as env:
        response = await env.su("Collect")(requests())
        assert response == b"|".join(b"a%d" % i for i in range(N))


async def test_client_streaming_sync_iterator(pairing):
    async with pairing.env(handlers(pairing)) as env:
        response = await env.su("Collect")(iter([b"x", b"y", b"z"]))
        assert response == b"x|y|z"
        response = await env.su("CollectRead")([b"p", b"q"])
        assert response == b"r:p|q"


async def test_client_streaming_write_and_done_writing(pairing):
    async with pairing.env(handlers(pairing)) as env:
        call = env.su("CollectRead")()
        for part in (b"1", b"2", b"3"):
            await call.write(part)
        await call.done_writing()
        assert await call == b"r:1|2|3"


async def test_client_streaming_no_messages(pairing):
    async with pairing.env(handlers(pairing)) as env:
        assert await env.su("Collect")(iter(())) == b""


async def test_client_streaming_sync_handler(pairing):
    async with pairing.env(handlers(pairing)) as env:
        assert await env.su("CollectSync")(iter([b"k", b"l"])) == b"s:k|l"


async def test_bidi_read_write_done_writing(pairing):
    eof = pairing.client.EOF
    async with pairing.env(handlers(pairing)) as env:
        call = env.ss("BidiRW")()
        for word in (b"abc", b"hello", b"x"):  # ping-pong: each reply before the next request
            await call.write(word)
            assert await call.read() == word[::-1]
        await call.done_writing()
        assert await call.read() is eof
        assert code_name(await call.code()) == "OK"


async def test_bidi_async_for(pairing):
    async def requests():
        for word in (b"one", b"two", b"three"):
            yield word

    async with pairing.env(handlers(pairing)) as env:
        got = [m async for m in env.ss("BidiIter")(requests())]
        assert got == [b"ONE", b"TWO", b"THREE"]


async def test_bidi_sync_handler(pairing):
    async with pairing.env(handlers(pairing)) as env:
        got = [m async for m in env.ss("BidiSync")(iter([b"a", b"b"]))]
        assert got == [b"a!", b"b!"]


async def test_sync_handlers_do_not_block_the_loop(pairing):
    def slow_sync(request, context):
        time.sleep(0.6)
        return request

    def slow_sync_stream(request, context):
        for i in range(3):
            time.sleep(0.2)
            yield b"%d" % i

    async def fast(request, context):
        return b"fast"

    h = {
        "SlowSync": grpc.unary_unary_rpc_method_handler(slow_sync),
        "SlowSyncStream": grpc.unary_stream_rpc_method_handler(slow_sync_stream),
        "Fast": grpc.unary_unary_rpc_method_handler(fast),
    }
    async with pairing.env(h) as env:
        await env.uu("Fast")(b"")  # connect first
        async with LoopStallMeter() as meter:
            slow = asyncio.ensure_future(env.uu("SlowSync")(b"slow"))
            slow_stream = asyncio.ensure_future(_collect(env.us("SlowSyncStream")(b"")))
            await asyncio.sleep(0.1)
            started = time.monotonic()
            assert await env.uu("Fast")(b"") == b"fast"  # served while the sync handlers sleep
            fast_latency = time.monotonic() - started
            assert not slow.done()
            assert await slow == b"slow"
            assert await slow_stream == [b"0", b"1", b"2"]
        assert fast_latency < 0.4, f"a unary call took {fast_latency:.2f}s beside sync handlers"
        assert meter.max_gap < 0.3, f"loop stalled {meter.max_gap:.2f}s while sync handlers ran"


async def _collect(call):
    return [m async for m in call]


# grpc.aio's client has a race of its own: when the server ends a call while the client's request
# iterator is still writing, it may report INTERNAL "Internal error from Core" instead of the
# server's status: in 5-50% of such calls against grpc.aio's server, ~100% against ours (which sends
# no RST_STREAM(NO_ERROR) after early trailers; see test_raw_sockets). Too variable to bound, so a
# grpc.aio client is let off; our client must always report the server's status.
GRPC_CLIENT_RACE = ("INTERNAL", "Internal error from Core")


async def test_streams_ended_at_once_by_the_server(pairing):
    """Server ends streaming calls before reading the requests (trailers-only) while the client
    is still sending, on fresh connections, many times: each call ends with exactly the server's
    status (a grpc.aio client: see GRPC_CLIENT_RACE)."""
    codes = pairing.server.StatusCode

    async def bidi_returns(request_iterator, context):
        return
        yield  # an async generator that yields nothing

    async def bidi_aborts(request_iterator, context):
        await context.abort(codes.NOT_FOUND, "gone")
        yield b""

    async def collect_aborts(request_iterator, context):
        await context.abort(codes.NOT_FOUND, "gone")

    h = {
        "BidiReturns": grpc.stream_stream_rpc_method_handler(bidi_returns),
        "BidiAborts": grpc.stream_stream_rpc_method_handler(bidi_aborts),
        "CollectAborts": grpc.stream_unary_rpc_method_handler(collect_aborts),
    }
    rounds = 40
    eof = pairing.client.EOF
    outcomes = collections.Counter()
    async with pairing.serve(h) as srv:
        for _ in range(rounds):
            async with pairing.connect(srv.target) as channel:
                for method, expected in (("BidiReturns", "OK"), ("BidiAborts", "NOT_FOUND"),
                                         ("CollectAborts", "NOT_FOUND"), ("Nope", "UNIMPLEMENTED")):
                    if method == "CollectAborts":
                        call = channel.stream_unary(f"/test.Svc/{method}")(iter([b"x", b"y"]))
                    else:
                        call = channel.stream_stream(f"/test.Svc/{method}")(iter([b"x", b"y"]))
                    try:
                        result = await (call if method == "CollectAborts" else call.read())
                        got = ("OK", "") if result is eof else ("message", repr(result))
                    except pairing.client.AioRpcError as err:
                        got = (code_name(err.code()), err.details())
                    outcomes[(method, expected) + got] += 1
    wrong = {}
    for (method, expected, code, details), count in outcomes.items():
        if code == expected:
            continue
        if not pairing.client.is_ours and (code, details) == GRPC_CLIENT_RACE:
            continue
        wrong[(method, expected, code, details)] = count
    assert not wrong, f"unexpected endings of {rounds} calls each (method, expected, got, details): {wrong}"
