"""Our blocking server and the process around it, each in a subprocess of its own: a process
that never stops its server exits cleanly, Ctrl-C ends wait_for_termination, and after fork()
the child cannot stop its parent's server (a clear UsageError, not a hang) but serves with its
own. Every wait is bounded by a subprocess timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

PRELUDE = textwrap.dedent('''
    import os, sys, time, turbogrpc
    from concurrent import futures

    def serve():
        pool = futures.ThreadPoolExecutor(max_workers=4)
        server = turbogrpc.server(pool, handlers=(turbogrpc.method_handlers_generic_handler(
            "t.S", {"Pid": turbogrpc.unary_unary_rpc_method_handler(
                lambda request, context: str(os.getpid()).encode())}),))
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        return server, port

    def ask(port):
        with turbogrpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            return int(channel.unary_unary("/t.S/Pid")(b"", timeout=5))
''')


def _run(body, timeout=30, **kwargs):
    return subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(body)],
                          capture_output=True, text=True, timeout=timeout, **kwargs)


def test_a_process_that_never_stops_its_server_exits_cleanly():
    done = _run('''
        server, port = serve()
        assert ask(port) == os.getpid()
        print("DONE", flush=True)
    ''')
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "DONE"


def test_ctrl_c_ends_wait_for_termination():
    process = subprocess.Popen(
        [sys.executable, "-c", PRELUDE + textwrap.dedent('''
            server, port = serve()
            try:
                print(port, flush=True)
                server.wait_for_termination()
            except KeyboardInterrupt:
                print("INTERRUPTED", flush=True)
                server.stop(None)
        ''')], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(process.stdout.readline())
        assert port > 0
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert out.strip() == "INTERRUPTED"


def test_after_fork_the_child_serves_with_its_own_server():
    done = _run('''
        server, port = serve()
        pid = os.fork()
        if pid == 0:
            try:
                server.stop(None)
            except turbogrpc.UsageError as error:
                ok = "before fork()" in str(error)
            else:
                ok = False
            child, child_port = serve()
            ok = ok and ask(child_port) == os.getpid()
            child.stop(None)
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert ask(port) == os.getpid()  # the parent still serves
        server.stop(None)
        print("DONE", flush=True)
    ''')
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "DONE"
