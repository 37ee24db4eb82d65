"""The example's interceptors on grpc.aio's API: auth and access log (server), metadata, retry
and logging (client).

For main.py, which chains them around a Greeter. None of them knows the proto: an interceptor
sees the method's path, the metadata and opaque requests, so the same ones serve every service.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import time
import uuid

import grpc  # StatusCode and the handler helpers: turbogrpc uses grpcio's own objects
import turbogrpc.aio as aio  # `import grpc.aio as aio` runs this file unchanged on grpc.aio

REQUEST_ID_KEY = "x-request-id"

# Set by AccessLog for each call; the handler runs in the same context, so it reads the value.
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def _metadata_value(metadata, key: str) -> str | None:
    """The last value of key in (key, value) pairs, or None; metadata may be None."""
    return dict(metadata or ()).get(key)


# ---- server side --------------------------------------------------------------------------

def _refusal(code: grpc.StatusCode, details: str) -> grpc.RpcMethodHandler:
    """A unary-unary handler that ends the call with code (fits the Greeter's unary methods)."""

    async def refuse(request, context):
        await context.abort(code, details)

    return grpc.unary_unary_rpc_method_handler(refuse)


class BearerAuth(aio.ServerInterceptor):
    """Lets a call through only with ``authorization: Bearer <token>``; else UNAUTHENTICATED."""

    def __init__(self, token: str) -> None:
        self._wanted = f"Bearer {token}".encode()
        self._refusal = _refusal(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")

    async def intercept_service(self, continuation, details):
        given = _metadata_value(details.invocation_metadata, "authorization") or ""
        # compare_digest: the time taken does not tell how much of the token matched.
        if hmac.compare_digest(given.encode(), self._wanted):
            return await continuation(details)
        return self._refusal  # the method's own handler is never looked up, so never runs


class AccessLog(aio.ServerInterceptor):
    """Gives each call a request id (the client's, else a new one) and logs method + duration."""

    async def intercept_service(self, continuation, details):
        rid = _metadata_value(details.invocation_metadata, REQUEST_ID_KEY) or uuid.uuid4().hex[:8]
        request_id.set(rid)
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler  # unknown methods and streaming shapes pass through untimed
        serve = handler.unary_unary

        async def timed(request, context):
            started = time.perf_counter()
            returned = False
            try:
                response = await serve(request, context)
                returned = True
                return response
            finally:
                # code(): what abort() or set_code() chose; None if neither ran, and then the
                # status is OK, or UNKNOWN when the handler raised.
                code = context.code()
                status = code.name if code is not None else "OK" if returned else "UNKNOWN"
                took = (time.perf_counter() - started) * 1000
                print(f"  [server] {details.method} request-id={rid} {status} in {took:.1f} ms")

        return grpc.unary_unary_rpc_method_handler(
            timed, handler.request_deserializer, handler.response_serializer)


# ---- client side --------------------------------------------------------------------------

class CallMetadata(aio.UnaryUnaryClientInterceptor):
    """Adds the bearer token (if any) and a request id (unless the caller chose one) to a call."""

    def __init__(self, token: str | None) -> None:
        self._token = token

    async def intercept_unary_unary(self, continuation, details, request):
        added = []
        if self._token is not None:
            added.append(("authorization", f"Bearer {self._token}"))
        if _metadata_value(details.metadata, REQUEST_ID_KEY) is None:
            added.append((REQUEST_ID_KEY, uuid.uuid4().hex[:8]))
        metadata = aio.Metadata(*(details.metadata or ()), *added)
        return await continuation(details._replace(metadata=metadata), request)


class RetryUnavailable(aio.UnaryUnaryClientInterceptor):
    """Calls again, after a growing pause, while the answer is UNAVAILABLE: at most `attempts`.

    Only for calls that are safe to repeat. Each attempt gets the caller's whole timeout;
    grpc's own retry policy (a service config) shares one deadline instead.
    """

    def __init__(self, attempts: int = 3, first_backoff: float = 0.05) -> None:
        self._attempts = attempts
        self._first_backoff = first_backoff

    async def intercept_unary_unary(self, continuation, details, request):
        call = await continuation(details, request)
        attempt = 1
        # code() waits for the status; any other answer, or the last one, goes to the caller.
        while await call.code() == grpc.StatusCode.UNAVAILABLE and attempt < self._attempts:
            print(f"  [client] {details.method.decode()}: UNAVAILABLE on attempt {attempt} "
                  f"of {self._attempts}; calling again")
            await asyncio.sleep(self._first_backoff * 2 ** (attempt - 1))
            call = await continuation(details, request)
            attempt += 1
        return call


class _CallLog:
    """Logs a call's method, status and duration. Innermost in the chain, it sees every attempt.

    One class per kind of call: grpc.aio files an object implementing several kinds under its
    first kind only (grpc/grpc#31442), so one class for all would log only unary calls there.
    """

    @staticmethod
    def _log(details, code: grpc.StatusCode, started: float, extra: str = "") -> None:
        took = (time.perf_counter() - started) * 1000
        print(f"  [client] {details.method.decode()} -> {code.name}{extra} in {took:.1f} ms")

    async def _responses(self, call, details, started: float):
        """Passes the responses on; logs once the status is known, at the end of the stream."""
        count = 0
        try:
            async for response in call:
                count += 1
                yield response
        except aio.AioRpcError as err:
            self._log(details, err.code(), started, f" after {count} responses")
            raise
        self._log(details, await call.code(), started, f", {count} responses")


class UnaryCallLog(_CallLog, aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, details, request):
        started = time.perf_counter()
        call = await continuation(details, request)
        self._log(details, await call.code(), started)
        return call


class UnaryStreamCallLog(_CallLog, aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, details, request):
        started = time.perf_counter()
        # An async iterator in place of the call: grpc.aio's API allows it, and the caller
        # still gets a call object (code(), cancel(), ...) that reads responses through it.
        return self._responses(await continuation(details, request), details, started)


class StreamStreamCallLog(_CallLog, aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation, details, request_iterator):
        started = time.perf_counter()
        return self._responses(await continuation(details, request_iterator), details, started)


def call_logs() -> list[_CallLog]:
    """The logging interceptors for a channel: unary-unary, unary-stream, stream-stream."""
    return [UnaryCallLog(), UnaryStreamCallLog(), StreamStreamCallLog()]
