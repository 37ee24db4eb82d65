"""Server: ports, handler registry, lifecycle, and the SERVER_CALL entry point.

``_on_server_call`` is the server hot path: look the path up in one dict, build the
context, and for async unary handlers run the handler inline (see _handlers.serve_inline).
A server with interceptors hands each call to its chain instead (_server_interceptor.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .. import _engine
from .._core._errors import UsageError
from .._core._generation import check_generation
from .._core._grpcio import register_with_grpcio
from .._core._handler_table import HandlerRegistry
from .._core._server_checks import (
    CONCURRENCY_EXCEEDED, METHOD_NOT_FOUND, SHUTTING_DOWN, describe_exception, exception_text,
)
from .._core._server_security import PLAINTEXT, listener_security
from .._core._server_setup import Listeners, ServerSetup
from ._completion import running_loop_state
from ._context import ServicerContext
from ._handlers import serve_in_task, serve_inline
from ._security_tasks import refresh_certificates
from ._server_interceptor import server_interceptors

if TYPE_CHECKING:
    from .._core._compression import Compression
    from .._core._credentials import ServerCredentials
    from .._core._events import EngineEvent
    from .._core._handler_table import GenericRpcHandler, MethodEntry, RpcMethodHandler
    from .._core._server_security import CertificateFetcher, ListenerSecurity
    from .._core._typing import ChannelArgumentType
    from ._completion import LoopState
    from ._server_interceptor import ServerInterceptor

__all__ = ["Server", "server"]

_LOGGER = logging.getLogger("turbogrpc.aio")
_UNIMPLEMENTED, _RESOURCE_EXHAUSTED, _UNAVAILABLE, _UNKNOWN = 12, 8, 14, 2

_NEW, _SERVING, _STOPPING, _STOPPED = "new", "serving", "stopping", "stopped"


def server(migration_thread_pool: concurrent.futures.Executor | None = None,
           handlers: Sequence[GenericRpcHandler] | None = None,
           interceptors: Sequence[ServerInterceptor] | None = None,
           options: ChannelArgumentType | None = None,
           maximum_concurrent_rpcs: int | None = None,
           compression: Compression | None = None) -> Server:
    """Creates a Server (same arguments as grpc.aio.server).

    Example::

        server = aio.server()
        helloworld_pb2_grpc.add_GreeterServicer_to_server(Greeter(), server)
        port = server.add_insecure_port("[::]:50051")
        await server.start()
        await server.wait_for_termination()
    """
    return Server(migration_thread_pool, handlers, interceptors, options,
                  maximum_concurrent_rpcs, compression)


class Server:
    """Serves RPCs on the event loop that calls ``start()``.

    Example::

        server = aio.server()
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "helloworld.Greeter", {"SayHello": grpc.unary_unary_rpc_method_handler(say_hello)}),))
        server.add_insecure_port("localhost:0")
        await server.start()
        ...
        await server.stop(grace=1.0)
    """

    def __init__(self, thread_pool: concurrent.futures.Executor | None = None,
                 handlers: Sequence[GenericRpcHandler] | None = None,
                 interceptors: Sequence[ServerInterceptor] | None = None,
                 options: ChannelArgumentType | None = None,
                 maximum_concurrent_rpcs: int | None = None,
                 compression: Compression | None = None) -> None:
        chain = server_interceptors(interceptors)
        setup = self._setup = ServerSetup(options, compression, maximum_concurrent_rpcs)
        self._id = setup.server_id
        self._generation = setup.generation
        # Responses use this unless a handler calls context.set_compression().
        self._compression = setup.compression
        self._limit = setup.limit
        self._interceptors = chain  # None: calls never look at interceptors
        self._thread_pool = thread_pool
        self._own_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._handlers = HandlerRegistry()
        # path -> MethodEntry: looked up before any generic handler (the registry's, cached)
        self._methods: dict[str, MethodEntry] = {}
        self._listeners = Listeners()
        # certificate fetches in flight (the loop holds tasks weakly)
        self._fetching: set[asyncio.Task[None]] = set()
        self._phase = _NEW
        # Set by start(); everything that reads it runs only once the server is serving.
        self._state: LoopState = None  # type: ignore[assignment]
        self._loop_thread_id: int | None = None
        self._active = 0
        # future set when no call is active (stop with grace)
        self._idle: asyncio.Future[None] | None = None
        self._terminated = asyncio.Event()  # binds to a loop only when awaited
        if handlers:
            self.add_generic_rpc_handlers(handlers)

    # -- handlers -------------------------------------------------------------------------

    def add_generic_rpc_handlers(self, generic_rpc_handlers: Sequence[GenericRpcHandler]
                                 ) -> None:
        """Adds grpcio-style generic handlers (objects with ``service(details)``)."""
        self._handlers.add_generic(generic_rpc_handlers)
        self._rebuild_methods()

    def add_registered_method_handlers(self, service_name: str,
                                       method_handlers: Mapping[str, RpcMethodHandler]
                                       ) -> None:
        """Adds handlers by method name; they win over generic handlers for their path."""
        self._handlers.add_registered(service_name, method_handlers)
        self._rebuild_methods()

    def _rebuild_methods(self) -> None:
        self._methods = self._handlers.methods
        if self._interceptors is not None:
            self._interceptors.set_methods(self._methods, self._handlers.searched)

    def _find_method(self, ctx: ServicerContext[Any, Any]) -> MethodEntry | None:
        if not self._handlers.searched:
            return None
        return self._handlers.find(ctx._method, ctx.invocation_metadata())

    def _executor(self) -> concurrent.futures.Executor:
        pool = self._thread_pool or self._own_pool
        if pool is None:
            pool = self._own_pool = concurrent.futures.ThreadPoolExecutor(
                thread_name_prefix="turbogrpc-handler"
            )
        return pool

    # -- ports ----------------------------------------------------------------------------

    def add_insecure_port(self, address: str) -> int:
        """Binds ``address`` now and returns the port ("localhost:0" picks a free one)."""
        return self._add_port(address, PLAINTEXT, None, "add_insecure_port")

    def add_secure_port(self, address: str, server_credentials: ServerCredentials) -> int:
        """Binds ``address`` for connections secured by ``server_credentials`` (TLS or local
        credentials) and returns the port.

        Example::

            credentials = turbogrpc.ssl_server_credentials([(key_pem, chain_pem)])
            port = server.add_secure_port("[::]:50051", credentials)
        """
        if self._phase != _NEW:
            raise UsageError("add_secure_port() must be called before start()")
        security, fetcher = listener_security(server_credentials)
        return self._add_port(address, security, fetcher, "add_secure_port")

    def _add_port(self, address: str, security: ListenerSecurity,
                  fetcher: tuple[CertificateFetcher, bool] | None, what: str) -> int:
        if self._phase != _NEW:
            raise UsageError(f"{what}() must be called before start()")
        return self._listeners.add(address, security, fetcher, self._setup)

    def _on_certificate_fetch(self, listener: int) -> None:
        fetcher, require_client_auth = self._listeners.fetchers[listener]
        task = self._state.loop.create_task(
            refresh_certificates(self._id, listener, fetcher, require_client_auth))
        self._fetching.add(task)
        task.add_done_callback(self._fetching.discard)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Starts serving on the running event loop (once)."""
        if self._phase != _NEW:
            raise UsageError("start() may be called only once")
        check_generation(self._generation, "server")
        state = running_loop_state()
        unary_request_paths = self._handlers.unary_request_paths()
        listeners = self._listeners
        state.servers[self._id] = self
        try:
            _engine.start_server(self._id, state.cq, listeners.fds, self._setup.options,
                                 unary_request_paths, listeners.security)
        except BaseException:
            del state.servers[self._id]
            raise
        listeners.handed_over()
        self._state = state
        self._loop_thread_id = threading.get_ident()
        self._phase = _SERVING

    def _on_server_call(self, event: EngineEvent) -> None:
        (_, call_id, _, method, metadata, timeout, peer, authority, preread, request,
         compressed, auth) = event
        ctx: ServicerContext[Any, Any] = ServicerContext(
            self, self._state, call_id, method, metadata, timeout, peer, authority)
        ctx._request_compressed = compressed
        ctx._auth = auth
        self._active += 1
        if self._phase == _STOPPED:
            ctx._finish(None, _UNAVAILABLE, SHUTTING_DOWN)
            return
        if self._limit is not None and self._active > self._limit:
            ctx._finish(None, _RESOURCE_EXHAUSTED, CONCURRENCY_EXCEEDED)
            return
        if self._interceptors is not None:
            self._interceptors.serve(ctx, preread, request)
            return
        entry = self._methods.get(method)
        if entry is None:
            try:
                entry = self._find_method(ctx)
            except Exception as exc:
                _LOGGER.exception("turbogrpc: generic handler failed for %s", method)
                ctx._finish(None, _UNKNOWN, f"Unexpected {type(exc)}: {exception_text(exc)}")
                return
            if entry is None:
                ctx._finish(None, _UNIMPLEMENTED, METHOD_NOT_FOUND)
                return
        ctx._serializer = entry.serializer
        ctx._deserializer = entry.deserializer
        try:
            if entry.inline and preread:
                serve_inline(ctx, entry, request)
            else:
                serve_in_task(ctx, entry, preread, request)
        except Exception as exc:  # noqa: BLE001 - a call nobody ends would hang its client
            ctx._fail(f"Cannot run the handler: {describe_exception(exc)}", exc)

    def _call_ended(self) -> None:
        self._active -= 1
        if self._active == 0 and self._idle is not None and not self._idle.done():
            self._idle.set_result(None)

    async def stop(self, grace: float | None) -> None:
        """Stops accepting at once; running calls get ``grace`` seconds, then are cancelled.

        Idempotent; a later call with a shorter grace stops sooner. Returns once every
        handler task has finished.
        """
        if self._phase == _NEW:
            self._close_unused_fds()
            self._phase = _STOPPED
            self._terminated.set()
            return
        if self._phase == _SERVING:
            self._phase = _STOPPING
            _engine.stop_server(self._id, False)
        if grace and self._active and self._phase == _STOPPING:
            if self._idle is None or self._idle.done():
                self._idle = self._state.loop.create_future()
            try:
                await asyncio.wait_for(asyncio.shield(self._idle), grace)
            except asyncio.TimeoutError:
                pass
        tasks = self._stop_now()
        if tasks:
            await asyncio.wait(tasks)

    def _stop_now(self) -> list[asyncio.Task[None]]:
        """Cancels every call still running and closes everything; returns handler tasks."""
        tasks: list[asyncio.Task[None]] = []
        if self._phase == _STOPPED:
            return tasks
        self._phase = _STOPPED
        calls = self._state.calls
        for ctx in list(calls.values()):
            if type(ctx) is ServicerContext and ctx._server is self:
                if ctx._task is not None and not ctx._task.done():
                    tasks.append(ctx._task)
                ctx._ended_by_engine(1, "Server stopped")
        _engine.stop_server(self._id, True)
        self._state.servers.pop(self._id, None)  # late SERVER_CALLs are refused by the loop
        if self._own_pool is not None:
            self._own_pool.shutdown(wait=False, cancel_futures=True)
        self._terminated.set()
        return tasks

    async def wait_for_termination(self, timeout: float | None = None) -> bool:
        """Waits until the server stops; returns True if ``timeout`` expired first (grpc's rule)."""
        try:
            await asyncio.wait_for(self._terminated.wait(), timeout)
        except asyncio.TimeoutError:
            return True
        return False

    def _close_unused_fds(self) -> None:
        self._listeners.close()

    def __del__(self) -> None:
        try:
            if getattr(self, "_phase", _STOPPED) == _NEW:
                self._close_unused_fds()
            elif self._phase != _STOPPED and self._generation == _engine.generation():
                _engine.stop_server(self._id, True)
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"<turbogrpc.aio.Server id={self._id} {self._phase}>"


register_with_grpcio(Server, "aio.Server")  # isinstance(server, grpc.aio.Server) holds
