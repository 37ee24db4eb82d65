"""Reference leaks across the seam: nanobind reports, at interpreter exit, every instance of
our binding's types still alive. The binding turns that report on with
TURBOGRPC_LEAK_WARNINGS=1 (off by default: a user's own module-level objects could trip it).
Each run is a fresh interpreter, since the report comes only at exit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

LEAK_REPORT = "nanobind: leaked"

EVERY_SHAPE = textwrap.dedent("""
    import asyncio, grpc
    import turbogrpc.aio as aio

    async def main():
        async def unary(request, context):
            return request
        async def server_stream(request, context):
            for _ in range(3):
                yield request
        async def client_stream(requests, context):
            return b"".join([r async for r in requests])
        async def bidi(requests, context):
            async for r in requests:
                yield r
        handlers = {
            "U": grpc.unary_unary_rpc_method_handler(unary),
            "SS": grpc.unary_stream_rpc_method_handler(server_stream),
            "CS": grpc.stream_unary_rpc_method_handler(client_stream),
            "B": grpc.stream_stream_rpc_method_handler(bidi),
        }
        server = aio.server()
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("t.S", handlers),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        async with aio.insecure_channel(f"127.0.0.1:{port}", compression=grpc.Compression.Gzip) as ch:
            big = b"z" * (200 * 1024)  # views of engine buffers, and the codec worker
            for message in (b"x", big):
                assert await ch.unary_unary("/t.S/U")(message) == message
                assert [m async for m in ch.unary_stream("/t.S/SS")(message)] == [message] * 3
                assert await ch.stream_unary("/t.S/CS")(iter([message, message])) == message * 2
                assert [m async for m in ch.stream_stream("/t.S/B")(iter([message]))] == [message]
            try:
                await ch.unary_unary("/t.S/Nope")(b"")
            except aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.UNIMPLEMENTED
        await server.stop(None)

    asyncio.run(main())
    print("done")
""")

DELIBERATE_LEAK = textwrap.dedent("""
    import ctypes
    from turbogrpc import _engine
    queue = _engine.CompletionQueue()
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(queue))  # one reference nobody will drop
    print("done")
""")


def run(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TURBOGRPC_LEAK_WARNINGS": "1"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)


def test_every_shape_leaves_no_binding_object_behind():
    result = run(EVERY_SHAPE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    assert LEAK_REPORT not in result.stderr, result.stderr


def test_the_leak_report_is_on_and_would_catch_a_leak():
    result = run(DELIBERATE_LEAK)
    assert result.returncode == 0, result.stderr
    assert LEAK_REPORT in result.stderr and "CompletionQueue" in result.stderr, result.stderr
