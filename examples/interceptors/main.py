"""Interceptors on turbogrpc.aio, server and client, in one program: ``python3 main.py``.

Serves a Greeter on 127.0.0.1 (a free port) behind two server interceptors, calls it through
channels with client interceptors, prints what each one does and checks it. Exits 1 if any
check fails. On grpc.aio: ``import grpc.aio as aio`` here and in interceptors.py.
"""

from __future__ import annotations

import collections
import pathlib
import sys

import grpc  # StatusCode: turbogrpc uses grpcio's own enum
import turbogrpc.aio as aio

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # examples/: the shared _protos.py and _checks.py
import _protos  # noqa: E402
from _checks import CheckFailed, expect, run  # noqa: E402
from interceptors import (  # noqa: E402
    REQUEST_ID_KEY, AccessLog, BearerAuth, CallMetadata, RetryUnavailable, call_logs, request_id,
)

pb2, pb2_grpc = _protos.load(HERE.parent / "protos" / "helloworld.proto", HERE / "_generated")

# A real service would check a signed token (a JWT, an OAuth2 access token) with its issuer.
ACCESS_TOKEN = "example-token-do-not-use"
TIMEOUT_SECONDS = 10.0  # deadline of each call (of each attempt, under RetryUnavailable)
RETRY_ATTEMPTS = 3


class Greeter(pb2_grpc.GreeterServicer):
    """Greets with the request id AccessLog set; "flaky" and "down" fail on purpose."""

    def __init__(self) -> None:
        # Attempts per request id: a retry repeats its call's id (CallMetadata runs outside it).
        self._attempts: collections.Counter[str] = collections.Counter()

    async def SayHello(self, request, context):
        rid = request_id.get()
        self._attempts[rid] += 1
        attempt = self._attempts[rid]
        if request.name == "down" or (request.name == "flaky" and attempt == 1):
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                f"unavailable on purpose (attempt {attempt})")
        return pb2.HelloReply(message=f"Hello, {request.name}! request id {rid}, attempt {attempt}")


async def say_hello(channel, name: str, **call_kwargs) -> str:
    stub = pb2_grpc.GreeterStub(channel)
    reply = await stub.SayHello(pb2.HelloRequest(name=name), timeout=TIMEOUT_SECONDS,
                                **call_kwargs)
    print(f"  reply: {reply.message}")
    return reply.message


async def expect_status(code: grpc.StatusCode, call) -> str:
    """Awaits call, which must fail with code; returns the status details."""
    try:
        await call
    except aio.AioRpcError as err:
        print(f"  refused: {err.code().name}: {err.details()}")
        expect(err.code() == code, f"got {err.code().name}, wanted {code.name}")
        return err.details()
    raise CheckFailed(f"the call succeeded, wanted {code.name}")


async def run_checks(target: str) -> None:
    # The first interceptor is the outermost: the metadata is added once, before any retry.
    with_token = [CallMetadata(ACCESS_TOKEN), RetryUnavailable(RETRY_ATTEMPTS), *call_logs()]
    async with aio.insecure_channel(target, interceptors=with_token) as channel:
        print("== SayHello with the token: BearerAuth lets it through")
        message = await say_hello(channel, "interceptors")
        expect(message.startswith("Hello, interceptors!"), f"SayHello: {message!r}")

        print("== a request id the caller chose: AccessLog sets it, the handler echoes it")
        message = await say_hello(channel, "echo", metadata=((REQUEST_ID_KEY, "req-42"),))
        expect("request id req-42," in message, f"request id not echoed: {message!r}")

        print("== the first attempt fails UNAVAILABLE: RetryUnavailable calls again")
        message = await say_hello(channel, "flaky")
        expect(message.endswith("attempt 2"), f"not recovered on attempt 2: {message!r}")

        print(f"== always UNAVAILABLE: RetryUnavailable gives up after {RETRY_ATTEMPTS} attempts")
        details = await expect_status(grpc.StatusCode.UNAVAILABLE, say_hello(channel, "down"))
        expect(details.endswith(f"(attempt {RETRY_ATTEMPTS})"), f"attempts: {details!r}")

    print("== no token: BearerAuth refuses before the handler runs")
    no_token = [CallMetadata(token=None), *call_logs()]
    async with aio.insecure_channel(target, interceptors=no_token) as channel:
        await expect_status(grpc.StatusCode.UNAUTHENTICATED, say_hello(channel, "intruder"))


async def main() -> None:
    # The first interceptor is the outermost: AccessLog also times the calls BearerAuth refuses.
    server = aio.server(interceptors=[AccessLog(), BearerAuth(ACCESS_TOKEN)])
    pb2_grpc.add_GreeterServicer_to_server(Greeter(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"serving on 127.0.0.1:{port}")
    try:
        await run_checks(f"127.0.0.1:{port}")
    finally:
        await server.stop(None)


if __name__ == "__main__":
    run(main, aio.AioRpcError)
