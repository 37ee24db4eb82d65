"""Server interceptors: grpc.aio's ``ServerInterceptor``, and the chain a server runs them in.

For servers made with ``aio.server(interceptors=[...])``; a server without interceptors never
gets here. Per call, as grpc.aio does it:

* the first interceptor is the outermost; ``continuation(details)`` runs the next one, and
  after the last comes the server's own lookup (registered methods, then generic handlers),
  made by ``details.method``, so a continuation may ask for another method's handler;
* the handler that comes back serves the call, whatever its shape; ``None`` ends the call
  UNIMPLEMENTED "Method not found!"; an exception ends it UNKNOWN "Unexpected <class ...>: ..."
  and is logged as a failing handler is;
* the interceptors and the handler run in one ``contextvars`` context (a fresh one per call),
  so what an interceptor sets, the handler sees.

The chain and a unary handler run in one coroutine, driven eagerly like an inline handler
(_eager.py): an interceptor that just returns ``await continuation(details)`` never suspends,
so it costs its coroutine and no Task or Future. If the chain or the handler really waits,
that coroutine continues in the call's Task; streaming and sync handlers get their Task as
they do without interceptors.
"""

from __future__ import annotations

import abc
import functools
import types
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .._core._errors import UsageError
from .._core._grpcio import grpcio_bases
from .._core._handler_table import HandlerTables, InterceptorChainBase, LazyCallDetails
from .._core._server_checks import METHOD_NOT_FOUND, describe_exception
from ._eager import copy_context, first_step
from ._handlers import (
    FAILED, continue_suspended, handler_failed, send_response, serve_in_current_task,
    serve_in_task, take_unary_request,
)

if TYPE_CHECKING:
    from .._core._handler_table import HandlerCallDetails, RpcMethodHandler
    from .._core._message_reader import RawMessage
    from ._context import ServicerContext

__all__ = ["ServerInterceptor", "server_interceptors"]

_UNIMPLEMENTED = 12
_COROUTINE = types.CoroutineType

_GRPC_INTERCEPTOR = grpcio_bases("aio.ServerInterceptor")

if _GRPC_INTERCEPTOR and not TYPE_CHECKING:
    # The same class, not a subclass: interceptors written against either import are
    # instances of both names, so they work on both servers and pass either isinstance check.
    # (To the type checker ServerInterceptor is the stand-alone class below.)
    ServerInterceptor = _GRPC_INTERCEPTOR[0]
    _NAME = "grpc.aio.ServerInterceptor"
else:
    _NAME = "turbogrpc.aio.ServerInterceptor"

    class ServerInterceptor(abc.ABC):
        """Intercepts incoming RPCs before they reach their handler (grpc.aio's interface).

        Example::

            class Auth(aio.ServerInterceptor):
                async def intercept_service(self, continuation, handler_call_details):
                    if ("token", "s3cret") in handler_call_details.invocation_metadata:
                        return await continuation(handler_call_details)
                    return deny  # a method handler that aborts UNAUTHENTICATED

            server = aio.server(interceptors=[Auth()])
        """

        @abc.abstractmethod
        async def intercept_service(
                self,
                continuation: Callable[[HandlerCallDetails], Awaitable[RpcMethodHandler | None]],
                handler_call_details: HandlerCallDetails,
        ) -> RpcMethodHandler | None:
            """Returns the RpcMethodHandler that serves the call, or None (UNIMPLEMENTED).

            ``await continuation(handler_call_details)`` gives what the next interceptor, or
            the server's handler lookup after the last one, returns.
            """


def server_interceptors(interceptors: Iterable[ServerInterceptor] | None
                        ) -> InterceptorChain | None:
    """The chain of ``interceptors`` for a new server, or None when there are none.

    Raises UsageError (a ValueError, as grpc.aio raises) naming anything that is not a
    ``ServerInterceptor``; grpc's sync ``grpc.ServerInterceptor`` is refused too, as there.
    """
    interceptors = tuple(interceptors or ())
    if not interceptors:
        return None
    invalid = [each for each in interceptors if not isinstance(each, ServerInterceptor)]
    if invalid:
        raise UsageError(
            f"server interceptors must be {_NAME} instances; the following are invalid: "
            f"{invalid!r}"
        )
    return InterceptorChain(interceptors)


async def _lookup(tables: HandlerTables, handler_call_details: HandlerCallDetails
                  ) -> RpcMethodHandler | None:
    """The end of the chain: the server's handler for ``details.method``, or None (as
    grpc.aio: registered methods first, then each generic handler in order)."""
    return tables.lookup(handler_call_details)


async def _awaited(awaitable: Awaitable[RpcMethodHandler | None]) -> RpcMethodHandler | None:
    return await awaitable


class InterceptorChain(InterceptorChainBase):
    """One server's interceptors, linked once; ``serve()`` runs them for each call."""

    __slots__ = ()

    def __init__(self, interceptors: Sequence[ServerInterceptor]) -> None:
        super().__init__(interceptors, lambda tables: functools.partial(_lookup, tables))

    def serve(self, ctx: ServicerContext[Any, Any], preread: bool,
              raw_request: RawMessage | None) -> None:
        """Runs the chain for a new call, then its handler, in one fresh context.

        Both run in one coroutine, driven like an inline handler: its first step here, the
        rest in a Task only if it suspends (in the chain or in a unary handler).
        """
        context = copy_context()
        coro = self._call(ctx, preread, raw_request)
        try:
            pending = context.run(first_step, ctx._state, coro)
        except StopIteration:
            return
        except BaseException as exc:  # noqa: B902 - _call handles its own; this is the rest
            handler_failed(ctx, exc)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            return
        continue_suspended(ctx, context, coro, pending, _rest_of_call)

    async def _call(self, ctx: ServicerContext[Any, Any], preread: bool,
                    raw_request: RawMessage | None) -> None:
        try:
            chain = self._first(LazyCallDetails(ctx._method, None, ctx))
            if type(chain) is not _COROUTINE:
                chain = _awaited(chain)  # any awaitable; a non-awaitable raises as in grpc.aio
            handler = await chain
            if handler is None:
                ctx._finish(None, _UNIMPLEMENTED, METHOD_NOT_FOUND)
                return
            # A handler passed through unchanged has its entry ready; any other is classified
            # now (which raises for what is no method handler, as grpc.aio's server does).
            entry = self._tables.entry_for(handler)
        except BaseException as exc:  # noqa: B902 - every outcome must finish the call
            handler_failed(ctx, exc)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            return
        if ctx._finished:
            return  # cancelled or stopped while the interceptors ran
        ctx._serializer = entry.serializer
        ctx._deserializer = entry.deserializer
        if entry.inline and preread:
            # serve_inline's steps, with the handler awaited here: if it suspends, so does this
            request = take_unary_request(ctx, entry, raw_request)
            if request is FAILED:
                return
            try:
                response = await entry.behavior(request, ctx)
            except BaseException as exc:  # noqa: B902 - every outcome must finish the call
                handler_failed(ctx, exc)
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                return
            send_response(ctx, entry, response)
        elif ctx._task is None:
            # Still the first step, run from the event: the handler gets its own Task (in a
            # copy of this context), as without interceptors.
            try:
                serve_in_task(ctx, entry, preread, raw_request)
            except Exception as exc:  # noqa: BLE001 - a call nobody ends would hang its client
                ctx._fail(f"Cannot run the handler: {describe_exception(exc)}", exc)
        else:
            await serve_in_current_task(ctx, entry, preread, raw_request)


async def _rest_of_call(rest: Awaitable[None]) -> None:
    await rest  # _call ends the call whatever happens
