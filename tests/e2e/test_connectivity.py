"""A channel's connectivity, as gRPC's connectivity-semantics and connection-backoff docs say:
states driven by the engine, channel_ready() / wait_for_state_change() / wait_for_connection(),
wait_for_ready, reconnect backoff and the client idle timeout.

Servers appear and disappear on a port the test picked; every wait is bounded. The pairings
run our client (and, as grpc-ours, grpc.aio's client against our server: the same script must
hold for grpc.aio, which validates the expectations).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
import time

import grpc
import pytest

from e2e.helpers import code_name, eventually, ours_only, stack

# Fast reconnects for tests: first retry after ~200 ms, at most ~1 s apart.
FAST = [("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 1000),
        ("grpc.min_reconnect_backoff_ms", 1000)]


async def _echo(request, context):
    return request


HANDLERS = {"Echo": grpc.unary_unary_rpc_method_handler(_echo)}


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def _server_on(pairing, port):
    async with pairing.serve(HANDLERS, address=f"127.0.0.1:{port}") as srv:
        yield srv


async def _state_reached(channel, wanted, timeout=5.0):
    state = channel.get_state()
    deadline = time.monotonic() + timeout
    while state is not wanted:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"state {wanted.name} not reached in {timeout} s (at {state.name})")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(channel.wait_for_state_change(state), left)
        state = channel.get_state()


async def test_states_follow_a_server_that_comes_goes_and_comes_back(pairing):
    states = grpc.ChannelConnectivity  # ours are grpcio's members (identity)
    port = _unused_port()
    async with pairing.connect(f"127.0.0.1:{port}", options=FAST) as channel:
        assert channel.get_state() is states.IDLE
        assert channel.get_state(try_to_connect=True) is states.IDLE  # the request is async
        await _state_reached(channel, states.TRANSIENT_FAILURE)
        await asyncio.sleep(0.5)  # retries keep it in TRANSIENT_FAILURE (sticky)
        assert channel.get_state() is states.TRANSIENT_FAILURE
        async with _server_on(pairing, port):
            await _state_reached(channel, states.READY, timeout=3)  # backoff is ~1 s at most
        await _state_reached(channel, states.IDLE)  # the server went away: IDLE, no reconnect
        async with _server_on(pairing, port):
            await asyncio.sleep(0.5)
            assert channel.get_state() is states.IDLE  # nothing asked it to connect
            await asyncio.wait_for(channel.channel_ready(), 5)
            assert channel.get_state() is states.READY
    assert channel.get_state() is states.SHUTDOWN


@ours_only
async def test_our_state_sequence_matches_grpc_aios_for_the_same_script():
    ours, theirs = stack("ours"), stack("grpc")
    port = _unused_port()
    channels = {"ours": ours.channel(f"127.0.0.1:{port}", options=FAST),
                "grpc": theirs.channel(f"127.0.0.1:{port}", options=FAST)}
    seen = {name: [] for name in channels}

    def checkpoint():
        for name, channel in channels.items():
            seen[name].append(channel.get_state().name)

    try:
        checkpoint()
        for channel in channels.values():
            channel.get_state(try_to_connect=True)
        await asyncio.sleep(1.0)
        checkpoint()
        server = ours.server()
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        for channel in channels.values():
            await asyncio.wait_for(channel.channel_ready(), 5)
        checkpoint()
        await server.stop(None)
        for channel in channels.values():
            await _state_reached(channel, grpc.ChannelConnectivity.IDLE)
        checkpoint()
    finally:
        for channel in channels.values():
            await channel.close()
    checkpoint()
    assert seen["ours"] == seen["grpc"] == [
        "IDLE", "TRANSIENT_FAILURE", "READY", "IDLE", "SHUTDOWN"], seen


async def test_channel_ready_waits_for_a_server_started_later(pairing):
    states = grpc.ChannelConnectivity  # ours are grpcio's members (identity)
    port = _unused_port()
    async with pairing.connect(f"127.0.0.1:{port}", options=FAST) as channel:
        ready = asyncio.ensure_future(channel.channel_ready())
        await asyncio.sleep(1.0)
        assert not ready.done()
        async with _server_on(pairing, port):
            began = time.monotonic()
            await asyncio.wait_for(ready, 5)
            assert time.monotonic() - began < 2.5  # within one backoff step (≤ 1.2 s) and slack
            assert channel.get_state() is states.READY
            reply = await channel.unary_unary("/test.Svc/Echo")(b"up")
            assert reply == b"up"


async def test_wait_for_ready_false_fails_fast_and_true_waits(pairing):
    port = _unused_port()
    async with pairing.connect(f"127.0.0.1:{port}", options=FAST) as channel:
        echo = channel.unary_unary("/test.Svc/Echo")
        began = time.monotonic()
        with pytest.raises(pairing.client.AioRpcError) as failed:
            await echo(b"x", timeout=10)
        assert code_name(failed.value.code()) == "UNAVAILABLE"
        assert time.monotonic() - began < 2  # not the 10 s deadline: it failed fast
        waiting = asyncio.ensure_future(echo(b"waited", wait_for_ready=True, timeout=10))
        await asyncio.sleep(0.5)
        assert not waiting.done()
        async with _server_on(pairing, port):
            assert await asyncio.wait_for(waiting, 5) == b"waited"


async def test_wait_for_ready_ends_at_its_deadline_without_a_server(pairing):
    port = _unused_port()
    async with pairing.connect(f"127.0.0.1:{port}", options=FAST) as channel:
        began = time.monotonic()
        with pytest.raises(pairing.client.AioRpcError) as failed:
            await channel.unary_unary("/test.Svc/Echo")(b"x", wait_for_ready=True, timeout=0.7)
        assert code_name(failed.value.code()) == "DEADLINE_EXCEEDED"
        assert 0.6 < time.monotonic() - began < 3


async def test_wait_for_connection_raises_the_calls_error_or_returns_once_connected(pairing):
    port = _unused_port()
    async with pairing.connect(f"127.0.0.1:{port}", options=FAST) as channel:
        echo = channel.unary_unary("/test.Svc/Echo")
        failing = echo(b"x")
        with pytest.raises(pairing.client.AioRpcError) as failed:
            await asyncio.wait_for(failing.wait_for_connection(), 5)
        assert code_name(failed.value.code()) == "UNAVAILABLE"

        waiting = channel.stream_stream("/test.Svc/Echo")(wait_for_ready=True, timeout=10)
        connected = asyncio.ensure_future(waiting.wait_for_connection())
        await asyncio.sleep(0.5)
        assert not connected.done()
        async with _server_on(pairing, port):
            await asyncio.wait_for(connected, 5)
            waiting.cancel()


@ours_only
async def test_reconnect_attempts_follow_the_backoff_within_its_jitter():
    """A port that accepts and closes at once: every attempt fails after the TCP connect, so
    the accept times are the attempt times (initial 200 ms, x1.6, jitter ±20%, max 1 s)."""
    accepted = []

    async def refuse(reader, writer):
        accepted.append(time.monotonic())
        writer.close()

    listener = await asyncio.start_server(refuse, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    ours = stack("ours")
    channel = ours.channel(f"127.0.0.1:{port}", options=FAST)
    try:
        channel.get_state(try_to_connect=True)
        deadline = time.monotonic() + 8
        while len(accepted) < 7 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await channel.close()
        listener.close()
    assert len(accepted) >= 7, accepted
    gaps = [b - a for a, b in zip(accepted, accepted[1:])]
    backoff = 0.2
    for gap in gaps[:6]:
        assert backoff * 0.8 - 0.03 <= gap <= backoff * 1.2 + 0.15, (gaps, backoff)
        backoff = min(backoff * 1.6, 1.0)


async def test_idle_timeout_returns_the_channel_to_idle_and_the_next_call_reconnects(pairing):
    states = grpc.ChannelConnectivity  # ours are grpcio's members (identity)
    options = FAST + [("grpc.client_idle_timeout_ms", 300)]
    async with pairing.serve(HANDLERS) as srv:
        async with pairing.connect(srv.target, options=options) as channel:
            echo = channel.unary_unary("/test.Svc/Echo")
            assert await echo(b"one") == b"one"
            assert channel.get_state() is states.READY
            await _state_reached(channel, states.IDLE, timeout=5)
            assert await echo(b"two") == b"two"
            assert channel.get_state() is states.READY


@ours_only
async def test_waiters_that_give_up_leave_no_watch_behind():
    ours = stack("ours")
    channel = ours.channel(f"127.0.0.1:{_unused_port()}")
    try:
        for _ in range(300):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(channel.wait_for_state_change(ours.aio.ChannelConnectivity.IDLE),
                                       0.001)
        assert len(channel._watches) == 1  # one shared engine watch for IDLE
        assert len(channel._loop_state().calls) <= 1
    finally:
        await channel.close()
    with pytest.raises(ours.aio.UsageError, match="closed"):
        await channel.wait_for_state_change(ours.aio.ChannelConnectivity.IDLE)


def _traced(script, what):
    """Runs `script` with TURBOGRPC_TRACE=`what`; returns the process and the trace lines."""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "TURBOGRPC_TRACE": what})
    return done, "\n".join(line for line in done.stderr.splitlines()
                           if line.startswith(f"turbogrpc[{what}]"))


@ours_only
def test_engine_traces_states_and_connect_attempts_with_turbogrpc_trace():
    port = _unused_port()
    script = (
        "import asyncio\n"
        "from turbogrpc import aio\n"
        "async def main():\n"
        f"    channel = aio.insecure_channel('127.0.0.1:{port}')\n"
        "    try:\n"
        "        await channel.unary_unary('/a.B/C')(b'')\n"
        "    except aio.AioRpcError as error:\n"
        "        print(error.code().name)\n"
        "    await channel.close()\n"
        "asyncio.run(main())\n")
    done, text = _traced(script, "channel")
    assert done.stdout.strip() == "UNAVAILABLE", done.stderr
    assert "IDLE -> CONNECTING" in text, done.stderr
    assert f"connecting to ipv4:127.0.0.1:{port}" in text, done.stderr
    assert "connect attempt failed after" in text and "Connection refused" in text, done.stderr
    assert "CONNECTING -> TRANSIENT_FAILURE" in text and "-> SHUTDOWN" in text, done.stderr


@ours_only
def test_engine_traces_goaways_sent_and_received():
    script = (
        "import asyncio\n"
        "import grpc\n"
        "from turbogrpc import aio\n"
        "async def echo(request, context):\n"
        "    return request\n"
        "async def main():\n"
        "    server = aio.server(options=[('grpc.max_connection_age_ms', 200)])\n"
        "    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(\n"
        "        'a.B', {'C': grpc.unary_unary_rpc_method_handler(echo)}),))\n"
        "    port = server.add_insecure_port('127.0.0.1:0')\n"
        "    await server.start()\n"
        "    async with aio.insecure_channel(f'127.0.0.1:{port}') as channel:\n"
        "        for _ in range(10):\n"
        "            await channel.unary_unary('/a.B/C')(b'x')\n"
        "            await asyncio.sleep(0.1)\n"
        "    await server.stop(None)\n"
        "asyncio.run(main())\n")
    done, text = _traced(script, "connection")
    assert done.returncode == 0, done.stderr
    assert "GOAWAY sent: error 0, last stream 2147483647" in text, done.stderr  # first phase
    assert "GOAWAY received: error 0" in text, done.stderr
