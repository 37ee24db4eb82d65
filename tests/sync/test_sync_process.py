"""The blocking client and the process around it, each in a subprocess of its own: Ctrl-C
interrupts a blocking call (cancelled, KeyboardInterrupt raised), fork() gives the child a
fresh engine, and a process exits cleanly with calls still waiting.

A server that never answers is a grpcio asyncio server whose handler waits; every wait is
bounded by a subprocess timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

SERVER = textwrap.dedent('''
    import asyncio, sys, grpc

    async def hold(request, context):
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            print("SERVER SAW CANCEL", flush=True)
            raise
        return request

    async def echo(request, context):
        return request

    async def main():
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("t.S", {
            "Hold": grpc.unary_unary_rpc_method_handler(hold),
            "Echo": grpc.unary_unary_rpc_method_handler(echo)}),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        print(port, flush=True)
        await server.wait_for_termination()

    asyncio.run(main())
''')


class _Server:
    def __enter__(self):
        self.process = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
        self.port = int(self.process.stdout.readline())
        return self

    def __exit__(self, *exc):
        self.process.kill()
        self.process.communicate(timeout=10)

    def output(self) -> str:
        self.process.kill()
        return self.process.communicate(timeout=10)[0]


def test_ctrl_c_interrupts_a_blocking_call_and_cancels_it():
    client = textwrap.dedent('''
        import sys, time, turbogrpc
        channel = turbogrpc.insecure_channel(f"127.0.0.1:{sys.argv[1]}")
        channel.unary_unary("/t.S/Echo")(b"warm", timeout=5)
        print("CALLING", flush=True)
        started = time.monotonic()
        try:
            channel.unary_unary("/t.S/Hold")(b"x", timeout=20)
        except KeyboardInterrupt:
            print(f"INTERRUPTED after {time.monotonic() - started:.2f}", flush=True)
            time.sleep(0.5)  # let the cancellation reach the server
            sys.exit(0)
        print("NOT INTERRUPTED", flush=True)
    ''')
    with _Server() as server:
        process = subprocess.Popen([sys.executable, "-c", client, str(server.port)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "CALLING"
        time.sleep(0.3)
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
        assert process.returncode == 0, err
        assert out.startswith("INTERRUPTED"), (out, err)
        assert time.monotonic() - sent < 3
        assert "SERVER SAW CANCEL" in server.output()


def test_fork_child_gets_a_fresh_engine_and_old_channels_say_so():
    script = textwrap.dedent('''
        import os, sys, turbogrpc
        target = f"127.0.0.1:{sys.argv[1]}"
        channel = turbogrpc.insecure_channel(target)
        assert channel.unary_unary("/t.S/Echo")(b"p1", timeout=5) == b"p1"
        pid = os.fork()
        if pid == 0:
            problem = ""
            try:
                channel.unary_unary("/t.S/Echo")(b"c", timeout=5)
                problem = "inherited channel worked, expected UsageError"
            except turbogrpc.UsageError as e:
                if "fork" not in str(e):
                    problem = f"UsageError does not mention fork(): {e}"
            with turbogrpc.insecure_channel(target) as fresh:
                if fresh.unary_unary("/t.S/Echo")(b"c2", timeout=5) != b"c2":
                    problem = "fresh channel answered wrong"
                future = fresh.unary_unary("/t.S/Echo").future(b"c3", timeout=5)
                if future.result(5) != b"c3":
                    problem = "future in the child failed"
            print("child:", problem or "ok", flush=True)
            os._exit(1 if problem else 0)
        _, status = os.waitpid(pid, 0)
        assert channel.unary_unary("/t.S/Echo")(b"p2", timeout=5) == b"p2"
        print("parent: ok" if status == 0 else f"parent: child status {status}", flush=True)
    ''')
    with _Server() as server:
        done = subprocess.run([sys.executable, "-c", script, str(server.port)], capture_output=True,
                              text=True, timeout=60)
    assert "child: ok" in done.stdout, (done.stdout, done.stderr)
    assert "parent: ok" in done.stdout, (done.stdout, done.stderr)


def test_the_process_exits_cleanly_with_calls_still_waiting():
    """A future and a response stream still running, and a daemon thread blocked in a call,
    at interpreter exit: the process ends at once and without an abort (our threads are
    stopped before the interpreter finalizes)."""
    script = textwrap.dedent('''
        import sys, threading, time, turbogrpc
        channel = turbogrpc.insecure_channel(f"127.0.0.1:{sys.argv[1]}")
        hold = channel.unary_unary("/t.S/Hold")
        future = hold.future(b"f", timeout=30)
        future.add_done_callback(lambda f: None)
        threading.Thread(target=lambda: hold(b"d", timeout=30), daemon=True).start()
        time.sleep(0.3)
        print("EXITING", flush=True)
    ''')
    with _Server() as server:
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-c", script, str(server.port)], capture_output=True,
                              text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "EXITING" in done.stdout
    assert "terminate called" not in done.stderr and "Fatal" not in done.stderr, done.stderr
    assert time.monotonic() - started < 10
