"""The interop test client: runs one grpc.testing interop case against a server.

Usage::

    python interop/client.py --server_host=127.0.0.1 --server_port=10000 \\
        --test_case=large_unary [--use_tls=false] [--server_host_override=foo.test.google.fr]

``--test_case=all`` runs every case in turn. Exit status: 0 when the case passed, 1 when an
assertion failed (the message names the case and what differed), 2 for bad usage. Reference
flags we have no use for (--use_test_ca, --default_service_account, --oauth_scope, ...) are
accepted and ignored.
"""

import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _client_support import CaseFailed, Env, TestServiceStub  # noqa: E402
from _flags import new_parser, parse_bool  # noqa: E402
from _protos import load  # noqa: E402
from basic_cases import BASIC_CASES  # noqa: E402
from compression_cases import COMPRESSION_CASES  # noqa: E402
from turbogrpc import aio  # noqa: E402

CASES = {**BASIC_CASES, **COMPRESSION_CASES}
CASE_TIMEOUT = 60.0  # a whole case; each call has its own 30 s deadline too


def parse_args(argv):
    parser = new_parser("gRPC interop test client (turbogrpc)")
    parser.add_argument("--server_host", default="localhost")
    parser.add_argument("--server_port", type=int, required=True)
    parser.add_argument("--test_case", default="large_unary")
    parser.add_argument("--use_tls", type=parse_bool, default=False)
    parser.add_argument("--server_host_override", default="")
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        print(f"interop client: ignoring flags {unknown}", file=sys.stderr)
    return args


def target(host, port):
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    return f"{host}:{port}"


async def run_case(name, channel_target, options):
    empty_pb2, messages_pb2 = load()
    async with aio.insecure_channel(channel_target, options=options) as channel:
        env = Env(TestServiceStub(channel, messages_pb2, empty_pb2), messages_pb2, empty_pb2)
        await asyncio.wait_for(CASES[name](env), CASE_TIMEOUT)


def run_one(name, channel_target, options):
    """Runs one case in a fresh event loop; returns an error message or None."""
    started = time.monotonic()
    try:
        asyncio.run(run_case(name, channel_target, options))
    except CaseFailed as failure:
        return str(failure)
    except asyncio.TimeoutError:
        return f"did not finish within {CASE_TIMEOUT:.0f} s"
    except aio.AioRpcError as error:
        return f"RPC failed: {error.code()} {error.details()!r}"
    except Exception as exc:  # noqa: BLE001 - any surprise is this case's failure
        return f"{type(exc).__name__}: {exc}"
    print(f"interop client: {name} passed ({time.monotonic() - started:.2f} s)", flush=True)
    return None


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.use_tls:
        print("interop client: TLS is not supported yet by turbogrpc; run with --use_tls=false",
              file=sys.stderr)
        return 2
    names = list(CASES) if args.test_case == "all" else [args.test_case]
    unknown = [name for name in names if name not in CASES]
    if unknown:
        print(f"interop client: unknown test case {unknown[0]!r}; known: {', '.join(CASES)}",
              file=sys.stderr)
        return 2
    options = []
    if args.server_host_override:
        options.append(("grpc.default_authority", args.server_host_override))
    channel_target = target(args.server_host, args.server_port)
    failed = 0
    for name in names:
        error = run_one(name, channel_target, options)
        if error is not None:
            failed += 1
            print(f"interop client: {name} FAILED against {channel_target}: {error}",
                  file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
