"""The blocking server (grpcio's ``grpc.server``): ``server()`` and ``Server``, the facade the
application holds. Everything else is ``ServerState``'s (_server_state.py): the dispatcher
thread holds only the state, so a server the application drops without stopping it is
collected, and stops (as grpcio's).
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Optional

from .._core._errors import UsageError
from .._core._grpcio import register_with_grpcio
from .._core._server_security import PLAINTEXT, listener_security
from ._server_state import NEW, ServerState

if TYPE_CHECKING:
    from .._core._compression import Compression
    from .._core._credentials import ServerCredentials
    from .._core._handler_table import GenericRpcHandler, RpcMethodHandler
    from .._core._typing import ChannelArgumentType
    from ._server_interceptor import ServerInterceptor

__all__ = ["Server", "server"]

_LOGGER = logging.getLogger("turbogrpc")


def server(thread_pool: concurrent.futures.Executor,
           handlers: Optional[Sequence[GenericRpcHandler]] = None,
           interceptors: Optional[Sequence[ServerInterceptor]] = None,
           options: Optional[ChannelArgumentType] = None,
           maximum_concurrent_rpcs: Optional[int] = None,
           compression: Optional[Compression] = None,
           xds: bool = False) -> Server:
    """Creates a Server whose handlers run on ``thread_pool`` (grpc.server's arguments).

    Example::

        server = turbogrpc.server(futures.ThreadPoolExecutor(max_workers=16))
        helloworld_pb2_grpc.add_GreeterServicer_to_server(Greeter(), server)
        server.add_insecure_port("[::]:50051")
        server.start()
        server.wait_for_termination()
    """
    if xds:
        raise UsageError("turbogrpc does not support xDS servers (xds=True)")
    return Server(thread_pool, handlers, interceptors, options, maximum_concurrent_rpcs,
                  compression)


class Server:
    """A blocking gRPC server (grpcio's ``grpc.Server``); see ``turbogrpc.server()``.

    Example::

        server = turbogrpc.server(futures.ThreadPoolExecutor(max_workers=10))
        server.add_generic_rpc_handlers((turbogrpc.method_handlers_generic_handler(
            "helloworld.Greeter", {"SayHello": turbogrpc.unary_unary_rpc_method_handler(hello)}),))
        port = server.add_insecure_port("localhost:0")
        server.start()
        ...
        server.stop(grace=1.0).wait()
    """

    def __init__(self, thread_pool: concurrent.futures.Executor,
                 handlers: Optional[Sequence[GenericRpcHandler]] = None,
                 interceptors: Optional[Sequence[ServerInterceptor]] = None,
                 options: Optional[ChannelArgumentType] = None,
                 maximum_concurrent_rpcs: Optional[int] = None,
                 compression: Optional[Compression] = None) -> None:
        self._state = ServerState(thread_pool, interceptors, options, maximum_concurrent_rpcs,
                                  compression)
        if handlers:
            self.add_generic_rpc_handlers(handlers)

    def add_generic_rpc_handlers(self, generic_rpc_handlers: Sequence[GenericRpcHandler]
                                 ) -> None:
        """Adds generic handlers (objects with ``service(details)``), asked in order; also
        after start()."""
        self._state.handlers.add_generic(generic_rpc_handlers)
        self._state.rebuild_methods()

    def add_registered_method_handlers(self, service_name: str,
                                       method_handlers: Mapping[str, RpcMethodHandler]) -> None:
        """Adds handlers by method name; they win over generic handlers for their path. Only
        before start() (after it, grpcio's warning and nothing else)."""
        state = self._state
        if state.phase is not NEW:
            _LOGGER.warning("Cannot register method handlers once server has started")
            return
        state.handlers.add_registered(service_name, method_handlers)
        state.rebuild_methods()

    def add_insecure_port(self, address: str) -> int:
        """Binds ``address`` now and returns the port ("localhost:0" picks a free one)."""
        return self._state.add_port(address, PLAINTEXT, None, "add_insecure_port")

    def add_secure_port(self, address: str, server_credentials: ServerCredentials) -> int:
        """Binds ``address`` for connections secured by ``server_credentials`` (TLS or local
        credentials) and returns the port."""
        if self._state.phase is not NEW:
            raise UsageError("add_secure_port() must be called before start()")
        security, fetcher = listener_security(server_credentials)
        return self._state.add_port(address, security, fetcher, "add_secure_port")

    def start(self) -> None:
        """Starts serving (once); returns at once."""
        self._state.start()

    def stop(self, grace: Optional[float]) -> threading.Event:
        """Stops the server: new calls are refused at once, calls in flight get ``grace``
        seconds (None: none) and are then cancelled. Returns an Event set once the server has
        stopped; ``stop(None)`` returns only then. Idempotent; a later, shorter grace wins.
        """
        return self._state.stop(grace)

    def wait_for_termination(self, timeout: Optional[float] = None) -> bool:
        """Blocks until the server has stopped; True if ``timeout`` expired first (grpcio)."""
        return not self._state.terminated.wait(timeout)

    def __del__(self) -> None:
        try:
            self._state.drop()
        except Exception:  # noqa: BLE001 - at exit, or a half-made server
            pass

    def __repr__(self) -> str:
        state = self._state
        return f"<turbogrpc.Server id={state.setup.server_id} {state.phase}>"


register_with_grpcio(Server, "Server")  # isinstance(server, grpc.Server) holds
