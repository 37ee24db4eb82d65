"""The state of one blocking server (``ServerState``) and its dispatcher thread: what the
facade (_server.py's ``Server``) drives and what the server's calls report to.

The dispatcher thread drains the server's completion queue (waiting with the GIL released):

- SERVER_CALL: look the method up (interceptors too, as grpcio does on its serving thread),
  refuse the call at once (UNIMPLEMENTED, RESOURCE_EXHAUSTED, server stopped) or register its
  ServicerContext and submit its handler to the thread pool;
- MESSAGE, WRITE_DONE, SERVER_DONE: hand them to the call's context, which wakes its handler;
- CERTIFICATE_FETCH: run the fetcher on a short-lived thread of its own.

Only this thread registers calls and only it decides that a stopping server is done (no call
left, or the grace period over), so no call can slip in between: ``stop()`` just marks the
server stopping and wakes it.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextvars
import logging
import math
import os
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable, Optional

from .. import _engine
from .._core._errors import UsageError
from .._core._events import CERTIFICATE_FETCH, SERVER_CALL
from .._core._generation import check_generation
from .._core._handler_table import HandlerRegistry
from .._core._metadata import _Metadatum
from .._core._server_checks import (
    CONCURRENCY_EXCEEDED, METHOD_NOT_FOUND, SHUTTING_DOWN, describe_exception,
)
from .._core._server_security import install_fetched_certificates
from .._core._server_setup import Listeners, ServerSetup
from ._queues import Dispatcher
from ._server_handlers import serve_call, serve_unary
from ._server_interceptor import InterceptorChain
from ._servicer_context import ServicerContext

if TYPE_CHECKING:
    from .._core._compression import Compression
    from .._core._events import EngineEvent
    from .._core._handler_table import MethodEntry
    from .._core._server_security import CertificateFetcher, ListenerSecurity
    from .._core._typing import ChannelArgumentType
    from ._server_interceptor import ServerInterceptor

__all__ = ["ServerState", "NEW", "STOPPED"]

_LOGGER = logging.getLogger("turbogrpc")
_UNKNOWN, _RESOURCE_EXHAUSTED, _UNIMPLEMENTED, _INTERNAL, _UNAVAILABLE = 2, 8, 12, 13, 14
NEW, _SERVING, _STOPPING, STOPPED = "new", "serving", "stopping", "stopped"
_EXIT_JOIN_SECONDS = 2.0


class _ServerDispatcher(Dispatcher):
    """The server's dispatcher thread (see the module docstring); one per started server."""

    def __init__(self, state: ServerState) -> None:
        self._server = state  # before the thread starts (in Dispatcher.__init__)
        super().__init__()
        self._thread.name = f"turbogrpc-server-{state.setup.server_id}"

    def _run(self) -> None:
        state = self._server
        calls = state.calls
        cq = self.cq
        while not self._stopping:
            events = cq.wait(state.wait_ms())
            for event in events:
                try:
                    kind = event[0]
                    if kind == SERVER_CALL:
                        state.on_server_call(event)
                    elif kind == CERTIFICATE_FETCH:
                        state.on_certificate_fetch(event[3])
                    else:
                        # Unknown ids are normal: a call that ended may have events in flight.
                        ctx = calls.get(event[1])
                        if ctx is not None:
                            ctx._on_event(event)
                except Exception:  # a bug here must not stop every other call's events
                    _LOGGER.exception("turbogrpc: handling engine event %r failed", event[:2])
            if state.phase is not _SERVING:
                state.check_stop()


def _refuse(call_id: int, code: int, details: str) -> None:
    """Ends a call no handler will see."""
    try:
        _engine.finish(call_id, None, None, code, details, ())
    except Exception:  # noqa: BLE001 - a dead engine; its stop ends the call
        _LOGGER.exception("turbogrpc: cannot refuse call %d", call_id)


def _metadata_of(event: EngineEvent) -> tuple[_Metadatum, ...]:
    return tuple(_Metadatum(pair) for pair in event[4])


# Servers serving now: their dispatcher threads are stopped at exit (a thread still waiting
# in the engine when the interpreter finalizes could not take the GIL back).
_serving: set[ServerState] = set()


class ServerState:
    """Everything a server is but its facade: what the dispatcher thread and the calls use."""

    def __init__(self, thread_pool: concurrent.futures.Executor,
                 interceptors: Optional[Sequence[ServerInterceptor]],
                 options: Optional[ChannelArgumentType], maximum_concurrent_rpcs: Optional[int],
                 compression: Optional[Compression]) -> None:
        if thread_pool is None or not hasattr(thread_pool, "submit"):
            raise UsageError(
                f"turbogrpc.server() needs a thread pool (concurrent.futures.ThreadPoolExecutor)"
                f" to run the handlers, got {thread_pool!r}")
        self.setup = ServerSetup(options, compression, maximum_concurrent_rpcs)
        self.pool = thread_pool
        # Read-only once made.
        self.chain = InterceptorChain(interceptors) if interceptors else None
        self.limit = self.setup.limit
        self.handlers = HandlerRegistry()
        # The registry's {path: MethodEntry}, replaced whole when handlers are added (the
        # dispatcher reads it without a lock).
        self.methods: dict[str, MethodEntry] = {}
        self.listeners = Listeners()
        # call id -> context of every call registered and not ended. Only the dispatcher
        # thread adds; a call's ending removes it (from any thread).
        self.calls: dict[int, ServicerContext] = {}
        # lock guards phase changes, the stop deadline and the stop events.
        self.lock = threading.Lock()
        self.phase = NEW
        self.cancel_at: Optional[float] = None  # monotonic time when stop()'s grace runs out
        self.stop_events: list[threading.Event] = []
        self.terminated = threading.Event()
        self.dispatcher: Optional[_ServerDispatcher] = None
        # count_lock guards active: handlers submitted and not returned (maximum_concurrent_rpcs)
        self.count_lock = threading.Lock()
        self.active = 0

    # -- handlers and ports ------------------------------------------------------------------

    def rebuild_methods(self) -> None:
        self.methods = self.handlers.methods
        if self.chain is not None:
            self.chain.set_methods(self.methods, self.handlers.searched)

    def add_port(self, address: str, security: ListenerSecurity,
                 fetcher: Optional[tuple[CertificateFetcher, bool]], what: str) -> int:
        if self.phase is not NEW:
            raise UsageError(f"{what}() must be called before start()")
        return self.listeners.add(address, security, fetcher, self.setup)

    # -- serving (the dispatcher thread) ------------------------------------------------------

    def on_server_call(self, event: EngineEvent) -> None:
        call_id = event[1]
        if self.phase is STOPPED:
            _refuse(call_id, _UNAVAILABLE, SHUTTING_DOWN)
            return
        preread: bool = event[8]
        metadata: Optional[tuple[_Metadatum, ...]] = None
        variables = contextvars.Context()  # grpcio runs each call in a fresh one
        try:
            if self.chain is not None:
                metadata = _metadata_of(event)
                entry = variables.run(self.chain.entry_for, event[3], metadata)
            else:
                entry = self.methods.get(event[3])
                if entry is None:
                    metadata = _metadata_of(event)
                    entry = self.handlers.find(event[3], metadata)
        except Exception as exc:  # noqa: BLE001 - grpcio's log line and status
            _LOGGER.exception("Exception servicing handler: %s", exc)
            _refuse(call_id, _UNKNOWN, "Error in service handler!")
            return
        if entry is None:
            _refuse(call_id, _UNIMPLEMENTED, METHOD_NOT_FOUND)
            return
        if self.limit is not None:
            with self.count_lock:
                if self.active >= self.limit:
                    _refuse(call_id, _RESOURCE_EXHAUSTED, CONCURRENCY_EXCEEDED)
                    return
                self.active += 1
        fast = preread and not (entry.request_streaming or entry.response_streaming)
        ctx = ServicerContext(self, event, not fast)
        if metadata is not None:
            ctx._metadata = metadata
        work: Callable[..., None]
        args: tuple[Any, ...]
        if fast:  # unary-unary, request read ahead: the hot path
            work, args = serve_unary, (ctx, entry, event[9])
        else:
            work, args = serve_call, (ctx, entry, preread, event[9])
        if self.limit is not None:
            work, args = self._counted, (work, *args)
        self.calls[call_id] = ctx
        try:
            self.pool.submit(variables.run, work, *args)
        except Exception as exc:  # noqa: BLE001 - e.g. a pool shut down: the call must end
            _LOGGER.exception("turbogrpc: cannot run the handler of %s", event[3])
            if self.limit is not None:
                with self.count_lock:
                    self.active -= 1
            ctx._finish(None, _INTERNAL, f"Cannot run the handler: {describe_exception(exc)}"
                        .encode())

    def _counted(self, work: Callable[..., None], *args: Any) -> None:
        try:
            work(*args)
        finally:
            with self.count_lock:
                self.active -= 1

    def on_certificate_fetch(self, listener: int) -> None:
        fetcher, require_client_auth = self.listeners.fetchers[listener]
        threading.Thread(
            target=install_fetched_certificates, name="turbogrpc-certificates", daemon=True,
            args=(self.setup.server_id, listener, fetcher, require_client_auth, _LOGGER),
        ).start()

    def call_ended(self, call_id: int) -> None:  # any thread
        calls = self.calls
        calls.pop(call_id, None)
        if not calls and self.phase is _STOPPING:
            dispatcher = self.dispatcher
            if dispatcher is not None:
                dispatcher.cq.wake()  # it decides (check_stop)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        with self.lock:
            if self.phase is not NEW:
                raise UsageError("Cannot start already-started server!")
            check_generation(self.setup.generation, "server")
            dispatcher = self.dispatcher = _ServerDispatcher(self)
            listeners = self.listeners
            try:
                _engine.start_server(self.setup.server_id, dispatcher.cq, listeners.fds,
                                     self.setup.options, self.handlers.unary_request_paths(),
                                     listeners.security)
            except BaseException:
                dispatcher._stopping = True
                dispatcher.cq.wake()
                self.dispatcher = None
                raise
            listeners.handed_over()
            self.phase = _SERVING
            _serving.add(self)

    def stop(self, grace: Optional[float]) -> threading.Event:
        if self.phase is not NEW and self.phase is not STOPPED:
            # In a child process the dispatcher thread is gone: stop(None) would wait forever.
            check_generation(self.setup.generation, "server")
        with self.lock:
            if self.phase is NEW or self.phase is STOPPED:
                done = threading.Event()  # grpcio: nothing to stop
                done.set()
                return done
            event = threading.Event()
            self.stop_events.append(event)
            if self.phase is _SERVING:
                self.phase = _STOPPING
                _engine.stop_server(self.setup.server_id, False)  # no new calls: GOAWAY
            cancel_at = time.monotonic() + (grace or 0.0)
            if self.cancel_at is None or cancel_at < self.cancel_at:
                self.cancel_at = cancel_at  # a later, shorter grace wins
            dispatcher = self.dispatcher
        assert dispatcher is not None  # set while serving or stopping
        if dispatcher._thread is threading.current_thread():
            self.check_stop()  # stop() from a callback on the dispatcher thread
        else:
            dispatcher.cq.wake()
            if grace is None:
                event.wait()  # grpcio's stop(None) returns once stopped
        return event

    def wait_ms(self) -> int:
        """How long the dispatcher may wait for events: until the grace period ends."""
        cancel_at = self.cancel_at
        if cancel_at is None:
            return -1
        return max(0, math.ceil((cancel_at - time.monotonic()) * 1000))

    def check_stop(self) -> None:  # the dispatcher thread
        """Ends a stopping server once no call is left or its grace period is over: calls
        still running are cancelled, the engine closes everything, the stop events are set."""
        if self.phase is not _STOPPING:
            return
        cancel_at = self.cancel_at
        if self.calls and (cancel_at is None or time.monotonic() < cancel_at):
            return
        for ctx in list(self.calls.values()):
            ctx._end_early()  # wakes its handler; its callbacks run
        _engine.stop_server(self.setup.server_id, True)
        with self.lock:
            self.phase = STOPPED
            events, self.stop_events = self.stop_events, []
        if self.dispatcher is not None:
            self.dispatcher._stopping = True  # the loop ends after this batch
        _serving.discard(self)
        for event in events:
            event.set()
        self.terminated.set()

    def drop(self) -> None:
        """The application dropped the server: stop at once, without waiting (as grpcio)."""
        if self.phase is NEW:
            self.listeners.close()
        elif self.phase is not STOPPED and self.setup.generation == _engine.generation():
            self.stop(0)


def _stop_at_exit() -> None:
    for state in list(_serving):
        dispatcher = state.dispatcher
        if dispatcher is not None and dispatcher._thread is not threading.current_thread():
            dispatcher._stopping = True
            dispatcher.cq.wake()
            dispatcher._thread.join(_EXIT_JOIN_SECONDS)


atexit.register(_stop_at_exit)
# A child process has no dispatcher threads: its parent's servers are not its to stop.
os.register_at_fork(after_in_child=_serving.clear)
