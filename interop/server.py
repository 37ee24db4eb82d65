"""The interop test server: grpc.testing.TestService on turbogrpc.

Usage::

    python interop/server.py --port=10000 [--use_tls=false]

Listens on every loopback interface ([::]:PORT when IPv6 dual-stack works, else
127.0.0.1:PORT) until SIGTERM or SIGINT, then stops with a short grace period.
"""

import asyncio
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _flags import new_parser, parse_bool  # noqa: E402
from _protos import load  # noqa: E402
from test_service import add_test_service  # noqa: E402
from turbogrpc import aio  # noqa: E402

STOP_GRACE_SECONDS = 2.0


def parse_args(argv):
    parser = new_parser("gRPC interop test server (turbogrpc)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--use_tls", type=parse_bool, default=False)
    parser.add_argument("--use_alts", type=parse_bool, default=False)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        print(f"interop server: ignoring flags {unknown}", file=sys.stderr)
    return args


def bind(server, port):
    """Binds [::]:port (dual-stack) or falls back to 127.0.0.1:port; returns the address."""
    for address in (f"[::]:{port}", f"127.0.0.1:{port}"):
        try:
            bound = server.add_insecure_port(address)
        except RuntimeError as exc:
            print(f"interop server: cannot bind {address}: {exc}", file=sys.stderr)
            continue
        return address.rsplit(":", 1)[0] + f":{bound}"
    raise SystemExit(f"interop server: cannot listen on port {port}")


async def serve(port):
    empty_pb2, messages_pb2 = load()
    server = aio.server()
    add_test_service(server, messages_pb2, empty_pb2)
    address = bind(server, port)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"interop server: serving grpc.testing.TestService on {address}", flush=True)
    await stop.wait()
    await server.stop(STOP_GRACE_SECONDS)
    print("interop server: stopped", flush=True)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.use_tls or args.use_alts:
        print("interop server: TLS is not supported yet by turbogrpc; run with --use_tls=false",
              file=sys.stderr)
        return 2
    asyncio.run(serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
