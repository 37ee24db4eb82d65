"""Greeter client over TLS on turbogrpc.aio: ``python client.py [--port N] [--mtls]``.

Trusts only _certs/ca.pem (``bash make_certs.sh`` makes it) and sends the access token with every
call; with --mtls it also presents _certs/client.pem. Then shows what is refused: a wrong token,
a server the client does not trust and, with --mtls, a client without a certificate. Exits 1 if
any answer differs from what it expects.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import turbogrpc
import turbogrpc.aio as aio

import generate
from common import ACCESS_TOKEN, read_pem

pb2, pb2_grpc = generate.load()

TIMEOUT_SECONDS = 10.0  # deadline of each call


class UnexpectedAnswer(Exception):
    pass


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise UnexpectedAnswer(what)


def tls_credentials(mtls: bool):
    """Trust our CA only; with mutual TLS, also present the client certificate."""
    if not mtls:
        return turbogrpc.ssl_channel_credentials(root_certificates=read_pem("ca.pem"))
    return turbogrpc.ssl_channel_credentials(
        root_certificates=read_pem("ca.pem"), private_key=read_pem("client.key"),
        certificate_chain=read_pem("client.pem"))


async def say_hello(target: str, channel_credentials, name: str, **call_kwargs):
    async with aio.secure_channel(target, channel_credentials) as channel:
        stub = pb2_grpc.GreeterStub(channel)
        return await stub.SayHello(pb2.HelloRequest(name=name), timeout=TIMEOUT_SECONDS,
                                   **call_kwargs)


async def expect_refused(what: str, code, call) -> None:
    try:
        await call
    except aio.AioRpcError as err:
        print(f"  refused as expected: {err.code().name}: {err.details()}")
        expect(err.code() == code, f"{what}: {err.code().name}, wanted {code.name}")
        return
    raise UnexpectedAnswer(f"{what}: the call succeeded, wanted {code.name}")


async def run(port: int, mtls: bool) -> None:
    target = f"127.0.0.1:{port}"  # the server certificate names 127.0.0.1 (and localhost, ::1)
    tls = tls_credentials(mtls)

    print(f"== SayHello over {'mutual TLS' if mtls else 'TLS'}, with the access token")
    # Channel credentials + call credentials: every call on this channel carries the token.
    with_token = turbogrpc.composite_channel_credentials(
        tls, turbogrpc.access_token_call_credentials(ACCESS_TOKEN))
    reply = await say_hello(target, with_token, "TLS example")
    print(f"  {reply.message}")
    expect(reply.message.startswith("Hello, TLS example!"), f"SayHello: {reply.message!r}")
    expect(("greeter-client" in reply.message) == mtls,
           f"SayHello: the server saw the wrong client identity: {reply.message!r}")

    print("== a wrong token (call credentials given to one call only)")
    await expect_refused("wrong token", turbogrpc.StatusCode.UNAUTHENTICATED, say_hello(
        target, tls, "intruder",
        credentials=turbogrpc.access_token_call_credentials("not-the-token")))

    print("== a client that does not trust our CA (the system roots only)")
    await expect_refused("untrusted server", turbogrpc.StatusCode.UNAVAILABLE,
                         say_hello(target, turbogrpc.ssl_channel_credentials(), "anyone"))

    if mtls:
        print("== a client without a certificate, against the mutual-TLS server")
        no_certificate = turbogrpc.composite_channel_credentials(
            tls_credentials(mtls=False), turbogrpc.access_token_call_credentials(ACCESS_TOKEN))
        await expect_refused("no client certificate", turbogrpc.StatusCode.UNAVAILABLE,
                             say_hello(target, no_certificate, "anonymous"))
    print("all checks OK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=50051)
    parser.add_argument("--mtls", action="store_true", help="present the client certificate")
    args = parser.parse_args()
    try:
        asyncio.run(run(args.port, args.mtls))
    except aio.AioRpcError as err:
        print(f"FAILED: {err.code().name}: {err.details()}", file=sys.stderr)
        return 1
    except UnexpectedAnswer as err:
        print(f"FAILED: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
