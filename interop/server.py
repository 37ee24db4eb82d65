"""The interop test server: grpc.testing.TestService on turbogrpc.

Usage::

    python interop/server.py --port=10000 [--use_tls=false]
    python interop/server.py --port=10000 --use_tls --tls_cert_file=server.pem --tls_key_file=server.key

Listens on every loopback interface ([::]:PORT when IPv6 dual-stack works, else
127.0.0.1:PORT) until SIGTERM or SIGINT, then stops with a short grace period. The TLS flags are
grpc-go's; its server falls back to grpc's checked-in test key, we ship no keys, so --use_tls
needs both files (interop/run_matrix.py makes them with tests/tls_certs.py).
"""

import asyncio
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _flags import add_bool_flag, new_parser  # noqa: E402
from _protos import load  # noqa: E402
from test_service import add_test_service  # noqa: E402
import turbogrpc  # noqa: E402
from turbogrpc import aio  # noqa: E402

STOP_GRACE_SECONDS = 2.0


def parse_args(argv):
    parser = new_parser("gRPC interop test server (turbogrpc)")
    parser.add_argument("--port", type=int, required=True)
    add_bool_flag(parser, "--use_tls")
    add_bool_flag(parser, "--use_alts")
    parser.add_argument("--tls_cert_file", default="", help="PEM certificate chain (--use_tls)")
    parser.add_argument("--tls_key_file", default="", help="PEM private key (--use_tls)")
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        print(f"interop server: ignoring flags {unknown}", file=sys.stderr)
    return args


def server_credentials(cert_file, key_file):
    with open(key_file, "rb") as key, open(cert_file, "rb") as chain:
        return turbogrpc.ssl_server_credentials([(key.read(), chain.read())])


def bind(server, port, credentials):
    """Binds [::]:port (dual-stack) or falls back to 127.0.0.1:port; returns the address.
    ``credentials``: server credentials for TLS, or None for plaintext."""
    for address in (f"[::]:{port}", f"127.0.0.1:{port}"):
        try:
            bound = (server.add_insecure_port(address) if credentials is None
                     else server.add_secure_port(address, credentials))
        except RuntimeError as exc:
            print(f"interop server: cannot bind {address}: {exc}", file=sys.stderr)
            continue
        except turbogrpc.UsageError as exc:  # a key or certificate the engine refuses
            raise SystemExit(f"interop server: cannot serve TLS with these files: {exc}") from None
        return address.rsplit(":", 1)[0] + f":{bound}"
    raise SystemExit(f"interop server: cannot listen on port {port}")


async def serve(port, credentials):
    empty_pb2, messages_pb2 = load()
    server = aio.server()
    add_test_service(server, messages_pb2, empty_pb2)
    address = bind(server, port, credentials)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"interop server: serving grpc.testing.TestService on {address}"
          f"{' over TLS' if credentials is not None else ''}", flush=True)
    await stop.wait()
    await server.stop(STOP_GRACE_SECONDS)
    print("interop server: stopped", flush=True)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.use_alts:
        print("interop server: ALTS is not supported by turbogrpc", file=sys.stderr)
        return 2
    credentials = None
    if args.use_tls:
        if not (args.tls_cert_file and args.tls_key_file):
            print("interop server: --use_tls needs --tls_cert_file and --tls_key_file "
                  "(turbogrpc ships no test keys)", file=sys.stderr)
            return 2
        try:
            credentials = server_credentials(args.tls_cert_file, args.tls_key_file)
        except (OSError, ValueError, TypeError) as exc:
            print(f"interop server: cannot load the TLS key pair: {exc}", file=sys.stderr)
            return 2
    asyncio.run(serve(args.port, credentials))
    return 0


if __name__ == "__main__":
    sys.exit(main())
