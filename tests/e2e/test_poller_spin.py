"""The poller's spin after light work (TURBOGRPC_POLLER_SPIN_US, default 50 µs; 0 = never spin):
every setting, including a malformed one (ignored: the default), serves unary and streaming
calls correctly, large streamed writes that must wait for acknowledgements included.

Each setting runs in a fresh interpreter: the engine reads the variable once, at start-up."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent('''
    import asyncio
    import grpc
    from turbogrpc import aio

    async def echo(request, context):
        return request

    async def echo_stream(requests, context):
        async for message in requests:
            yield message

    HANDLERS = (grpc.method_handlers_generic_handler("t.S", {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "Chat": grpc.stream_stream_rpc_method_handler(echo_stream),
    }),)

    async def main():
        server = aio.server(handlers=HANDLERS)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            for i in range(50):
                body = str(i).encode()
                assert await channel.unary_unary("/t.S/Echo")(body) == body
            call = channel.stream_stream("/t.S/Chat")()
            for i in range(200):  # ping-pong: each reply before the next message
                await call.write(b"m%d" % i)
                assert await call.read() == b"m%d" % i
            big = b"x" * 100_000  # over the write window: writes wait for acknowledgements
            for _ in range(20):
                await call.write(big)
                assert await call.read() == big
            await call.done_writing()
            assert await call.code() == grpc.StatusCode.OK
        await server.stop(None)
        print("ok", flush=True)

    asyncio.run(asyncio.wait_for(main(), 60))
''')


@pytest.mark.parametrize("spin", ["0", "50", "5000", "not-a-number", None])
def test_calls_work_with_every_spin_setting(spin):
    env = dict(os.environ)
    env.pop("TURBOGRPC_POLLER_SPIN_US", None)
    if spin is not None:
        env["TURBOGRPC_POLLER_SPIN_US"] = spin
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
