"""Serves the Bench service on one stack until SIGTERM; the process under test of scenarios
1, 3, 4 and 5 (bench/run.py starts it pinned with ``taskset -c 0``).

    python bench/servers/serve.py --stack turbogrpc --port 0     # prints "LISTENING <port>"
    python bench/servers/serve.py --stack grpcaio --tls-cert server.pem --tls-key server.key

Stacks: turbogrpc, turbogrpc-uvloop, grpcaio, grpcaio-uvloop, grpclib. Every stack serves the
same handlers (bench/handlers.py) with the same limits (SERVER_LIMITS), in plaintext or, with
--tls-cert and --tls-key, over TLS (the S1-TLS and S4-TLS cells; ALPN h2); with --interceptor
through one pass-through server interceptor (S1-interceptor).
"""

import argparse
import asyncio
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

STACKS = ("turbogrpc", "turbogrpc-uvloop", "grpcaio", "grpcaio-uvloop", "grpclib")

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
    if args.stack.endswith("-uvloop"):
        import uvloop
        uvloop.run(_serve(args.stack, args.host, args.port, tls, args.interceptor))
    else:
        asyncio.run(_serve(args.stack, args.host, args.port, tls, args.interceptor))


if __name__ == "__main__":
    main()
