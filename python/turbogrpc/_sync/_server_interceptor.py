"""Server interceptors of the blocking server: grpcio's ``grpc.ServerInterceptor``, and the
chain a server runs them in.

For ``turbogrpc.server(interceptors=[...])``; a server without interceptors never gets here.
Per call, as grpcio's server does it:

* the interceptors run on the server's dispatcher thread, before the call reaches the thread
  pool, in a fresh ``contextvars.Context`` that the handler then runs in too (so what an
  interceptor sets, the handler sees);
* the first interceptor is the outermost; ``continuation(details)`` runs the next one, and
  after the last comes the server's own lookup by ``details.method`` (registered methods, then
  generic handlers in order);
* the handler that comes back serves the call, whatever its shape; ``None`` ends the call
  UNIMPLEMENTED "Method not found!"; an exception is the server's to report (_server.py).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Optional

from .._core._grpcio import grpcio_bases
from .._core._handler_table import CallDetails, InterceptorChainBase

if TYPE_CHECKING:
    from .._core._handler_table import (
        HandlerCallDetails, MethodEntry, RpcMethodHandler,
    )
    from .._core._typing import MetadatumType

__all__ = ["ServerInterceptor", "InterceptorChain"]

_GRPC_INTERCEPTOR = grpcio_bases("ServerInterceptor")

if _GRPC_INTERCEPTOR and not TYPE_CHECKING:
    # The same class, not a subclass: interceptors written against either import are
    # instances of both names and work on both servers. (To the type checker
    # ServerInterceptor is the stand-alone class below.)
    ServerInterceptor = _GRPC_INTERCEPTOR[0]
else:
    class ServerInterceptor(abc.ABC):
        """Intercepts incoming RPCs before they reach their handler (grpc's interface).

        Example::

            class Auth(turbogrpc.ServerInterceptor):
                def intercept_service(self, continuation, handler_call_details):
                    if ("token", "s3cret") in handler_call_details.invocation_metadata:
                        return continuation(handler_call_details)
                    return deny  # a method handler that aborts UNAUTHENTICATED

            server = turbogrpc.server(pool, interceptors=[Auth()])
        """

        @abc.abstractmethod
        def intercept_service(
                self,
                continuation: Callable[[HandlerCallDetails], Optional[RpcMethodHandler]],
                handler_call_details: HandlerCallDetails,
        ) -> Optional[RpcMethodHandler]:
            """Returns the RpcMethodHandler that serves the call, or None (UNIMPLEMENTED).

            ``continuation(handler_call_details)`` gives what the next interceptor, or the
            server's handler lookup after the last one, returns.
            """


class InterceptorChain(InterceptorChainBase):
    """One server's interceptors, linked once; ``entry_for()`` runs them for each call."""

    __slots__ = ()

    def __init__(self, interceptors: Sequence[ServerInterceptor]) -> None:
        super().__init__(interceptors, lambda tables: tables.lookup)

    def entry_for(self, method: str, metadata: Sequence[MetadatumType]
                  ) -> Optional[MethodEntry]:
        """The entry of the handler the chain picks for a call of ``method``, or None (nobody
        serves it). Raises what an interceptor raised, or TypeError for what is no method
        handler. Call it inside the call's contextvars.Context."""
        # grpcio's details are a namedtuple (interceptors may _replace() them): so are ours
        handler = self._first(CallDetails(method, metadata))
        if handler is None:
            return None
        return self._tables.entry_for(handler)
