"""A small service and client written against turbogrpc's public API, as a user would.

tests/typing/test_typing.py runs it (it must work) and checks it with ``mypy --strict`` (it
must be clean, with no ``Any`` leaking into the annotated names below). The interceptor's
signature names grpcio's types, as code written for grpc.aio does.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc

import turbogrpc
from turbogrpc import StatusCode, aio, health

SERVICE = "typing.Echo"
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def _identity(data: bytes) -> bytes:
    return data


async def echo(request: bytes, context: aio.ServicerContext[bytes, bytes]) -> bytes:
    if request == b"fail":
        await context.abort(StatusCode.INVALID_ARGUMENT, "asked to fail")
    context.set_trailing_metadata((("request-id", request_id.get()),))
    return request


async def count(request: bytes, context: aio.ServicerContext[bytes, bytes]
                ) -> AsyncIterator[bytes]:
    for index in range(int(request)):
        yield str(index).encode()


class RequestIdInterceptor(aio.ServerInterceptor):
    """Copies the caller's request id into a context variable the handler reads."""

    async def intercept_service(
            self, continuation: Callable[[grpc.HandlerCallDetails],
                                         Awaitable[grpc.RpcMethodHandler]],
            handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        metadata = dict(handler_call_details.invocation_metadata)
        request_id.set(str(metadata.get("request-id", "none")))
        return await continuation(handler_call_details)


class AddRequestId(aio.UnaryUnaryClientInterceptor):
    """Adds a request id to every unary call's metadata."""

    async def intercept_unary_unary(
            self, continuation: Callable[[aio.ClientCallDetails, bytes],
                                         Awaitable[aio.UnaryUnaryCall[bytes, bytes]]],
            client_call_details: aio.ClientCallDetails,
            request: bytes) -> aio.UnaryUnaryCall[bytes, bytes]:
        metadata = aio.Metadata(*(client_call_details.metadata or ()))
        metadata.add("request-id", "r-1")
        details = aio.ClientCallDetails(
            client_call_details.method, client_call_details.timeout, metadata,
            client_call_details.credentials, client_call_details.wait_for_ready)
        return await continuation(details, request)


async def serve() -> tuple[aio.Server, int, health.HealthServicer]:
    server = aio.server(interceptors=[RequestIdInterceptor()],
                        options=[("grpc.max_receive_message_length", 1 << 20)])
    handlers = {
        "Echo": turbogrpc.unary_unary_rpc_method_handler(echo, _identity, _identity),
        "Count": turbogrpc.unary_stream_rpc_method_handler(count, _identity, _identity),
    }
    server.add_generic_rpc_handlers((turbogrpc.method_handlers_generic_handler(SERVICE, handlers),))
    servicer = health.HealthServicer()
    health.add_HealthServicer_to_server(servicer, server)
    port: int = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port, servicer


async def call(port: int) -> list[str]:
    seen: list[str] = []
    async with aio.insecure_channel(f"127.0.0.1:{port}",
                                    interceptors=[AddRequestId()]) as channel:
        echo_method: aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            f"/{SERVICE}/Echo", request_serializer=_identity, response_deserializer=_identity)
        count_method: aio.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(
            f"/{SERVICE}/Count", request_serializer=_identity, response_deserializer=_identity)

        unary: aio.UnaryUnaryCall[bytes, bytes] = echo_method(b"hello", timeout=5)
        reply: bytes = await unary
        code: StatusCode = await unary.code()
        trailing: aio.Metadata = await unary.trailing_metadata()
        seen.append(f"{reply.decode()} {code.name} {trailing['request-id']!r}")

        stream: aio.UnaryStreamCall[bytes, bytes] = count_method(b"3")
        async for item in stream:
            seen.append(item.decode())

        try:
            await echo_method(b"fail")
        except aio.AioRpcError as error:
            failed: StatusCode = error.code()
            details: str | None = error.details()
            seen.append(f"{failed.name}: {details}")

        state: aio.ChannelConnectivity = channel.get_state()
        seen.append(state.name)
    return seen


async def main() -> list[str]:
    server, port, servicer = await serve()
    try:
        return await call(port)
    finally:
        servicer.enter_graceful_shutdown()
        await server.stop(None)


if __name__ == "__main__":
    for line in asyncio.run(main()):
        print(line)
