"""Serves the Bench service on one stack until SIGTERM; the process under test of scenarios
1, 3, 4 and 5 and of S1-sync (bench/run.py starts it pinned with ``taskset -c 0``).

    python bench/servers/serve.py --stack turbogrpc --port 0     # prints "LISTENING <port>"
    python bench/servers/serve.py --stack grpcaio --tls-cert server.pem --tls-key server.key
    python bench/servers/serve.py --stack turbogrpc-sync --port 0  # the blocking server

Stacks: turbogrpc, turbogrpc-uvloop, grpcaio, grpcaio-uvloop, grpclib, and the blocking servers
turbogrpc-sync (``turbogrpc.server``) and grpc-sync (``grpc.server``), each with a pool of 16
handler threads (servers/sync_adapter.py). Every stack serves the same handlers
(bench/handlers.py; their blocking twins on the -sync stacks) with the same limits
(SERVER_LIMITS), in plaintext or, with --tls-cert and --tls-key, over TLS (the S1-TLS and S4-TLS
cells; ALPN h2); with --interceptor through one pass-through server interceptor (S1-interceptor).

A stack whose API does not exist in the installed package (turbogrpc before its blocking server
landed) prints "MISSING <why>" instead of "LISTENING" and exits 3: bench/run.py reports that cell
as failed with that reason.
"""

import argparse
import asyncio
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

STACKS = ("turbogrpc", "turbogrpc-uvloop", "grpcaio", "grpcaio-uvloop", "grpclib",
          "turbogrpc-sync", "grpc-sync")
MISSING_EXIT = 3

# Scenario 4 echoes 4 MiB bodies (just over grpc's 4 MiB default receive limit once framed) and
# scenario 5 holds 10,000 streams: raise both limits wherever a stack has them.
SERVER_LIMITS = {"max_message_bytes": 64 * 1024 * 1024, "max_concurrent_streams": 100_000}


def _adapter(stack, interceptor):
    if stack.startswith("turbogrpc"):
        import turbogrpc.aio
        from aio_adapter import AioServer
        return AioServer(turbogrpc, interceptor)
    if stack.startswith("grpcaio"):
        import grpc.aio
        from aio_adapter import AioServer
        return AioServer(grpc, interceptor)
    if interceptor:
        raise SystemExit("serve.py: --interceptor needs a grpc.aio-shaped stack")
    from grpclib_adapter import GrpclibServer
    return GrpclibServer()


async def _serve(stack, host, port, tls, interceptor):
    adapter = _adapter(stack, interceptor)
    bound = await adapter.start(host, port, SERVER_LIMITS, tls)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"LISTENING {bound}", flush=True)
    await stop.wait()
    await adapter.stop()


def _serve_blocking(stack, host, port, tls):
    """The -sync stacks: a blocking server (its handlers on a thread pool) until SIGTERM."""
    import grpc
    from sync_adapter import MissingApi, SyncServer
    if stack == "turbogrpc-sync":
        import turbogrpc as package
    else:
        package = grpc
    try:
        adapter = SyncServer(package)
    except MissingApi as missing:
        print(f"serve.py: {missing}", file=sys.stderr, flush=True)  # first: MISSING ends us
        print(f"MISSING {missing}", flush=True)
        sys.exit(MISSING_EXIT)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    bound = adapter.start(host, port, SERVER_LIMITS, tls)
    print(f"LISTENING {bound}", flush=True)
    # With a timeout: a signal delivered to another thread only runs its handler once the main
    # thread is back in the interpreter loop.
    while not stop.wait(0.5):
        pass
    adapter.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, choices=STACKS)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--tls-cert", help="serve TLS with this certificate chain (PEM)")
    parser.add_argument("--tls-key", help="... and this private key (PEM)")
    parser.add_argument("--interceptor", action="store_true",
                        help="serve through one pass-through server interceptor")
    args = parser.parse_args()
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    if args.stack.endswith("-sync"):
        if args.interceptor:
            parser.error("--interceptor needs a grpc.aio-shaped stack")
        _serve_blocking(args.stack, args.host, args.port, tls)
    elif args.stack.endswith("-uvloop"):
        import uvloop
        uvloop.run(_serve(args.stack, args.host, args.port, tls, args.interceptor))
    else:
        asyncio.run(_serve(args.stack, args.host, args.port, tls, args.interceptor))


if __name__ == "__main__":
    main()
