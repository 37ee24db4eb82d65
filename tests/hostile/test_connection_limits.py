"""Connections that cost us without doing anything: ones that never finish the HTTP/2
handshake (closed after grpc.server_handshake_timeout_ms), idle ones (GOAWAY after
grpc.max_connection_idle_ms, when set), and more connections than the server has descriptors
(accepting pauses with backoff instead of spinning on a listener that stays readable)."""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import textwrap
import time

import grpc
import pytest

from e2e.helpers import ours_only, rss_bytes
from hostile.raw_h2 import NO_ERROR, PREFACE, RawH2, drain, grpc_message, request_headers


def echo_handlers():
    async def echo(request, context):
        return request

    return {"Echo": grpc.unary_unary_rpc_method_handler(echo)}


async def _closed_by_server(reader, timeout: float) -> bool:
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), timeout)
            if not chunk:
                return True
    except ConnectionError:
        return True
    except asyncio.TimeoutError:
        return False


@ours_only
@pytest.mark.body_timeout(60)  # opening 1,000 sockets one by one: 8.7-11.6 s under coverage
async def test_connections_without_a_handshake_are_closed(ours_pairing):
    options = [("grpc.server_handshake_timeout_ms", 300)]
    async with ours_pairing.env(echo_handlers(), server_options=options) as env:
        before = rss_bytes()
        silent = [await asyncio.open_connection("127.0.0.1", env.srv.port) for _ in range(800)]
        half = [await asyncio.open_connection("127.0.0.1", env.srv.port) for _ in range(200)]
        for _, writer in half:
            writer.write(PREFACE[:10])
        # From the last open: what is timed is the server closing them (300 ms each), not how
        # fast this loop (debug mode, a loaded machine) opens 1,000 sockets one by one.
        started = time.monotonic()
        try:
            closed = await asyncio.gather(*(_closed_by_server(r, 8.0) for r, _ in silent + half))
            assert all(closed), f"{closed.count(False)} of {len(closed)} connections still open"
            assert time.monotonic() - started < 8.0
            # ~15 KB per open connection (an nghttp2 session and its buffers), freed on close
            grown = rss_bytes() - before
            assert grown < 48 << 20, f"1,000 idle connections grew the server by {grown >> 20} MiB"
            # a client that does finish its handshake is not affected
            assert await env.uu("Echo")(b"hi", timeout=1) == b"hi"
            await asyncio.sleep(0.5)
            assert await env.uu("Echo")(b"still", timeout=1) == b"still"
        finally:
            for _, writer in silent + half:
                writer.close()


@ours_only
async def test_idle_connections_get_goaway(ours_pairing):
    options = [("grpc.max_connection_idle_ms", 300)]
    async with ours_pairing.env(echo_handlers(), server_options=options) as env:
        conn = await RawH2.connect(env.srv.port)
        try:
            conn.send(conn.request(1, request_headers(), b"x"))
            await drain(conn)
            assert await conn.pump(lambda c: 1 in c.streams and c.streams[1].done)
            started = time.monotonic()
            assert await conn.pump(lambda c: c.goaway is not None, timeout=3)
            assert conn.goaway == NO_ERROR
            assert 0.2 < time.monotonic() - started < 2.0
        finally:
            await conn.close()
        # our own channel reconnects after the server's GOAWAY, transparently
        assert await env.uu("Echo")(b"one", timeout=1) == b"one"
        await asyncio.sleep(0.8)
        assert await env.uu("Echo")(b"two", timeout=1) == b"two"


SERVER = textwrap.dedent("""
    import asyncio, sys, grpc
    import turbogrpc.aio as aio

    async def main():
        async def echo(request, context):
            return request
        server = aio.server()
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "test.Svc", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        # The executor's thread (and the module it imports, which takes a descriptor) before
        # the port is out: once it is, the connections can take every descriptor there is.
        stdin_closed = asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        print(port, flush=True)
        await stdin_closed
        await server.stop(None)

    asyncio.run(main())
""")


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@ours_only
async def test_running_out_of_descriptors_pauses_accept_instead_of_spinning(ours_pairing):
    """The server may open 64 descriptors; 150 connections take them all. Before, the listener
    stayed readable and the poller spun at 100% of a core retrying accept."""
    def limit_descriptors():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    process = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=limit_descriptors)
    conns = []
    try:
        port = int(await asyncio.get_running_loop().run_in_executor(None, process.stdout.readline))
        for _ in range(150):
            conns.append(await asyncio.open_connection("127.0.0.1", port))
        await asyncio.sleep(0.5)
        before = _cpu_seconds(process.pid)
        await asyncio.sleep(2.0)
        busy = (_cpu_seconds(process.pid) - before) / 2.0
        assert busy < 0.3, f"the server was {busy:.0%} busy while out of descriptors"
        for _, writer in conns:
            writer.close()
        conns = []
        started = time.monotonic()
        async with ours_pairing.connect(f"127.0.0.1:{port}") as channel:
            assert await channel.unary_unary("/test.Svc/Echo")(b"back", timeout=5) == b"back"
        assert time.monotonic() - started < 2.5
    finally:
        for _, writer in conns:
            writer.close()
        process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        stderr = process.stderr.read()
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == 0, stderr
    assert stderr.count("pausing accept") == 1, stderr
