"""Running a blocking server's handlers on its thread pool, for the four RPC shapes, with
grpcio's outcomes: a handler that raises ends its call UNKNOWN "Exception calling application:
<exc>" (logged as grpcio logs it), a response iterator that raises UNKNOWN "Exception iterating
responses: <exc>", a response that does not serialize INTERNAL "Failed to serialize
response!", a request that does not deserialize INTERNAL "Exception deserializing request!";
a status code or details the handler set (or abort()) win over those.

``serve_unary`` is the hot path: a unary-unary call whose request the engine read ahead costs
one hand-off to the pool and one ``finish``. Everything else goes through ``serve_call``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable, Optional

from .._core._server_checks import DESERIALIZE_REQUEST_FAILED, serialize_response

if TYPE_CHECKING:
    from .._core._handler_table import MethodEntry
    from .._core._message_reader import MessageReader, RawMessage
    from .._core._typing import SerializingFunction
    from ._servicer_context import ServicerContext

__all__ = ["serve_unary", "serve_call", "RequestIterator"]

_LOGGER = logging.getLogger("turbogrpc")
_UNKNOWN, _UNIMPLEMENTED, _INTERNAL = 2, 12, 13
CALLING_APPLICATION = "Exception calling application"
ITERATING_RESPONSES = "Exception iterating responses"
SERIALIZE_FAILED = "Failed to serialize response!"


def serve_unary(ctx: ServicerContext, entry: MethodEntry, raw: Optional[RawMessage]) -> None:
    """A unary-unary call whose request the engine read ahead: deserialize, run, finish."""
    if ctx._state:
        return  # ended (cancelled, deadline) before a thread was free: grpcio skips the handler
    request = _deserialize(ctx, entry.deserializer, raw)
    if request is not _FAILED:
        _respond_once(ctx, entry, request)


def serve_call(ctx: ServicerContext, entry: MethodEntry, preread: bool,
               raw: Optional[RawMessage]) -> None:
    """Any other call: request streams, response streams, requests not read ahead."""
    if entry.request_streaming:
        if preread:  # an interceptor put a stream handler on a unary path
            ctx._take_preread(raw)
        request: Any = RequestIterator(ctx, entry.deserializer)
    else:
        if ctx._state:
            return
        if not preread:
            try:
                raw = ctx._next_request()
            except Exception:  # noqa: BLE001 - the client is gone: nobody to answer
                return
        request = _deserialize(ctx, entry.deserializer, raw)
        if request is _FAILED:
            return
    if entry.response_streaming:
        _respond_with_stream(ctx, entry, request)
    else:
        _respond_once(ctx, entry, request)


_FAILED = object()  # _deserialize, _application: the call has been ended


def _deserialize(ctx: ServicerContext, reader: MessageReader, raw: Optional[RawMessage]) -> Any:
    if raw is None:
        ctx._finish_failed(
            _UNIMPLEMENTED, f'"{ctx._event[3]}" requires exactly one request message.')
        return _FAILED
    try:
        return reader(raw)
    except Exception:  # noqa: BLE001 - grpcio's log line and status
        _LOGGER.exception("Exception deserializing message!")
        ctx._finish_failed(_INTERNAL, DESERIALIZE_REQUEST_FAILED)
        return _FAILED


def _application(ctx: ServicerContext, what: str, function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` (the handler, or next() on its responses), or _FAILED once its
    raising has ended the call."""
    try:
        return function(*args)
    except BaseException as exc:  # noqa: B902 - every outcome must end the call
        handler_raised(ctx, exc, what)
        if not isinstance(exc, Exception):
            raise  # KeyboardInterrupt, SystemExit: the call is ended, now let it go on
        return _FAILED


_END = object()  # next()'s answer once the handler's responses are exhausted


def _respond_once(ctx: ServicerContext, entry: MethodEntry, request: Any) -> None:
    response = _application(ctx, CALLING_APPLICATION, entry.behavior, request, ctx)
    if response is _FAILED:
        return
    if ctx._state:
        return  # cancelled meanwhile, or the handler ended it
    message = _serialize(ctx, entry.serializer, response)
    if message is not None:
        ctx._finish_with_status(message)


def _serialize(ctx: ServicerContext, serializer: Optional[SerializingFunction],
               response: Any) -> Any:
    """The response as the engine sends it, or None once the call was ended for it."""
    try:
        return serialize_response(response, serializer)
    except Exception:  # noqa: BLE001 - grpcio's log line (not for None without a serializer)
        if response is not None or serializer is not None:
            _LOGGER.exception("Exception serializing message!")
        ctx._finish_failed(_INTERNAL, SERIALIZE_FAILED)
        return None


def _respond_with_stream(ctx: ServicerContext, entry: MethodEntry, request: Any) -> None:
    responses = _application(ctx, CALLING_APPLICATION, entry.behavior, request, ctx)
    if responses is _FAILED:
        return
    serializer = entry.serializer
    while True:
        # grpcio calls next() on what the handler returned: a list is "not an iterator"
        response = _application(ctx, ITERATING_RESPONSES, next, responses, _END)
        if response is _FAILED:
            return
        if response is _END:
            break
        if response is None:
            break  # grpcio ends the stream at a None response
        message = _serialize(ctx, serializer, response)
        if message is None:
            return
        try:
            if not ctx._write(message):
                return  # the call ended: stop taking responses
        except Exception as exc:  # noqa: BLE001 - e.g. MemoryError copying it: end the call
            _LOGGER.exception("turbogrpc: %s: cannot send a response", ctx._event[3])
            ctx._finish(None, _INTERNAL, f"Cannot send a response: {exc!r}".encode())
            return
    ctx._finish_with_status(None)


def handler_raised(ctx: ServicerContext, exc: BaseException, what: str) -> None:
    """The handler (or its response iterator) raised ``exc``: end the call as grpcio does."""
    if ctx._aborted:
        ctx._finish_failed(_UNKNOWN, "RPC Aborted")  # abort()'s code and details win
        return
    if ctx._raised_by_call(exc):
        return  # our own RpcError (the client is gone), passed through: nothing to tell
    try:
        details = f"{what}: {exc}"
    except Exception:  # noqa: BLE001 - a broken __str__
        details = "Calling application raised unprintable Exception!"
    _LOGGER.error("%s", details, exc_info=exc)
    ctx._finish_failed(_UNKNOWN, details)


class RequestIterator(Iterator[Any]):
    """The blocking iterator of requests a request-streaming handler receives.

    ``next()`` waits for the client's next message: it asks the engine for messages only as
    the handler takes them, so a slow handler holds its client back (HTTP/2 flow control)
    instead of buffering. Ends (StopIteration) when the client half-closes; raises
    ``grpc.RpcError`` once the client is gone (cancelled, deadline), as grpcio does.
    """

    __slots__ = ("_ctx", "_reader")

    def __init__(self, ctx: ServicerContext, reader: MessageReader) -> None:
        self._ctx = ctx
        self._reader = reader

    def __iter__(self) -> RequestIterator:
        return self

    def __next__(self) -> Any:
        raw = self._ctx._next_request()
        if raw is None:
            raise StopIteration
        try:
            return self._reader(raw)
        except Exception:  # noqa: BLE001 - grpcio's outcome: the call ends, the stream too
            _LOGGER.exception("Exception deserializing message!")
            self._ctx._finish_failed(_INTERNAL, DESERIALIZE_REQUEST_FAILED)
            raise StopIteration from None

    def next(self) -> Any:
        return self.__next__()
