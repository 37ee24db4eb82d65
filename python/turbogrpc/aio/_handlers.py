"""Running a call's handler on the event loop, for all four RPC shapes.

The server finds the handler in its table (_core/_handler_table.py: a ``MethodEntry`` per
method, classified once). ``async def`` handlers run on the loop, unary ones their first step
inline; plain ``def`` handlers run in the server's thread pool.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextvars
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any

from .._core._server_checks import (
    DESERIALIZE_REQUEST_FAILED, NO_REQUEST, SERIALIZE_RESPONSE_FAILED, BadRequest,
    describe_exception, exception_text, serialize_response,
)
from ._eager import continue_in_task, copy_context, first_step
from .._core._errors import RpcError
from ._rpc_error import EOF, AbortError

if TYPE_CHECKING:
    from .._core._handler_table import MethodEntry
    from .._core._message_reader import RawMessage
    from ._context import ServicerContext

__all__ = ["serve_inline", "serve_in_task", "serve_in_current_task", "take_unary_request",
           "FAILED", "send_response", "continue_suspended", "handler_failed"]

_LOGGER = logging.getLogger("turbogrpc.aio")
# How often a def handler waiting for a request looks whether the server's loop still runs.
_LOOP_CHECK_SECONDS = 1.0
_OK, _CANCELLED, _UNKNOWN, _INTERNAL = 0, 1, 2, 13
FAILED = object()  # take_unary_request(): the request could not be had; the call is over


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
        # The read's coroutine is made on the loop, by the callback: a loop that stops before
        # running it (the server stopping) then leaves no coroutine that was never awaited.
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            self._loop.call_soon_threadsafe(self._start_read, future)
        except RuntimeError:  # the loop is closed: the server, and this call, are gone
            raise RpcError() from None
        while True:
            try:
                message = future.result(_LOOP_CHECK_SECONDS)
                break
            except concurrent.futures.TimeoutError:
                if not self._loop.is_running():  # stopped under us: nobody will answer
                    future.cancel()
                    raise RpcError() from None
        if message is EOF:
            raise StopIteration
        return message

    def _start_read(self, future: concurrent.futures.Future[Any]) -> None:  # on the loop
        if not future.set_running_or_notify_cancel():
            return  # the handler's thread gave up waiting
        task = self._loop.create_task(self._ctx.read())
        task.add_done_callback(lambda done: _settle_from(done, future))


def _settle_from(task: asyncio.Task[Any], future: concurrent.futures.Future[Any]) -> None:
    """Hands a finished read's outcome to the pool thread waiting on ``future``."""
    if task.cancelled():
        future.set_exception(concurrent.futures.CancelledError())
    elif task.exception() is not None:
        future.set_exception(task.exception())
    else:
        future.set_result(task.result())


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

