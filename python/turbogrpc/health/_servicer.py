"""The asyncio-native servicer of grpc.health.v1.Health, its registration, and a client stub.

Statuses live in one table guarded by a lock, so ``set()`` works from any thread; each open
Watch call waits on an asyncio.Event of its own loop, woken at once (thread-safely when
``set()`` runs elsewhere). A watcher sends the newest status only, never the same one twice
in a row (as grpc-go and grpcio's asyncio servicer do), so a slow reader holds no backlog.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Generator
from typing import TYPE_CHECKING, Any, Optional, Union

from .. import StatusCode, UsageError
from .._protos import messages
from .._protos._rpc import MethodHandler, add_service, method_handler, multicallable

if TYPE_CHECKING:
    from ..aio._channel import Channel
    from ..aio._context import ServicerContext
    from ..aio._server import Server

__all__ = [
    "HealthCheckRequest", "HealthCheckResponse", "HealthListRequest", "HealthListResponse",
    "HealthServicer", "HealthStub", "MAX_LIST_SERVICES", "OVERALL_HEALTH", "SERVICE_NAME",
    "add_HealthServicer_to_server", "health_pb2",
]

health_pb2 = messages("grpc/health/v1/health.proto")
HealthCheckRequest = health_pb2.HealthCheckRequest
HealthCheckResponse = health_pb2.HealthCheckResponse
HealthListRequest = health_pb2.HealthListRequest
HealthListResponse = health_pb2.HealthListResponse

SERVICE_NAME = "grpc.health.v1.Health"
OVERALL_HEALTH = ""  # the service name that stands for the whole server
MAX_LIST_SERVICES = 100  # List answers RESOURCE_EXHAUSTED beyond this (the proto's contract)

_SERVING = HealthCheckResponse.SERVING
_NOT_SERVING = HealthCheckResponse.NOT_SERVING
_SERVICE_UNKNOWN = HealthCheckResponse.SERVICE_UNKNOWN
_STATUSES = frozenset(HealthCheckResponse.ServingStatus.values())


class _Applied:
    """What set() and enter_graceful_shutdown() return: the change is already made, and
    awaiting it (as callers of grpcio's asyncio servicer do) returns at once."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        # Nothing to wait for: an empty iterator ends the await at once (typeshed wants a
        # Generator; a plain iterator is all the await protocol uses).
        return iter(())  # type: ignore[return-value]

    def __repr__(self) -> str:
        return "<applied>"


_APPLIED = _Applied()


class _Watcher:
    """One open Watch call: its loop and the event that says "look again"."""

    __slots__ = ("loop", "changed")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.changed = asyncio.Event()

    def wake(self) -> None:
        try:
            running: Optional[asyncio.AbstractEventLoop] = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.changed.set()
            return
        try:
            self.loop.call_soon_threadsafe(self.changed.set)
        except RuntimeError:  # its loop is closed: that call is over anyway
            pass


class HealthServicer:
    """gRPC's health service, served on the event loop.

    Example::

        from turbogrpc import aio, health

        servicer = health.HealthServicer()           # "" (the whole server) is SERVING
        health.add_HealthServicer_to_server(servicer, server)
        servicer.set("helloworld.Greeter", health.HealthCheckResponse.SERVING)
        ...
        servicer.enter_graceful_shutdown()           # all NOT_SERVING; later set() ignored
        await server.stop(grace=5)

    ``set()`` and ``enter_graceful_shutdown()`` take effect before they return and may be
    called from any thread; awaiting their result also works, so code written for
    grpcio-health-checking's sync or asyncio servicer runs unchanged.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # guarded by _lock:
        self._statuses: dict[str, int] = {OVERALL_HEALTH: _SERVING}
        self._watchers: dict[str, set[_Watcher]] = {}  # service name -> set of _Watcher
        self._shutting_down = False

    # -- the service --------------------------------------------------------------------

    async def Check(self, request: Any, context: ServicerContext[Any, Any]) -> Any:
        """The status of ``request.service``; NOT_FOUND when it was never set."""
        with self._lock:
            status = self._statuses.get(request.service)
        if status is None:
            await context.abort(StatusCode.NOT_FOUND, "unknown service")
        return HealthCheckResponse(status=status)

    async def List(self, request: Any, context: ServicerContext[Any, Any]) -> Any:
        """Every known service with its status; RESOURCE_EXHAUSTED beyond 100 of them."""
        with self._lock:
            statuses = dict(self._statuses)
        if len(statuses) > MAX_LIST_SERVICES:
            await context.abort(
                StatusCode.RESOURCE_EXHAUSTED,
                f"server health list exceeds maximum capacity: {MAX_LIST_SERVICES}")
        response = HealthListResponse()
        for name, status in statuses.items():
            response.statuses[name].status = status
        return response

    async def Watch(self, request: Any,
                    context: ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        """The status now, then each change, until the call ends (SERVICE_UNKNOWN while the
        service is unknown; the call stays open)."""
        service = request.service
        watcher = _Watcher(asyncio.get_running_loop())
        with self._lock:
            self._watchers.setdefault(service, set()).add(watcher)
        try:
            sent: Optional[int] = None
            while True:
                watcher.changed.clear()  # before reading: a set() from now on wakes us
                with self._lock:
                    status = self._statuses.get(service, _SERVICE_UNKNOWN)
                if status != sent:
                    yield HealthCheckResponse(status=status)
                    sent = status
                await watcher.changed.wait()
        finally:
            with self._lock:
                watchers = self._watchers.get(service)
                if watchers is not None:
                    watchers.discard(watcher)
                    if not watchers:
                        del self._watchers[service]

    # -- the application's side --------------------------------------------------------

    def set(self, service: str, status: int) -> _Applied:
        """Sets the status of `service` ("" = the whole server) and tells its watchers.

        `status` is a ``HealthCheckResponse.ServingStatus`` value (grpcio-health-checking's
        constants are the same numbers). Ignored after enter_graceful_shutdown().
        """
        if not isinstance(service, str):
            raise UsageError(f"service must be a str, got {service!r}")
        if isinstance(status, bool) or status not in _STATUSES:
            raise UsageError(f"status must be a HealthCheckResponse.ServingStatus value, "
                             f"got {status!r}")
        with self._lock:
            if self._shutting_down:
                return _APPLIED
            self._statuses[service] = int(status)
            watchers = tuple(self._watchers.get(service, ()))
        for watcher in watchers:
            watcher.wake()
        return _APPLIED

    def enter_graceful_shutdown(self) -> _Applied:
        """Sets every known service NOT_SERVING for good: later set() calls are ignored.

        Call it when the server starts to drain, so load balancers and probes stop sending
        new calls before ``server.stop(grace)``.
        """
        with self._lock:
            if self._shutting_down:
                return _APPLIED
            self._shutting_down = True
            for service in self._statuses:
                self._statuses[service] = _NOT_SERVING
            watchers = [w for group in self._watchers.values() for w in group]
        for watcher in watchers:
            watcher.wake()
        return _APPLIED


def add_HealthServicer_to_server(servicer: Union[HealthServicer, Any],
                                 server: Union[Server, Any]) -> None:
    """Serves `servicer` (ours, or any object with async Check / List / Watch) as
    grpc.health.v1.Health on `server`: turbogrpc.aio's server or grpc.aio's."""
    handlers: dict[str, MethodHandler] = {
        "Check": method_handler(servicer.Check, HealthCheckRequest),
        "Watch": method_handler(servicer.Watch, HealthCheckRequest, response_streaming=True),
    }
    if hasattr(servicer, "List"):
        handlers["List"] = method_handler(servicer.List, HealthListRequest)
    add_service(server, SERVICE_NAME, handlers)


class HealthStub:
    """A client of grpc.health.v1.Health over a turbogrpc.aio (or grpc.aio) channel.

    Example::

        reply = await health.HealthStub(channel).Check(health.HealthCheckRequest(service=""))
    """

    def __init__(self, channel: Union[Channel, Any]) -> None:
        self.Check = multicallable(channel, SERVICE_NAME, "Check", HealthCheckResponse)
        self.List = multicallable(channel, SERVICE_NAME, "List", HealthListResponse)
        self.Watch = multicallable(channel, SERVICE_NAME, "Watch", HealthCheckResponse,
                                   response_streaming=True)
