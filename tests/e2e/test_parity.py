"""Where grpc.aio's behaviour is defined, ours is the same (each test runs on every pairing, and
against grpc.aio alone with TURBOGRPC_TESTS_GRPC_ONLY=1): the status codes and EOF a client sees
are grpcio's own objects; the servicer context's type checks (set_trailing_metadata and abort
raise TypeError, set_compression after the headers raises RuntimeError); a compression algorithm
the server disabled gets UNIMPLEMENTED; grpc.so_reuseport; the peer() names; done callbacks.

Where our server differs on purpose, the test says so next to the assertion."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
import uuid

import grpc
import grpc.aio
import pytest

from e2e.helpers import code_name, eventually, ipv6_loopback_available, rpc_error, wait_for_event

U, S = grpc.unary_unary_rpc_method_handler, grpc.unary_stream_rpc_method_handler


async def echo(request, context):
    return request


# ---- grpcio's own objects reach the application ----------------------------------------------

async def test_status_codes_and_eof_are_grpcio_objects(pairing):
    """Code written for grpc.aio compares with `is`: the codes and the EOF marker our client
    hands out are grpcio's members and grpcio's EOF (turbogrpc/_core/_grpcio.py)."""
    seen = {}

    async def fail(request, context):
        context.set_code(grpc.StatusCode.NOT_FOUND)
        seen["server code"] = context.code()
        return b""

    async def two(request, context):
        yield b"1"
        yield b"2"

    async with pairing.env({"Echo": U(echo), "Fail": U(fail), "Two": S(two)}) as env:
        call = env.uu("Echo")(b"x")
        assert await call == b"x"
        assert await call.code() is grpc.StatusCode.OK
        err = await rpc_error(pairing, env.uu("Fail")(b""), "NOT_FOUND")
        assert err.code() is grpc.StatusCode.NOT_FOUND
        assert seen["server code"] is grpc.StatusCode.NOT_FOUND
        stream = env.us("Two")(b"")
        assert [await stream.read(), await stream.read()] == [b"1", b"2"]
        end = await stream.read()
        assert end is grpc.aio.EOF and end is pairing.client.aio.EOF
        assert not end  # falsy, as grpc.aio's


# ---- the servicer context's type checks ------------------------------------------------------

async def test_set_trailing_metadata_and_abort_check_types(pairing):
    """grpc.aio checks trailing metadata when it is set: anything but (str, str or bytes) pairs
    raises TypeError in the handler's face (and the call goes on)."""
    outcomes = {}

    async def handler(request, context):
        for name, bad in [("int", 42), ("dict", {"k": "v"}), ("str", "kv"),
                          ("int key", ((1, "v"),)), ("int value", (("k", 1),)),
                          ("triple", (("k", "v", "w"),))]:
            try:
                context.set_trailing_metadata(bad)
            except TypeError:
                outcomes[name] = "TypeError"
            else:
                outcomes[name] = "accepted"
        try:
            await context.abort(grpc.StatusCode.INTERNAL, "no", 42)
        except TypeError:
            outcomes["abort"] = "TypeError"
        context.set_trailing_metadata(grpc.aio.Metadata(("k", "v"), ("k-bin", b"\x00")))
        outcomes["aborted"] = context.done()
        return b"fine"

    async with pairing.env({"M": U(handler)}) as env:
        call = env.uu("M")(b"")
        assert await call == b"fine"  # neither the TypeErrors nor the refused abort ended it
        trailing = [(k, v) for k, v in await call.trailing_metadata()]
        assert ("k", "v") in trailing and ("k-bin", b"\x00") in trailing
    assert outcomes == {"int": "TypeError", "dict": "TypeError", "str": "TypeError",
                        "int key": "TypeError", "int value": "TypeError", "triple": "TypeError",
                        "abort": "TypeError", "aborted": False}, outcomes


async def test_set_compression_after_the_first_write_raises_runtime_error(pairing):
    outcomes = []

    async def stream(request, context):
        context.set_compression(grpc.Compression.Gzip)  # before the headers: fine
        await context.write(b"first")
        try:
            context.set_compression(grpc.Compression.Deflate)
        except RuntimeError as exc:
            outcomes.append(str(exc))
        await context.write(b"second")

    async with pairing.env({"S": S(stream)}) as env:
        assert [m async for m in env.us("S")(b"")] == [b"first", b"second"]
    assert outcomes == ["Compression setting must be specified before sending initial metadata"]


# ---- compression algorithms the server disabled ----------------------------------------------

BITSET = "grpc.compression_enabled_algorithms_bitset"


async def test_disabled_compression_algorithm_is_unimplemented(pairing):
    """grpc.compression_enabled_algorithms_bitset (bit i: grpc.Compression value i): a request
    compressed with a disabled algorithm ends UNIMPLEMENTED before its handler runs."""
    ran = []

    async def handler(request, context):
        ran.append(request)
        return b"ok"

    options = [(BITSET, 0b011)]  # identity and deflate; gzip disabled
    serving = pairing.serve({"M": U(handler)}, options=options)
    srv = await serving.__aenter__()
    try:
        async with pairing.connect(srv.target) as channel:
            method = channel.unary_unary("/test.Svc/M")
            err = await rpc_error(pairing, method(b"a" * 100, compression=grpc.Compression.Gzip),
                                  "UNIMPLEMENTED")
            assert err.details() == "Compression algorithm 'gzip' is disabled."
            assert ran == []
            assert await method(b"b" * 100, compression=grpc.Compression.Deflate) == b"ok"
            assert await method(b"c") == b"ok"
    finally:
        await serving.__aexit__(None, None, None)


# ---- grpc.so_reuseport -----------------------------------------------------------------------

async def test_servers_share_a_port_by_default(pairing):
    """grpcio's default grpc.so_reuseport=1: a second server may bind a port a first one
    (also with the default) holds."""
    first = pairing.server.server()
    port = first.add_insecure_port("127.0.0.1:0")
    second = pairing.server.server(options=[("grpc.so_reuseport", 1)])
    assert second.add_insecure_port(f"127.0.0.1:{port}") == port
    for server in (first, second):
        await server.stop(None)


async def test_without_so_reuseport_a_taken_port_raises_runtime_error(pairing):
    first = pairing.server.server()
    port = first.add_insecure_port("127.0.0.1:0")
    refusing = pairing.server.server(options=[("grpc.so_reuseport", 0)])
    try:
        with pytest.raises(RuntimeError, match=f"Failed to bind to address 127.0.0.1:{port}"):
            refusing.add_insecure_port(f"127.0.0.1:{port}")
        # and a listener made without it cannot be joined, even by a server that would share
        alone = pairing.server.server(options=[("grpc.so_reuseport", 0)])
        alone_port = alone.add_insecure_port("127.0.0.1:0")
        with pytest.raises(RuntimeError, match="Failed to bind to address"):
            pairing.server.server().add_insecure_port(f"127.0.0.1:{alone_port}")
        await alone.stop(None)
    finally:
        for server in (first, refusing):
            await server.stop(None)


# ---- context.peer() --------------------------------------------------------------------------

def peer_handlers(peers):
    async def peer(request, context):
        peers.append(context.peer())
        return b""

    return {"Peer": U(peer)}


async def _peer_via(pairing, address, dial=None):
    peers = []
    async with pairing.serve(peer_handlers(peers), address=address) as srv:
        target = srv.target if dial is None else dial.format(port=srv.port)
        async with pairing.connect(target) as channel:
            await channel.unary_unary("/test.Svc/Peer")(b"")
    return peers[0]


async def test_peer_names(pairing):
    """grpc's forms: ipv4:host:port, ipv6:[host]:port, unix:...; a dual-stack listener's IPv4
    client is named by its IPv4 address (not ::ffff:…)."""
    ipv4 = re.compile(r"^ipv4:127\.0\.0\.1:\d+$")
    assert ipv4.match(await _peer_via(pairing, "127.0.0.1:0"))
    if ipv6_loopback_available():
        peer = await _peer_via(pairing, "[::1]:0")
        if pairing.server.is_ours:
            assert re.match(r"^ipv6:\[::1\]:\d+$", peer), peer
        else:  # grpc-core percent-encodes the brackets (grpc issue 30852): ours keeps them
            assert re.match(r"^ipv6:%5B::1%5D:\d+$", peer), peer
        assert ipv4.match(await _peer_via(pairing, "[::]:0", dial="127.0.0.1:{port}"))
    path = os.path.join(tempfile.gettempdir(), f"turbogrpc-peer-{uuid.uuid4().hex[:12]}.sock")
    try:
        peer = await _peer_via(pairing, f"unix:{path}")
        # grpc names the client's unnamed socket "unix:"; ours names the path it connected to
        assert peer == (f"unix:{path}" if pairing.server.is_ours else "unix:"), peer
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


# ---- done callbacks --------------------------------------------------------------------------

@pytest.mark.allow_error_logs(r"done callback .* raised")
async def test_server_done_callbacks(pairing):
    """add_done_callback(cb): cb(context) once the RPC has ended; a callback that raises is
    logged and does not change the status the client got."""
    calls = []

    def record(name):
        def callback(context):
            calls.append((name, context.done(), context.cancelled()))
        return callback

    def raising(context):
        calls.append(("raising", context.done(), context.cancelled()))
        raise RuntimeError("callback failed")

    async def handler(request, context):
        context.add_done_callback(record("first"))
        context.add_done_callback(raising)
        context.add_done_callback(record("after"))
        assert not calls
        return b"ok"

    async with pairing.env({"M": U(handler)}) as env:
        call = env.uu("M")(b"")
        assert await call == b"ok"
        assert await call.code() is grpc.StatusCode.OK
        await eventually(lambda: len(calls) >= 2, what="done callbacks")
        await asyncio.sleep(0.05)
    assert calls[:2] == [("first", True, False), ("raising", True, False)], calls
    if pairing.server.is_ours:
        # ours runs every callback; grpc.aio skips those after one that raised
        assert calls[2:] == [("after", True, False)], calls


async def test_server_done_callback_of_a_cancelled_call(pairing):
    """The done callbacks run, once, when the client cancels."""
    ended = []
    started = asyncio.Event()

    async def handler(request, context):
        context.add_done_callback(lambda ctx: ended.append((ctx.done(), ctx.cancelled())))
        started.set()
        await asyncio.sleep(10)
        return b"late"

    async with pairing.env({"Slow": U(handler)}) as env:
        call = env.uu("Slow")(b"")
        await wait_for_event(started)
        call.cancel()
        await eventually(lambda: ended, what="the done callback of a cancelled call")
    assert len(ended) == 1, ended
    if pairing.server.is_ours:
        # grpc.aio's context says done() False and cancelled() False here (its cancelled()
        # looks only at a code the handler set); ours says what happened, as documented
        assert ended == [(True, True)], ended


async def test_sync_add_callback_takes_no_argument(pairing):
    """grpc's sync ServicerContext.add_callback(callback): callback() without arguments."""
    called = []

    def handler(request, context):
        context.add_callback(lambda: called.append("called"))
        return b"sync"

    async with pairing.env({"Sync": U(handler)}) as env:
        assert await env.uu("Sync")(b"") == b"sync"
        await eventually(lambda: called, what="the sync callback")
    assert called == ["called"]
