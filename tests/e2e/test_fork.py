"""fork(): the child gets a fresh engine; a channel inherited from the parent fails with a clear
UsageError; a new channel in the child works; the parent keeps serving and calling meanwhile.

Runs in a subprocess: forking the (multi-threaded) pytest process itself would be unsafe."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    import asyncio, os, sys
    import grpc, turbogrpc
    from turbogrpc import aio

    async def echo(request, context):
        return request

    HANDLERS = (grpc.method_handlers_generic_handler(
        "t.S", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}),)

    async def before_fork():
        server = aio.server(handlers=HANDLERS)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        channel = aio.insecure_channel(f"127.0.0.1:{port}")
        assert await channel.unary_unary("/t.S/Echo")(b"p1") == b"p1"
        return server, channel, port

    async def in_child(inherited, port):
        try:
            await inherited.unary_unary("/t.S/Echo")(b"c")
            return "inherited channel worked, expected UsageError"
        except turbogrpc.UsageError as e:
            if "fork" not in str(e):
                return f"UsageError does not mention fork(): {e}"
        async with aio.insecure_channel(f"127.0.0.1:{port}") as fresh:
            got = await asyncio.wait_for(fresh.unary_unary("/t.S/Echo")(b"c2"), 5)
        return "" if got == b"c2" else f"fresh channel answered {got!r}"

    loop = asyncio.new_event_loop()
    server, channel, port = loop.run_until_complete(before_fork())
    pid = os.fork()
    if pid == 0:
        try:
            problem = asyncio.run(asyncio.wait_for(in_child(channel, port), 10))
        except BaseException as e:
            problem = f"child raised {type(e).__name__}: {e}"
        print("child:", problem or "ok", flush=True)
        os._exit(1 if problem else 0)

    async def after_fork():
        status = None
        for _ in range(150):  # the parent's loop must keep serving the child's calls
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            await asyncio.sleep(0.1)
        assert await channel.unary_unary("/t.S/Echo")(b"p2") == b"p2"
        await channel.close()
        await server.stop(None)
        return status

    status = loop.run_until_complete(after_fork())
    loop.close()
    print("parent: ok", flush=True)
    sys.exit(0 if status == 0 else 3)
''')


def test_fork_child_gets_fresh_engine_parent_unaffected():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "child: ok" in output and "parent: ok" in output, output
