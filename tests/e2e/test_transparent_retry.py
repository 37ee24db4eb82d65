"""Transparent retry (gRPC's A6): a stream the server refused — RST_STREAM REFUSED_STREAM, or
above the last stream id of its GOAWAY — never reached an application, so our client sends the
call again (once) and the caller sees nothing. A call the server already answered is not
retried. The server here is a scripted raw HTTP/2 peer, so each refusal is exact."""

from __future__ import annotations

import asyncio
import contextlib
import struct

import hpack
import pytest

from e2e.helpers import code_name, ours_only, stack
from hostile.raw_h2 import (
    DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, NO_ERROR, PREFACE, REFUSED_STREAM, RST_STREAM,
    SETTINGS, frame, grpc_message,
)


class ScriptedServer:
    """Answers gRPC unary calls (echo), except that `refuse(connection, stream)` decides per
    request: None answers, "rst" refuses the stream, "goaway" sends GOAWAY(last stream 0),
    "answer-then-rst" sends the response headers and then refuses (too late to retry)."""

    def __init__(self, refuse):
        self.refuse = refuse
        self.connections = 0
        self.requests = []  # (connection index, stream id, path)
        self.server = None
        self.handlers: set[asyncio.Task] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self):
        self.server.close()
        for handler in self.handlers:
            handler.cancel()  # each catches it and closes its connection
        await asyncio.gather(*self.handlers)
        await self.server.wait_closed()

    async def _serve(self, reader, writer):
        self.handlers.add(asyncio.current_task())
        index = self.connections
        self.connections += 1
        decoder, encoder = hpack.Decoder(), hpack.Encoder()
        bodies: dict[int, bytes] = {}
        paths: dict[int, str] = {}
        try:
            if await reader.readexactly(len(PREFACE)) != PREFACE:
                return
            writer.write(frame(SETTINGS, 0, 0))
            while True:
                head = await reader.readexactly(9)
                length = int.from_bytes(head[:3], "big")
                kind, flags = head[3], head[4]
                stream = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
                payload = await reader.readexactly(length)
                if kind == SETTINGS and not flags & 1:
                    writer.write(frame(SETTINGS, 1, 0))
                elif kind == HEADERS:
                    paths[stream] = dict(decoder.decode(payload)).get(":path", "")
                    bodies[stream] = b""
                elif kind == DATA:
                    bodies[stream] = bodies.get(stream, b"") + payload
                    if payload:  # keep the client's windows open
                        increment = struct.pack(">I", len(payload))
                        writer.write(frame(8, 0, 0, increment) + frame(8, 0, stream, increment))
                if kind in (HEADERS, DATA) and flags & END_STREAM:
                    self.requests.append((index, stream, paths[stream]))
                    self._answer(writer, encoder, index, stream, bodies[stream])
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client left, or the test is over
        finally:
            writer.close()

    def _answer(self, writer, encoder, index, stream, body):
        action = self.refuse(index, stream)
        # Encoded only when sent: HPACK's table must see exactly what the client sees.
        response = [(":status", "200"), ("content-type", "application/grpc")]
        if action == "rst":
            writer.write(frame(RST_STREAM, 0, stream, struct.pack(">I", REFUSED_STREAM)))
        elif action == "goaway":
            writer.write(frame(GOAWAY, 0, 0, struct.pack(">II", 0, NO_ERROR)))
        elif action == "answer-then-rst":
            writer.write(frame(HEADERS, END_HEADERS, stream, encoder.encode(response))
                         + frame(RST_STREAM, 0, stream, struct.pack(">I", REFUSED_STREAM)))
        else:
            headers = encoder.encode(response)
            trailers = encoder.encode([("grpc-status", "0")])
            writer.write(frame(HEADERS, END_HEADERS, stream, headers)
                         + frame(DATA, 0, stream, body)  # the request's framed message, echoed
                         + frame(HEADERS, END_HEADERS | END_STREAM, stream, trailers))


@contextlib.asynccontextmanager
async def _scripted(refuse):
    server = ScriptedServer(refuse)
    port = await server.start()
    channel = stack("ours").channel(f"127.0.0.1:{port}")
    try:
        yield server, channel.unary_unary("/test.Svc/Echo")
    finally:
        await channel.close()
        await server.stop()


@ours_only
async def test_a_refused_stream_is_sent_again_and_the_caller_sees_nothing():
    async with _scripted(lambda conn, stream: "rst" if stream == 1 else None) as (server, echo):
        assert await asyncio.wait_for(echo(b"hello"), 5) == b"hello"
        assert [(c, s) for c, s, _ in server.requests] == [(0, 1), (0, 3)]  # same connection


@ours_only
async def test_calls_above_a_goaway_go_again_on_a_new_connection():
    async with _scripted(lambda conn, stream: "goaway" if conn == 0 else None) as (server, echo):
        replies = await asyncio.wait_for(asyncio.gather(*(echo(b"m%d" % i) for i in range(5))), 5)
        assert replies == [b"m%d" % i for i in range(5)]
        assert server.connections == 2
        # The first connection answered none of them: all five went again on the second.
        assert sum(1 for c, _, _ in server.requests if c == 1) == 5


@ours_only
async def test_a_stream_refused_twice_fails_unavailable():
    async with _scripted(lambda conn, stream: "rst") as (server, echo):
        with pytest.raises(stack("ours").AioRpcError) as failed:
            await asyncio.wait_for(echo(b"x"), 5)
        assert code_name(failed.value.code()) == "UNAVAILABLE"
        assert len(server.requests) == 2  # the call and its one transparent retry


@ours_only
async def test_a_call_the_server_answered_is_not_retried():
    async with _scripted(lambda conn, stream: "answer-then-rst") as (server, echo):
        with pytest.raises(stack("ours").AioRpcError):
            await asyncio.wait_for(echo(b"x"), 5)
        assert len(server.requests) == 1


@ours_only
async def test_a_streaming_call_is_replayed_with_every_message_it_sent():
    ours = stack("ours")
    port_holder = ScriptedServer(lambda conn, stream: "rst" if stream == 1 else None)
    port = await port_holder.start()
    channel = ours.channel(f"127.0.0.1:{port}")
    try:
        call = channel.stream_unary("/test.Svc/Collect")()
        for chunk in (b"a", b"b", b"c"):
            await call.write(chunk)
        await call.done_writing()
        reply = await asyncio.wait_for(call, 5)
        # The echo answers with the request's first framed message: the replay started at "a".
        assert reply == b"a"
        assert [(c, s) for c, s, _ in port_holder.requests] == [(0, 1), (0, 3)]
    finally:
        await channel.close()
        await port_holder.stop()


async def _echo(request, context):
    return request


async def _callers_through_goaways(pairing, handler, server_options, callers: int,
                                   seconds: float = 1.5) -> tuple[int, list[str]]:
    """`callers` tasks calling Echo (served by `handler`) in a loop for `seconds`: how many
    calls succeeded, and every failure as "CODE: details"."""
    import time

    import grpc

    failures: list[str] = []
    done = 0
    async with pairing.env({"Echo": grpc.unary_unary_rpc_method_handler(handler)},
                           server_options=server_options) as env:
        echo = env.uu("Echo")
        until = time.monotonic() + seconds

        async def caller():
            nonlocal done
            while time.monotonic() < until:
                try:
                    assert await echo(b"x", timeout=10) == b"x"
                    done += 1
                except pairing.client.AioRpcError as error:
                    failures.append(f"{code_name(error.code())}: {error.details()}")

        await asyncio.gather(*(caller() for _ in range(callers)))
    return done, failures


async def test_calls_flow_through_connection_age_goaways_without_one_failing(pairing):
    """The server ends every connection after ~300 ms with the two-phase GOAWAY: calls in
    flight finish, new ones move to the next connection (and any caught above the final
    GOAWAY's last stream would go again), so ten callers see no failure."""
    options = [("grpc.max_connection_age_ms", 300), ("grpc.max_connection_age_grace_ms", 5000)]
    done, failures = await _callers_through_goaways(pairing, _echo, options, callers=10)
    assert not failures, failures[:5]
    assert done > 100


async def test_calls_queued_beyond_max_concurrent_streams_survive_goaways(ours_pairing):
    """Our server allows 2 streams per connection and ages connections out every ~300 ms while
    twelve callers keep slow calls going: most calls wait in the client's queue (never sent)
    when a GOAWAY comes, and must move to the next connection without one failing.

    Our server only: grpc's server refuses (REFUSED_STREAM) streams within its advertised limit
    while it still counts ones the client has seen end, so against it even grpc's own client
    fails a few of these calls (a stream refused twice is not retried again, by gRPC's rule)."""
    async def slow_echo(request, context):
        await asyncio.sleep(0.02)
        return request

    options = [("grpc.max_connection_age_ms", 300), ("grpc.max_connection_age_grace_ms", 5000),
               ("grpc.max_concurrent_streams", 2)]
    done, failures = await _callers_through_goaways(ours_pairing, slow_echo, options, callers=12)
    assert not failures, failures[:5]
    assert done > 40
