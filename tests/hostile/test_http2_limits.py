"""Limits a hostile HTTP/2 peer runs into (docs/limits.md): header-list size per call, the
HPACK bomb, streams per connection, and the floods nghttp2 and we count — PING and SETTINGS
acks, rapid resets, CONTINUATION frames, empty DATA frames. Each attack asserts how it ends (a
status on the one call, RST_STREAM, or GOAWAY with the code the RFC or gRPC asks for), that
the server's memory stayed bounded where memory was the target, and that a normal call on a
fresh connection still works within a second."""

from __future__ import annotations

import struct

import grpc
import pytest

from e2e.helpers import ours_only, rss_bytes
from hostile.raw_h2 import (ACK, CONTINUATION, DATA, END_HEADERS, END_STREAM, ENHANCE_YOUR_CALM,
                            HEADERS, PING, REFUSED_STREAM, RST_STREAM, SETTINGS, RawH2, drain,
                            frame, grpc_message, request_headers)

RESOURCE_EXHAUSTED, OK = "8", "0"


def echo_handlers():
    async def echo(request, context):
        return request

    async def hold(request, context):
        await context.read()  # never comes: the stream stays open
        return b""

    return {"Echo": grpc.unary_unary_rpc_method_handler(echo),
            "Hold": grpc.stream_unary_rpc_method_handler(hold)}


# What an attack may leave the server (this process) holding; each attack here costs far less.
RSS_BOUND = 32 << 20


async def assert_still_serving(env, rss_before=None):
    """A normal call on a fresh connection works within 1 s; the server grew less than RSS_BOUND."""
    if rss_before is not None:
        grown = rss_bytes() - rss_before
        assert grown < RSS_BOUND, f"the server grew by {grown >> 20} MiB"
    async with env.pairing.connect(env.target) as fresh:
        assert await fresh.unary_unary("/test.Svc/Echo")(b"fresh", timeout=1) == b"fresh"


@ours_only
async def test_header_list_over_the_limit_fails_that_call_only(ours_pairing):
    """(grpc.aio's server, grpcio 1.85, accepts this 21 KB header list.)"""
    async with ours_pairing.env(echo_handlers()) as env:
        before = rss_bytes()
        conn = await RawH2.connect(env.srv.port)
        try:
            big = [(f"x-big-{i}", "v" * 1000) for i in range(20)]  # ~21 KB: over 16 KiB
            conn.send(conn.request(1, request_headers(extra=big), b"too much")
                      + conn.request(3, request_headers(), b"fine"))
            await drain(conn)
            assert await conn.pump(lambda c: c.streams.get(1, None) and c.streams[1].done
                                   and c.streams.get(3, None) and c.streams[3].done)
            refused, served = conn.streams[1], conn.streams[3]
            if refused.reset is None:
                assert refused.value("grpc-status") == RESOURCE_EXHAUSTED, refused.headers
            assert served.value("grpc-status") == OK and served.data == grpc_message(b"fine")
            assert conn.goaway is None and not conn.closed
            # the same connection takes more calls
            conn.send(conn.request(5, request_headers(), b"again"))
            await drain(conn)
            assert await conn.pump(lambda c: 5 in c.streams and c.streams[5].done)
            assert conn.streams[5].value("grpc-status") == OK
        finally:
            await conn.close()
        await assert_still_serving(env, before)


def hpack_bomb_block(first: bool, references: int) -> bytes:
    """One 4,000-byte header, stored in the HPACK dynamic table by the first block (index 62),
    then referenced `references` times at one byte each: ~4 MB per 4 KB of wire."""
    entry = b""
    if first:
        name, value = b"x-bomb", b"b" * 4000
        entry = (b"\x40" + bytes([len(name)]) + name
                 + b"\x7f" + _hpack_int_rest(len(value) - 127) + value)  # literal, incremental indexing
    static = hpack.Encoder().encode(request_headers())  # static-table-only fields: no state
    return static + entry + b"\xbe" * references


def _hpack_int_rest(value: int) -> bytes:
    out = bytearray()
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


import hpack  # noqa: E402  (used by hpack_bomb_block)


@ours_only
async def test_hpack_bomb_costs_no_memory(ours_pairing):
    """Before the limit was enforced, these 16 streams (~260 KB on the wire) left the server
    holding ~1 GB."""
    async with ours_pairing.env(echo_handlers()) as env:
        before = rss_bytes()
        conn = await RawH2.connect(env.srv.port)
        try:
            for i in range(16):
                # a HEADERS frame of < 16 KiB; the static part is re-sent each time
                block = hpack_bomb_block(first=i == 0, references=12000)
                conn.send(frame(HEADERS, END_HEADERS | END_STREAM, 1 + 2 * i, block))
            await drain(conn)
            assert await conn.pump(lambda c: all((1 + 2 * i) in c.streams and c.streams[1 + 2 * i].done
                                                 for i in range(16)), timeout=10)
            for i in range(16):
                result = conn.streams[1 + 2 * i]
                assert result.reset is not None or result.value("grpc-status") == RESOURCE_EXHAUSTED
        finally:
            await conn.close()
        grown = rss_bytes() - before
        assert grown < 64 << 20, f"server grew by {grown >> 20} MiB under an HPACK bomb"
        await assert_still_serving(env, before)


def hold_requests(conn: RawH2, count: int) -> bytes:
    return b"".join(conn.request(1 + 2 * i, request_headers("/test.Svc/Hold"), None, end_stream=False)
                    for i in range(count))


@ours_only
async def test_streams_beyond_the_limit_are_refused(ours_pairing):
    """Streams over MAX_CONCURRENT_STREAMS (100) that a client opens before it has acknowledged
    our SETTINGS are refused one by one (REFUSED_STREAM, which clients may retry); the
    connection and its first 100 streams live on."""
    async with ours_pairing.env(echo_handlers()) as env:
        before = rss_bytes()
        conn = await RawH2.connect(env.srv.port)
        try:
            conn.send(hold_requests(conn, 120))  # before reading (and so acknowledging) SETTINGS
            await drain(conn)
            extra = [1 + 2 * i for i in range(100, 120)]
            assert await conn.pump(lambda c: all(s in c.streams and c.streams[s].reset is not None
                                                 for s in extra))
            assert conn.settings["MAX_CONCURRENT_STREAMS"] == 100
            assert {conn.streams[s].reset for s in extra} == {REFUSED_STREAM}
            assert all(s not in conn.streams for s in range(1, 200, 2)), "a held stream ended"
            assert conn.goaway is None and not conn.closed
        finally:
            await conn.close()
        await assert_still_serving(env, before)


@ours_only
async def test_a_client_that_ignores_the_acknowledged_limit_loses_the_connection(ours_pairing):
    """Once the client has acknowledged the limit, nghttp2 treats going over it as a connection
    error (GOAWAY PROTOCOL_ERROR) where RFC 9113 §5.1.2 asks for a stream error; grpc-go
    refuses the stream instead. Only a client that breaks the protocol sees the difference."""
    async with ours_pairing.env(echo_handlers()) as env:
        before = rss_bytes()
        conn = await RawH2.connect(env.srv.port)
        try:
            assert await conn.pump(lambda c: "MAX_CONCURRENT_STREAMS" in c.settings)  # acks it
            conn.send(hold_requests(conn, 101))
            await drain(conn)
            await conn.pump(lambda c: c.goaway is not None or c.closed)
            assert conn.goaway == 0x1
        finally:
            await conn.close()
        await assert_still_serving(env, before)


@ours_only
async def test_ten_thousand_streams_on_one_connection_cost_little(ours_pairing):
    """Before the limit, 100,000 streams on one connection cost +109 MB."""
    async with ours_pairing.env(echo_handlers()) as env:
        before = rss_bytes()
        conn = await RawH2.connect(env.srv.port)
        try:
            conn.send(hold_requests(conn, 10_000))
            await drain(conn)
            last = 1 + 2 * 9_999
            assert await conn.pump(lambda c: last in c.streams and c.streams[last].reset is not None,
                                   timeout=15)
            refused = sum(1 for s in conn.streams.values() if s.reset == REFUSED_STREAM)
            assert refused == 9_900
            grown = rss_bytes() - before
            assert grown < 32 << 20, f"10,000 streams grew the server by {grown >> 20} MiB"
        finally:
            await conn.close()
        await assert_still_serving(env, before)


@ours_only
async def test_one_header_over_64_kib_ends_that_connection_only(ours_pairing):
    """nghttp2's HPACK decoder refuses a single field whose encoded form is over 64 KiB (here
    200 KiB sent as a literal, without Huffman coding), and RFC 9113 makes a decoder failure a
    connection error (COMPRESSION_ERROR): that connection ends, and nothing else does (a channel
    opened before keeps working). Smaller fields, however many, are the header-list limit's
    business: RESOURCE_EXHAUSTED on the one call."""
    async with ours_pairing.env(echo_handlers()) as env:
        before = rss_bytes()
        assert await env.uu("Echo")(b"before") == b"before"
        conn = await RawH2.connect(env.srv.port)
        try:
            conn.send(conn.request(1, request_headers(extra=[("x-huge", "x" * (200 << 10))]), b"x", huffman=False))
            await drain(conn)
            await conn.pump(lambda c: c.goaway is not None or c.closed, timeout=5)
            assert conn.goaway == 0x9, f"GOAWAY {conn.goaway}"
        finally:
            await conn.close()
        assert await env.uu("Echo")(b"after", timeout=1) == b"after"
        await assert_still_serving(env, before)


FLOODS = {
    # name: bytes after the preface, sent at once
    "ping": b"".join(frame(PING, 0, 0, struct.pack(">Q", i)) for i in range(5000)),
    "settings": frame(SETTINGS, 0, 0) * 5000,
    "rapid_reset": None,  # built per connection (needs the encoder)
    "continuation": None,
    "empty_data": None,
}


def flood_bytes(conn: RawH2, name: str) -> bytes:
    if FLOODS[name] is not None:
        return FLOODS[name]
    if name == "rapid_reset":
        out = b""
        for i in range(3000):
            stream_id = 1 + 2 * i
            out += frame(HEADERS, END_HEADERS, stream_id, conn.headers_block(request_headers("/test.Svc/Hold")))
            out += frame(RST_STREAM, 0, stream_id, struct.pack(">I", 0x8))
        return out
    if name == "continuation":
        block = conn.headers_block(request_headers())
        return frame(HEADERS, 0, 1, block) + b"".join(
            frame(CONTINUATION, 0, 1, conn.headers_block([("x-c", "c" * 100)])) for _ in range(50))
    if name == "empty_data":
        opening = frame(HEADERS, END_HEADERS, 1, conn.headers_block(request_headers("/test.Svc/Hold")))
        return opening + frame(DATA, 0, 1) * 5000
    raise AssertionError(name)


# nghttp2's rapid-reset limit ends the connection with INTERNAL_ERROR, its choice; the floods
# we count ourselves or map (ping and settings acks, CONTINUATION, empty DATA) say ENHANCE_YOUR_CALM.
EXPECTED_GOAWAY = {"rapid_reset": 0x2}


@ours_only
@pytest.mark.parametrize("flood", list(FLOODS))
async def test_floods_end_the_connection(ours_pairing, flood):
    async with ours_pairing.env(echo_handlers()) as env:
        before = rss_bytes()
        conn = await RawH2.connect(env.srv.port)
        try:
            conn.send(flood_bytes(conn, flood))
            await drain(conn)
            await conn.pump(lambda c: c.goaway is not None or c.closed, timeout=10)
            expected = EXPECTED_GOAWAY.get(flood, ENHANCE_YOUR_CALM)
            assert conn.goaway == expected, f"GOAWAY {conn.goaway}, closed={conn.closed}"
        finally:
            await conn.close()
        await assert_still_serving(env, before)


@ours_only
async def test_a_ping_now_and_then_is_fine(ours_pairing):
    # 50 answered pings are no flood. Back to back they would break the ping policy (a strike
    # each: test_keepalive.py covers that), so policing is off here: 0 strikes = unlimited.
    async with ours_pairing.env(echo_handlers(), server_options=[("grpc.http2.max_ping_strikes", 0)]) as env:
        before = rss_bytes()
        conn = await RawH2.connect(env.srv.port)
        try:
            for i in range(50):
                conn.send(frame(PING, 0, 0, struct.pack(">Q", i)))
                await drain(conn)
            conn.send(conn.request(1, request_headers(), b"after pings"))
            await drain(conn)
            assert await conn.pump(lambda c: 1 in c.streams and c.streams[1].done)
            assert conn.goaway is None and conn.streams[1].value("grpc-status") == OK
        finally:
            await conn.close()
