"""Greeter server over TLS on turbogrpc.aio: ``python server.py [--port N] [--mtls]``.

Serves with _certs/server.pem and server.key (``bash make_certs.sh`` makes them); with --mtls
it also demands a client certificate issued by _certs/ca.pem (mutual TLS). Every call must carry
``authorization: Bearer <ACCESS_TOKEN>``: the handler checks it in invocation_metadata(), and
reads auth_context() to learn how the connection is secured and who the client is.
Prints "listening on 127.0.0.1:PORT" once serving; SIGINT or SIGTERM stops it gracefully.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import signal

import turbogrpc
import turbogrpc.aio as aio

import generate
from common import ACCESS_TOKEN, read_pem

pb2, pb2_grpc = generate.load()

GRACE_SECONDS = 5.0  # how long running calls may finish after a stop signal


async def authenticate(context) -> str:
    """Names the caller, or ends the call UNAUTHENTICATED (context.abort raises)."""
    auth = context.auth_context()  # {property: [bytes, ...]}, as grpc reports it
    if auth.get("transport_security_type") != [b"ssl"]:
        await context.abort(turbogrpc.StatusCode.UNAUTHENTICATED, "this service is TLS only")
    tokens = [value for key, value in context.invocation_metadata() if key == "authorization"]
    wanted = f"Bearer {ACCESS_TOKEN}".encode()
    # compare_digest: the time taken does not tell an attacker how much of the token matched.
    if len(tokens) != 1 or not hmac.compare_digest(tokens[0].encode(), wanted):
        await context.abort(turbogrpc.StatusCode.UNAUTHENTICATED, "missing or wrong access token")
    # With mutual TLS the connection has an authenticated peer: its certificate's names.
    if context.peer_identities() is None:
        return "a TLS client without a certificate"
    common_name = auth.get("x509_common_name", [b"?"])[0].decode()
    identities = ", ".join(i.decode() for i in context.peer_identities())
    return f"{common_name} (certificate names: {identities})"


class Greeter(pb2_grpc.GreeterServicer):
    async def SayHello(self, request, context):
        caller = await authenticate(context)
        print(f"SayHello from {context.peer()}: {caller}", flush=True)
        return pb2.HelloReply(message=f"Hello, {request.name}! You are {caller}.")


def server_credentials(mtls: bool):
    key_and_chain = (read_pem("server.key"), read_pem("server.pem"))
    if not mtls:
        return turbogrpc.ssl_server_credentials([key_and_chain])
    # Client certificates must chain to this root; without one the handshake fails.
    return turbogrpc.ssl_server_credentials(
        [key_and_chain], root_certificates=read_pem("ca.pem"), require_client_auth=True)


async def serve(port: int, mtls: bool) -> None:
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop_requested.set)

    server = aio.server()
    pb2_grpc.add_GreeterServicer_to_server(Greeter(), server)
    bound = server.add_secure_port(f"127.0.0.1:{port}", server_credentials(mtls))
    await server.start()
    print(f"listening on 127.0.0.1:{bound} ({'mutual TLS' if mtls else 'TLS'})", flush=True)

    await stop_requested.wait()
    print(f"stopping (grace {GRACE_SECONDS:g}s)", flush=True)
    await server.stop(GRACE_SECONDS)
    print("stopped", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=50051, help="0 picks a free port")
    parser.add_argument("--mtls", action="store_true", help="require a client certificate")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.mtls))


if __name__ == "__main__":
    main()
