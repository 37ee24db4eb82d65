"""Finding a call's handler and running it, for all four RPC shapes.

Handlers are grpcio's duck-typed objects: generic handlers with ``service(details)``
returning an RpcMethodHandler-like object (``request_streaming``, ``response_streaming``,
``request_deserializer``, ``response_serializer`` and the four behaviours). ``async def``
handlers run on the loop; plain ``def`` handlers run in the server's thread pool.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from .._method_handlers import DictionaryGenericHandler
from ._eager import continue_in_task, copy_context, first_step
from ._message_reader import RawMessage, message_reader
from ._rpc_error import EOF, AbortError
from ._server_call import (
    SERIALIZE_RESPONSE_FAILED, BadRequest, describe_exception, exception_text, serialize_response,
)
from ._typing import DeserializingFunction, MetadatumType, SerializingFunction

if TYPE_CHECKING:
    from ._context import ServicerContext

__all__ = ["MethodEntry", "HandlerCallDetails", "CallDetails", "RpcMethodHandler",
           "GenericRpcHandler", "dict_handler_table", "serve_inline", "serve_in_task",
           "serve_in_current_task", "take_unary_request", "FAILED", "send_response",
           "continue_suspended", "handler_failed"]

_LOGGER = logging.getLogger("turbogrpc.aio")
_OK, _CANCELLED, _UNKNOWN, _INTERNAL = 0, 1, 2, 13
DESERIALIZE_REQUEST_FAILED = "Exception deserializing request!"
NO_REQUEST = "Expected one request message, the client sent none"
FAILED = object()  # take_unary_request(): the request could not be had; the call is over


class HandlerCallDetails(Protocol):
    """grpc.HandlerCallDetails: the call a generic handler or a server interceptor is asked
    about (the server's are a namedtuple, below, and the interceptor chain's own class)."""

    @property
    def method(self) -> str: ...

    @property
    def invocation_metadata(self) -> Sequence[MetadatumType]: ...


# What generic handlers are asked with outside an interceptor chain: a namedtuple named as
# grpc's class (the name the protocol above has here, hence the ignore).
CallDetails = NamedTuple(  # type: ignore[name-match]
    "HandlerCallDetails",
    [("method", str), ("invocation_metadata", Sequence[MetadatumType])],
)


class RpcMethodHandler(Protocol):
    """What the server reads of a method handler: grpc.RpcMethodHandler's fields (grpcio's
    handlers, or any object that has them)."""

    @property
    def request_streaming(self) -> bool: ...

    @property
    def response_streaming(self) -> bool: ...

    @property
    def request_deserializer(self) -> DeserializingFunction | None: ...

    @property
    def response_serializer(self) -> SerializingFunction | None: ...

    # The behaviours: the one of the handler's shape is set, called (request, context).
    @property
    def unary_unary(self) -> Callable[..., Any] | None: ...

    @property
    def unary_stream(self) -> Callable[..., Any] | None: ...

    @property
    def stream_unary(self) -> Callable[..., Any] | None: ...

    @property
    def stream_stream(self) -> Callable[..., Any] | None: ...


class GenericRpcHandler(Protocol):
    """grpc.GenericRpcHandler: finds the handler of a call, or None if it has none."""

    def service(self, handler_call_details: HandlerCallDetails) -> RpcMethodHandler | None: ...


class MethodEntry:
    """One method handler, classified once: shape, sync/async, inline-able."""

    __slots__ = ("handler", "request_streaming", "response_streaming", "behavior", "is_async",
                 "serializer", "deserializer", "inline")

    def __init__(self, handler: RpcMethodHandler) -> None:
        self.handler = handler  # what it was built from (interceptors get it back, see
        # _server_interceptor.py)
        self.request_streaming = bool(handler.request_streaming)
        self.response_streaming = bool(handler.response_streaming)
        if self.request_streaming:
            behavior = handler.stream_stream if self.response_streaming else handler.stream_unary
        else:
            behavior = handler.unary_stream if self.response_streaming else handler.unary_unary
        if behavior is None:
            raise TypeError(f"method handler {handler!r} has no behaviour for its shape")
        self.behavior: Callable[..., Any] = behavior
        self.is_async: bool = inspect.iscoroutinefunction(behavior) or inspect.isasyncgenfunction(
            behavior
        )
        self.serializer = handler.response_serializer
        self.deserializer = message_reader(handler.request_deserializer)
        # async unary-unary handlers run their first step inline, straight from the event.
        self.inline: bool = (
            not self.request_streaming and not self.response_streaming
            and inspect.iscoroutinefunction(behavior)
        )


def dict_handler_table(handler: object) -> dict[str, RpcMethodHandler] | None:
    """The {path: handler} table of grpc.method_handlers_generic_handler's result, or None.

    Its ``service()`` is a plain lookup in that table, so the server may look paths up
    directly (and let the engine pre-read unary requests). Anything else is called.
    """
    kind = type(handler)
    if kind is DictionaryGenericHandler or (
            kind.__name__ == "DictionaryGenericHandler" and kind.__module__ == "grpc._utilities"):
        table = getattr(handler, "_method_handlers", None)
        if isinstance(table, dict):
            return table
    return None


# -- running handlers ---------------------------------------------------------------------

def serve_inline(ctx: ServicerContext[Any, Any], entry: MethodEntry,
                 raw_request: RawMessage | None) -> None:
    """The unary fast path: deserialize, run the handler's first step inline, finish."""
    ctx._request_ended = True  # the engine already consumed the request stream
    if raw_request is None:
        ctx._finish(None, _INTERNAL, NO_REQUEST)
        return
    try:
        request = entry.deserializer(raw_request)
    except Exception:
        _LOGGER.exception("turbogrpc: cannot deserialize the request of %s", ctx._method)
        ctx._finish(None, _INTERNAL, DESERIALIZE_REQUEST_FAILED)
        return
    context = copy_context()
    try:
        coro = entry.behavior(request, ctx)
        pending = context.run(first_step, ctx._state, coro)
    except StopIteration as stop:
        response = stop.value
    except BaseException as exc:  # noqa: B902 - every outcome must finish the call
        handler_failed(ctx, exc)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return
    else:
        # It really waits for something: continue it in a Task.
        continue_suspended(ctx, context, coro, pending,
                           lambda rest: _complete_unary(ctx, entry, rest))
        return
    send_response(ctx, entry, response)


def continue_suspended(
        ctx: ServicerContext[Any, Any], context: contextvars.Context,
        coro: Coroutine[Any, Any, Any], pending: Any,
        complete: Callable[[Awaitable[Any]], Coroutine[Any, Any, None]],
) -> None:
    """Continues ``coro``, suspended on ``pending`` after an inline first step, in the call's
    Task: ``complete(rest)`` is the Task's coroutine and awaits ``rest`` for coro's result."""
    state = ctx._state
    state.calls[ctx._call_id] = ctx
    # A handler that cancelled its own (stand-in) task before suspending: cancel the Task
    # after its first step, not before it (a Task cancelled before it starts never runs
    # ``complete``, so the call would never end); the handler then sees CancelledError
    # at its await, as it would in a Task of its own.
    stand_in = state.eager_task
    cancelled_inline = stand_in is not None and stand_in._cancel_requests
    if cancelled_inline:
        stand_in._cancel_requests = 0  # type: ignore[union-attr]  # cancelled_inline: not None
    ctx._task = continue_in_task(state, context, coro, pending, complete)
    if cancelled_inline:
        state.loop.call_soon(ctx._task.cancel)


async def _complete_unary(ctx: ServicerContext[Any, Any], entry: MethodEntry,
                          rest: Awaitable[Any]) -> None:
    try:
        response = await rest
    except BaseException as exc:  # noqa: B902
        handler_failed(ctx, exc)
        return
    send_response(ctx, entry, response)


def serve_in_task(ctx: ServicerContext[Any, Any], entry: MethodEntry, preread: bool,
                  raw_request: RawMessage | None) -> None:
    """Every other case: streams, sync handlers, requests not pre-read by the engine."""
    state = ctx._state
    _hold_request(ctx, entry, preread, raw_request)
    state.calls[ctx._call_id] = ctx
    ctx._task = copy_context().run(state.loop.create_task, _serve(ctx, entry))


async def serve_in_current_task(ctx: ServicerContext[Any, Any], entry: MethodEntry,
                                preread: bool, raw_request: RawMessage | None) -> None:
    """serve_in_task's work, awaited by a coroutine already running as the call's Task."""
    _hold_request(ctx, entry, preread, raw_request)
    await _serve(ctx, entry)


def take_unary_request(ctx: ServicerContext[Any, Any], entry: MethodEntry,
                       raw_request: RawMessage | None) -> Any:
    """The deserialized request of a pre-read unary call, as serve_inline takes it, for a
    caller that then awaits the handler itself (the interceptors' coroutine, see
    _server_interceptor.py). On failure the call is ended and FAILED returned."""
    ctx._request_ended = True  # the engine already consumed the request stream
    if raw_request is None:
        ctx._finish(None, _INTERNAL, NO_REQUEST)
        return FAILED
    try:
        return entry.deserializer(raw_request)
    except Exception:
        _LOGGER.exception("turbogrpc: cannot deserialize the request of %s", ctx._method)
        ctx._finish(None, _INTERNAL, DESERIALIZE_REQUEST_FAILED)
        return FAILED


def _hold_request(ctx: ServicerContext[Any, Any], entry: MethodEntry, preread: bool,
                  raw_request: RawMessage | None) -> None:
    ctx._messages = collections.deque()
    ctx._compressed_flags = collections.deque()
    if preread:
        if raw_request is not None:
            ctx._messages.append(raw_request)
            ctx._compressed_flags.append(ctx._request_compressed)
        ctx._request_ended = True
    ctx._defer_initial = not entry.response_streaming


async def _serve(ctx: ServicerContext[Any, Any], entry: MethodEntry) -> None:
    loop = ctx._state.loop
    try:
        if entry.request_streaming:
            request = _Requests(ctx) if entry.is_async else _SyncRequests(ctx, loop)
        else:
            request = await ctx.read()
            if request is EOF:
                ctx._finish(None, _INTERNAL, NO_REQUEST)
                return
        behavior = entry.behavior
        if not entry.response_streaming:
            if entry.is_async:
                response = await behavior(request, ctx)
            else:
                response = await _in_pool(ctx, behavior, request, ctx)
                if inspect.isawaitable(response):
                    response = await response
            send_response(ctx, entry, response)
            return
        if inspect.isasyncgenfunction(behavior):
            async for response in behavior(request, ctx):
                await ctx.write(response)
        elif entry.is_async:
            await behavior(request, ctx)  # writes with context.write()
        else:
            responses = await _in_pool(ctx, behavior, request, ctx)
            if responses is not None:
                done = object()
                iterator = iter(responses)
                while True:
                    response = await _in_pool(ctx, next, iterator, done)
                    if response is done:
                        break
                    await ctx.write(response)
        ctx._finish_with_status()
    except BaseException as exc:  # noqa: B902 - every outcome must finish the call
        handler_failed(ctx, exc)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise


def _in_pool(ctx: ServicerContext[Any, Any], function: Callable[..., Any],
             *args: Any) -> asyncio.Future[Any]:
    return ctx._state.loop.run_in_executor(ctx._server._executor(), function, *args)


class _Requests:
    """The async iterator of requests a stream-request handler receives."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: ServicerContext[Any, Any]) -> None:
        self._ctx = ctx

    def __aiter__(self) -> _Requests:
        return self

    async def __anext__(self) -> Any:
        message = await self._ctx.read()
        if message is EOF:
            raise StopAsyncIteration
        return message


class _SyncRequests:
    """The blocking iterator a sync stream-request handler receives (in a pool thread)."""

    __slots__ = ("_ctx", "_loop")

    def __init__(self, ctx: ServicerContext[Any, Any], loop: asyncio.AbstractEventLoop) -> None:
        self._ctx = ctx
        self._loop = loop

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        future = asyncio.run_coroutine_threadsafe(self._ctx.read(), self._loop)
        message = future.result()
        if message is EOF:
            raise StopIteration
        return message


# -- finishing ------------------------------------------------------------------------------

def send_response(ctx: ServicerContext[Any, Any], entry: MethodEntry, response: Any) -> None:
    if ctx._finished:
        return
    if ctx._aborted or (ctx._code is not None and ctx._code != _OK):
        ctx._finish_with_status()
        return
    try:
        response = serialize_response(response, entry.serializer)
    except Exception as exc:
        ctx._fail(f"{SERIALIZE_RESPONSE_FAILED} {describe_exception(exc)}", exc)
        return
    ctx._finish_with_status(response)


def handler_failed(ctx: ServicerContext[Any, Any], exc: BaseException) -> None:
    if ctx._finished:
        return  # cancelled, stopped, or already answered: nobody to tell
    if ctx._aborted:
        ctx._finish_with_status()
    elif isinstance(exc, BadRequest):
        _LOGGER.error("turbogrpc: cannot deserialize a request of %s: %r", ctx._method,
                      exc.__cause__)
        ctx._finish(None, _INTERNAL, DESERIALIZE_REQUEST_FAILED)
    elif isinstance(exc, AbortError):  # a write found the call over
        ctx._finish(None, _CANCELLED, "The RPC has ended")
    elif isinstance(exc, asyncio.CancelledError):
        ctx._finish(None, _CANCELLED, "Handler cancelled")
    else:
        _LOGGER.error("Unexpected [%s] raised by servicer method [%s]",
                      type(exc).__name__, ctx._method, exc_info=exc)
        details = f"Unexpected {type(exc)}: {exception_text(exc)}"
        if ctx._code is not None and ctx._code != _OK:
            # A code set before raising wins (grpc does the same; generated base classes
            # rely on it: set_code(UNIMPLEMENTED) then raise NotImplementedError).
            ctx._finish(None, ctx._code, ctx._details or details)
        else:
            ctx._finish(None, _UNKNOWN, details)

