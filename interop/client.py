"""The interop test client: runs one grpc.testing interop case against a server.

Usage::

    python interop/client.py --server_host=127.0.0.1 --server_port=10000 \\
        --test_case=large_unary [--use_tls=false] [--server_host_override=foo.test.google.fr]
    python interop/client.py --server_host=127.0.0.1 --server_port=10000 --test_case=all \\
        --use_tls --use_test_ca --ca_file=ca.pem --server_host_override=foo.test.google.fr

``--test_case=all`` runs every case in turn. Exit status: 0 when the case passed, 1 when an
assertion failed (the message names the case and what differed), 2 for bad usage. Reference
flags we have no use for (--default_service_account, --oauth_scope, ...) are accepted and
ignored.

TLS flags are grpc-go's: ``--use_tls`` trusts the system roots, or ``--ca_file``'s; grpc-go's
``--use_test_ca`` alone means grpc's checked-in test CA, which we do not ship, so here it needs
``--ca_file``. ``--server_host_override`` is the name the server certificate must match (and the
SNI); over plaintext it is the ``:authority``.
"""

import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _client_support import CaseFailed, Env, TestServiceStub  # noqa: E402
from _flags import add_bool_flag, new_parser  # noqa: E402
from _protos import load  # noqa: E402
from basic_cases import BASIC_CASES  # noqa: E402
from compression_cases import COMPRESSION_CASES  # noqa: E402
import turbogrpc  # noqa: E402
from turbogrpc import aio  # noqa: E402

CASES = {**BASIC_CASES, **COMPRESSION_CASES}
CASE_TIMEOUT = 60.0  # a whole case; each call has its own 30 s deadline too


def parse_args(argv):
    parser = new_parser("gRPC interop test client (turbogrpc)")
    parser.add_argument("--server_host", default="localhost")
    parser.add_argument("--server_port", type=int, required=True)
    parser.add_argument("--test_case", default="large_unary")
    add_bool_flag(parser, "--use_tls")
    add_bool_flag(parser, "--use_test_ca")
    parser.add_argument("--ca_file", default="", help="PEM root certificates (--use_tls)")
    parser.add_argument("--server_host_override", default="")
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        print(f"interop client: ignoring flags {unknown}", file=sys.stderr)
    return args


def target(host, port):
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    return f"{host}:{port}"


def open_channel(channel_target, credentials, options):
    if credentials is None:
        return aio.insecure_channel(channel_target, options=options)
    return aio.secure_channel(channel_target, credentials, options=options)


async def run_case(name, channel_target, credentials, options):
    empty_pb2, messages_pb2 = load()
    async with open_channel(channel_target, credentials, options) as channel:
        env = Env(TestServiceStub(channel, messages_pb2, empty_pb2), messages_pb2, empty_pb2)
        await asyncio.wait_for(CASES[name](env), CASE_TIMEOUT)


def run_one(name, channel_target, credentials, options):
    """Runs one case in a fresh event loop; returns an error message or None."""
    started = time.monotonic()
    try:
        asyncio.run(run_case(name, channel_target, credentials, options))
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


def security(args):
    """(channel credentials or None for plaintext, channel options) from the flags."""
    if not args.use_tls:
        if args.use_test_ca or args.ca_file:
            raise ValueError("--use_test_ca and --ca_file need --use_tls")
        if args.server_host_override:
            return None, [("grpc.default_authority", args.server_host_override)]
        return None, []
    if args.use_test_ca and not args.ca_file:
        raise ValueError("--use_test_ca needs --ca_file: turbogrpc ships no test CA")
    roots = None  # the system trust store
    if args.ca_file:
        with open(args.ca_file, "rb") as file:
            roots = file.read()
    options = []
    if args.server_host_override:
        options.append(("grpc.ssl_target_name_override", args.server_host_override))
    return turbogrpc.ssl_channel_credentials(root_certificates=roots), options


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    names = list(CASES) if args.test_case == "all" else [args.test_case]
    unknown = [name for name in names if name not in CASES]
    if unknown:
        print(f"interop client: unknown test case {unknown[0]!r}; known: {', '.join(CASES)}",
              file=sys.stderr)
        return 2
    try:
        credentials, options = security(args)
    except (OSError, ValueError) as exc:
        print(f"interop client: {exc}", file=sys.stderr)
        return 2
    channel_target = target(args.server_host, args.server_port)
    failed = 0
    for name in names:
        error = run_one(name, channel_target, credentials, options)
        if error is not None:
            failed += 1
            print(f"interop client: {name} FAILED against {channel_target}: {error}",
                  file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
