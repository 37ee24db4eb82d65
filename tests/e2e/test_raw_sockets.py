"""Hostile peers on raw sockets (our side only; grpc-grpc stands in when validating the tests).

Server side: garbage, wrong protocols, broken HTTP/2 and early closes from raw asyncio clients;
our server drops those connections and keeps serving everyone else.
Client side: a raw asyncio "server" that closes at once, sends garbage, or speaks just enough
HTTP/2 to break mid-message; our client ends the call with UNAVAILABLE or INTERNAL (or the
status the gRPC spec maps an HTTP status to) and a non-empty details string, without hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
import time

import grpc
import pytest

from e2e.helpers import code_name

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
BROKEN = {"UNAVAILABLE", "INTERNAL"}


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(
        ">I", stream_id & 0x7FFFFFFF) + payload


def hpack_int(value: int, prefix_bits: int, first_byte: int = 0) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte | value])
    out = [first_byte | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack(headers) -> bytes:
    """Literal header fields without indexing, new names, no Huffman: valid and table-free."""
    out = b""
    for name, value in headers:
        name, value = name.encode(), value.encode()
        out += b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value
    return out


def grpc_message(payload: bytes, compressed: bool = False) -> bytes:
    return bytes([1 if compressed else 0]) + struct.pack(">I", len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader):
    head = await reader.readexactly(9)
    length = int.from_bytes(head[:3], "big")
    payload = await reader.readexactly(length)
    return head[3], head[4], int.from_bytes(head[5:9], "big") & 0x7FFFFFFF, payload


async def h2_handshake(reader, writer) -> None:
    """Server side of the HTTP/2 connection preface: read the client's, send empty SETTINGS."""
    assert await reader.readexactly(len(PREFACE)) == PREFACE
    writer.write(frame(SETTINGS, 0, 0))
    await writer.drain()


async def h2_serve(reader, writer, respond) -> None:
    """Minimal HTTP/2 server loop: acks SETTINGS and PING, calls `respond(writer, stream_id)` for
    every new request stream; returns (closing the connection) when `respond` returns True."""
    await h2_handshake(reader, writer)
    seen = set()
    while True:
        kind, flags, stream_id, payload = await read_frame(reader)
        if kind == SETTINGS and not flags & ACK:
            writer.write(frame(SETTINGS, ACK, 0))
        elif kind == PING and not flags & ACK:
            writer.write(frame(PING, ACK, 0, payload))
        elif kind == HEADERS and stream_id not in seen:
            seen.add(stream_id)
            if respond(writer, stream_id):
                await writer.drain()
                return
        await writer.drain()


# ---- a raw "server" for our client ---------------------------------------------------------

@contextlib.asynccontextmanager
async def raw_server(behaviour):
    """Serve `behaviour(reader, writer, stop)` on 127.0.0.1; at exit `stop` is set and every
    connection handler is awaited (not cancelled: Python 3.11's streams report a cancelled
    handler to the loop's exception handler)."""
    tasks = set()
    stop = asyncio.Event()

    async def on_connect(reader, writer):
        tasks.add(asyncio.current_task())
        try:
            await behaviour(reader, writer, stop)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        stop.set()
        server.close()
        await server.wait_closed()
        if tasks:
            await asyncio.wait(tasks, timeout=5)


def h2_peer(respond):
    """A connection behaviour that serves every request stream with `respond` until `stop`."""
    async def behaviour(reader, writer, stop):
        serving = asyncio.ensure_future(h2_serve(reader, writer, respond))
        stopping = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for task in (serving, stopping):
            if task not in done:
                task.cancel()
        await asyncio.gather(serving, stopping, return_exceptions=True)
    return behaviour


# connection-level misbehaviour

async def close_at_once(reader, writer, stop):
    pass


async def garbage_then_close(reader, writer, stop):
    writer.write(os.urandom(512))
    await writer.drain()


async def garbage_keep_open(reader, writer, stop):
    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" + os.urandom(256))
    await writer.drain()
    await stop.wait()


async def close_after_preface(reader, writer, stop):
    await reader.readexactly(len(PREFACE))


async def h2_then_garbage(reader, writer, stop):
    await h2_handshake(reader, writer)
    writer.write(b"\xff" * 9 + os.urandom(200))
    await writer.drain()
    await stop.wait()


# stream-level misbehaviour: respond(writer, stream_id) -> close the connection?

def response_headers(status: str = "200", content_type: str = "application/grpc"):
    return hpack([(":status", status), ("content-type", content_type)])


def close_after_response_headers(writer, stream_id):
    writer.write(frame(HEADERS, END_HEADERS, stream_id, response_headers()))
    return True


def close_mid_message(writer, stream_id):
    writer.write(frame(HEADERS, END_HEADERS, stream_id, response_headers()))
    partial = grpc_message(b"x" * 100)[:15]  # prefix promises 100 bytes, 10 arrive
    writer.write(frame(DATA, 0, stream_id, partial))
    return True


def rst_mid_message(writer, stream_id):
    writer.write(frame(HEADERS, END_HEADERS, stream_id, response_headers()))
    writer.write(frame(DATA, 0, stream_id, grpc_message(b"x" * 100)[:15]))
    writer.write(frame(RST_STREAM, 0, stream_id, struct.pack(">I", 2)))  # INTERNAL_ERROR
    return False


def end_stream_mid_message(writer, stream_id):
    writer.write(frame(HEADERS, END_HEADERS, stream_id, response_headers()))
    writer.write(frame(DATA, 0, stream_id, grpc_message(b"x" * 100)[:15]))
    trailers = hpack([("grpc-status", "0")])
    writer.write(frame(HEADERS, END_HEADERS | END_STREAM, stream_id, trailers))
    return False


def compressed_flag_without_encoding(writer, stream_id):
    writer.write(frame(HEADERS, END_HEADERS, stream_id, response_headers()))
    writer.write(frame(DATA, 0, stream_id, grpc_message(b"not really compressed", compressed=True)))
    trailers = hpack([("grpc-status", "0")])
    writer.write(frame(HEADERS, END_HEADERS | END_STREAM, stream_id, trailers))
    return False


def http_status(status: str, content_type: str = "text/html"):
    def respond(writer, stream_id):
        writer.write(frame(HEADERS, END_HEADERS | END_STREAM, stream_id,
                           response_headers(status, content_type)))
        return False
    return respond


BROKEN_PEERS = {
    "close_at_once": close_at_once,
    "garbage_then_close": garbage_then_close,
    "garbage_keep_open": garbage_keep_open,
    "close_after_preface": close_after_preface,
    "h2_then_garbage": h2_then_garbage,
    "close_after_response_headers": h2_peer(close_after_response_headers),
    "close_mid_message": h2_peer(close_mid_message),
    "rst_mid_message": h2_peer(rst_mid_message),
}
# What grpc.aio's client (validating these tests) reports beyond UNAVAILABLE/INTERNAL.
GRPC_CLIENT_ALSO = {"h2_then_garbage": {"UNKNOWN"}}


@pytest.mark.parametrize("peer", list(BROKEN_PEERS))
async def test_client_against_broken_server(ours_pairing, peer):
    allowed = set(BROKEN)
    if not ours_pairing.client.is_ours:
        allowed |= GRPC_CLIENT_ALSO.get(peer, set())
    async with raw_server(BROKEN_PEERS[peer]) as port:
        async with ours_pairing.connect(f"127.0.0.1:{port}") as channel:
            for shape in ("unary", "stream", "unary again"):
                started = time.monotonic()
                if shape == "stream":
                    awaitable = channel.unary_stream("/test.Svc/Gen")(b"hello", timeout=15).read()
                else:
                    awaitable = channel.unary_unary("/test.Svc/Echo")(b"hello", timeout=15)
                with pytest.raises(ours_pairing.client.AioRpcError) as info:
                    await awaitable
                err = info.value
                elapsed = time.monotonic() - started
                assert code_name(err.code()) in allowed, (shape, err.code(), err.details())
                assert err.details(), f"{shape}: empty details with {err.code()}"
                assert elapsed < 5, f"{shape}: took {elapsed:.1f}s to notice a broken peer"


async def test_client_stream_ended_mid_message(ours_pairing):
    # A message cut short by END_STREAM is a protocol violation even with grpc-status 0.
    if not ours_pairing.client.is_ours:
        pytest.skip("grpc.aio's client returns None with status OK here; we must say INTERNAL")
    async with raw_server(h2_peer(end_stream_mid_message)) as port:
        async with ours_pairing.connect(f"127.0.0.1:{port}") as channel:
            with pytest.raises(ours_pairing.client.AioRpcError) as info:
                await channel.unary_unary("/test.Svc/Echo")(b"", timeout=15)
            assert code_name(info.value.code()) == "INTERNAL", info.value
            assert info.value.details()


async def test_client_compressed_flag_without_encoding(ours_pairing):
    async with raw_server(h2_peer(compressed_flag_without_encoding)) as port:
        async with ours_pairing.connect(f"127.0.0.1:{port}") as channel:
            with pytest.raises(ours_pairing.client.AioRpcError) as info:
                await channel.unary_unary("/test.Svc/Echo")(b"", timeout=15)
            assert code_name(info.value.code()) == "INTERNAL", info.value
            assert info.value.details()


# https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md
@pytest.mark.parametrize("status,expected", [
    ("400", "INTERNAL"), ("401", "UNAUTHENTICATED"), ("403", "PERMISSION_DENIED"),
    ("404", "UNIMPLEMENTED"), ("429", "UNAVAILABLE"), ("502", "UNAVAILABLE"),
    ("503", "UNAVAILABLE"), ("504", "UNAVAILABLE"), ("500", "UNKNOWN"),
])
async def test_client_http_status_mapping(ours_pairing, status, expected):
    async with raw_server(h2_peer(http_status(status))) as port:
        async with ours_pairing.connect(f"127.0.0.1:{port}") as channel:
            with pytest.raises(ours_pairing.client.AioRpcError) as info:
                await channel.unary_unary("/test.Svc/Echo")(b"", timeout=15)
            assert code_name(info.value.code()) == expected, (info.value.code(), info.value.details())
            assert info.value.details()


def html_with_grpc_status(writer, stream_id):
    headers = hpack([(":status", "200"), ("content-type", "text/html"), ("grpc-status", "0")])
    writer.write(frame(HEADERS, END_HEADERS | END_STREAM, stream_id, headers))
    return False


async def test_client_rejects_non_grpc_content_type(ours_pairing):
    # A 200 that is not gRPC (a web server, a proxy page) must not pass as OK, even if it
    # happens to carry a grpc-status header.
    if not ours_pairing.client.is_ours:
        pytest.skip("grpc.aio's client returns None with status OK here; we must say UNKNOWN")
    async with raw_server(h2_peer(html_with_grpc_status)) as port:
        async with ours_pairing.connect(f"127.0.0.1:{port}") as channel:
            with pytest.raises(ours_pairing.client.AioRpcError) as info:
                await channel.unary_unary("/test.Svc/Echo")(b"", timeout=15)
            assert code_name(info.value.code()) == "UNKNOWN", (info.value.code(), info.value.details())
            assert "content-type" in info.value.details()


# ---- raw clients against our server -------------------------------------------------------

def echo_handlers():
    async def echo(request, context):
        return request

    return {"Echo": grpc.unary_unary_rpc_method_handler(echo)}


async def _expect_dropped(reader: asyncio.StreamReader, timeout: float = 5.0):
    """The server must give up on the connection within `timeout`: EOF, a reset, or an HTTP/2
    GOAWAY frame among what it sent."""
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), deadline - time.monotonic())
        except ConnectionError:
            return
        except asyncio.TimeoutError:
            break
        if not chunk:
            return
        buf += chunk
        if _has_goaway(buf):
            return
    raise AssertionError(f"server kept a garbage connection open for {timeout} s; sent {buf[:200]!r}")


def _has_goaway(buf: bytes) -> bool:
    pos = 0
    while pos + 9 <= len(buf):
        length, kind = int.from_bytes(buf[pos:pos + 3], "big"), buf[pos + 3]
        if kind == GOAWAY:
            return True
        if kind > 0x9 or length > (1 << 20):
            return False  # not HTTP/2 framing (e.g. an HTTP/1.1 reply)
        pos += 9 + length
    return False


async def _raw_connect(port):
    return await asyncio.open_connection("127.0.0.1", port)


async def _close(writer):
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


GARBAGE = {
    "http1_request": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "random_bytes": os.urandom(64 * 1024),
    "bad_preface": b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + b"\x00" * 64,
    "preface_then_bad_frame": PREFACE + frame(SETTINGS, 0, 0) + b"\xff\xff\xff\x04\x00\x00\x00\x00\x00"
                              + os.urandom(1000),
    "preface_then_data_on_stream_0": PREFACE + frame(SETTINGS, 0, 0) + frame(DATA, 0, 0, b"zz"),
    "headers_with_broken_hpack": PREFACE + frame(SETTINGS, 0, 0)
                                 + frame(HEADERS, END_HEADERS, 1, b"\xff\xff\xff\xff\xff\xff"),
}


# grpc.aio's server (validating these tests) ignores DATA on stream 0 instead of failing the
# connection (RFC 9113 §6.1: PROTOCOL_ERROR); we must drop it.
GRPC_SERVER_KEEPS_OPEN = {"preface_then_data_on_stream_0"}


@pytest.mark.parametrize("garbage", list(GARBAGE))
async def test_server_survives_garbage(ours_pairing, garbage):
    async with ours_pairing.env(echo_handlers()) as env:
        assert await env.uu("Echo")(b"before") == b"before"
        reader, writer = await _raw_connect(env.srv.port)
        try:
            writer.write(GARBAGE[garbage])
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            if ours_pairing.server.is_ours or garbage not in GRPC_SERVER_KEEPS_OPEN:
                await _expect_dropped(reader)
        finally:
            await _close(writer)
        assert await env.uu("Echo")(b"after") == b"after"
        async with ours_pairing.connect(env.target) as fresh:
            assert await fresh.unary_unary("/test.Svc/Echo")(b"fresh") == b"fresh"


async def test_server_survives_early_closes_and_idle_peers(ours_pairing):
    async with ours_pairing.env(echo_handlers()) as env:
        port = env.srv.port
        writers = []
        try:
            # connect and close at once; close mid-preface; close mid-frame; close mid-request
            for data in (b"", PREFACE[:10], PREFACE + frame(SETTINGS, 0, 0)[:5],
                         PREFACE + frame(SETTINGS, 0, 0)
                         + frame(HEADERS, END_HEADERS, 1, hpack([(":method", "POST")]))):
                _, writer = await _raw_connect(port)
                writer.write(data)
                await _close(writer)
            # idle connections that never speak, and one that stops after the preface
            for data in (b"", PREFACE):
                _, writer = await _raw_connect(port)
                writer.write(data)
                writers.append(writer)
            # many garbage connections at once
            conns = await asyncio.gather(*(_raw_connect(port) for _ in range(50)))
            for _, writer in conns:
                writer.write(os.urandom(1024))
            await asyncio.gather(*(_expect_dropped(reader) for reader, _ in conns))
            for _, writer in conns:
                await _close(writer)
            # everyone else is still served, also while the idle peers hang around
            requests = [b"%d" % i for i in range(100)]
            assert await asyncio.gather(*(env.uu("Echo")(r) for r in requests)) == requests
        finally:
            for writer in writers:
                await _close(writer)
        assert await env.uu("Echo")(b"end") == b"end"


async def test_server_resets_stream_after_early_trailers(ours_pairing):
    """A server that answers (trailers-only) before the client half-closed then sends
    RST_STREAM(NO_ERROR), so the client stops sending (RFC 9113 §8.1). grpc-core's server does
    this, and grpc.aio clients depend on it: without it they mostly report INTERNAL "Internal
    error from Core" instead of the status (test_shapes.test_streams_ended_at_once_by_the_server)."""
    request_headers = hpack([
        (":method", "POST"), (":scheme", "http"), (":path", "/test.Svc/Nope"),
        (":authority", "localhost"), ("content-type", "application/grpc"), ("te", "trailers"),
    ])
    async with ours_pairing.env(echo_handlers()) as env:
        reader, writer = await _raw_connect(env.srv.port)
        try:
            writer.write(PREFACE + frame(SETTINGS, 0, 0) + frame(HEADERS, END_HEADERS, 1, request_headers))
            await writer.drain()
            seen = []
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                try:
                    kind, flags, stream_id, payload = await asyncio.wait_for(
                        read_frame(reader), deadline - time.monotonic())
                except asyncio.TimeoutError:
                    break
                if kind == SETTINGS and not flags & ACK:
                    writer.write(frame(SETTINGS, ACK, 0))
                if stream_id == 1:
                    seen.append((kind, flags, payload))
                    if kind == RST_STREAM:
                        break
            kinds = [(k, f & END_STREAM if k == HEADERS else None) for k, f, _ in seen]
            assert (HEADERS, END_STREAM) in kinds, f"no trailers-only response on stream 1: {seen}"
            resets = [p for k, _, p in seen if k == RST_STREAM]
            assert resets == [struct.pack(">I", 0)], f"expected RST_STREAM(NO_ERROR) after the trailers: {seen}"
        finally:
            await _close(writer)
        assert await env.uu("Echo")(b"after") == b"after"
