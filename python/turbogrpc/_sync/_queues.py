"""Where the blocking API waits for the engine: no asyncio loop, the GIL released.

Two kinds of consumer, both plain engine CompletionQueues:

- A blocking unary call (``stub.Method(request)``) waits on its own thread's queue: it submits
  the call with that queue and blocks in ``CompletionQueue.wait`` until the one event of the
  call arrives. One crossing out, one back; no other thread is involved.
- Everything that outlives the statement that started it — futures, response streams,
  request streams, connectivity subscriptions, servers' calls — gets its events from the
  process's *dispatcher*: one daemon thread draining one queue and handing each event to the
  object registered for its id, which wakes whoever waits on it (a ``threading.Condition``)
  and runs done-callbacks there, as grpcio's channel thread does.

Both are per process: after ``fork()`` the child makes its own on first use.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from typing import Any, Callable, Optional, Protocol

from .. import _engine

__all__ = ["EventReceiver", "DispatchEntry", "Dispatcher", "dispatcher", "thread_queue", "wait_for_call"]

_LOGGER = logging.getLogger("turbogrpc")

# An engine event: a tuple whose [0] is the kind and [1] the call (or token) id.
EngineEvent = tuple[Any, ...]


class EventReceiver(Protocol):
    def _on_event(self, event: EngineEvent) -> object: ...


class DispatchEntry:
    """The dispatcher's hold on one call: weak while only its user needs it (so a call the
    user dropped is collected — and cancelled — as in grpcio), strong while callbacks wait
    for its end. Released (and forgotten by the dispatcher) when the call ends."""

    __slots__ = ("_ref", "_strong", "call_id")

    def __init__(self, call: EventReceiver) -> None:
        self._ref = weakref.ref(call)
        self._strong: Optional[EventReceiver] = None
        self.call_id = 0

    def hold(self) -> None:
        self._strong = self._ref()

    def release(self) -> None:
        self._strong = None
        dispatcher().unregister(self.call_id)

    def _on_event(self, event: EngineEvent) -> None:
        call = self._ref()
        if call is not None:
            call._on_event(event)
        elif event[0] == _engine.FINISHED or event[0] == _engine.UNARY_DONE:
            self.release()


class _ThreadQueue(threading.local):
    cq: Optional[_engine.CompletionQueue] = None


_thread_local = _ThreadQueue()


def thread_queue() -> _engine.CompletionQueue:
    """This thread's queue for blocking unary calls (made on first use; freed with the thread)."""
    cq = _thread_local.cq
    if cq is None:
        cq = _thread_local.cq = _engine.CompletionQueue()
    return cq


def wait_for_call(cq: _engine.CompletionQueue, call_id: int) -> EngineEvent:
    """Blocks (GIL released) until ``call_id``'s event arrives on ``cq`` and returns it.

    Events of calls this thread gave up on earlier (Ctrl-C) may arrive first: they are
    dropped. The engine enforces the call's deadline, so this needs no timeout of its own.
    """
    if _exiting:
        raise RuntimeError("the interpreter is shutting down: no more blocking calls")
    _waiting.add(cq)
    try:
        while True:
            for event in cq.wait(-1):
                if event[1] == call_id:
                    found: EngineEvent = event
                    return found
            if _exiting:  # woken at exit (see _stop_at_exit)
                raise RuntimeError("the interpreter is shutting down: the call was abandoned")
    finally:
        _waiting.discard(cq)


# The queues threads are blocked on right now, and whether the interpreter is exiting: a
# (daemon) thread still inside the engine's wait when the interpreter finalizes could not take
# the GIL back, which aborts the process; so at exit they are woken and leave first.
_waiting: set[_engine.CompletionQueue] = set()
_exiting = False
_EXIT_WAIT_SECONDS = 2.0


class Dispatcher:
    """One daemon thread that drains one queue and hands every event to its receiver."""

    def __init__(self) -> None:
        self.cq = _engine.CompletionQueue()
        self._receivers: dict[int, EventReceiver] = {}
        # Held from submitting a call until its receiver is registered, so the thread never
        # looks up an id before it is known (the engine may answer at once).
        self.lock = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="turbogrpc-dispatcher", daemon=True)
        self._thread.start()

    def register(self, call_id: int, receiver: EventReceiver) -> None:
        """Routes ``call_id``'s events to ``receiver`` (call with ``lock`` held if the call was
        submitted with this queue already)."""
        self._receivers[call_id] = receiver

    def unregister(self, call_id: int) -> None:
        self._receivers.pop(call_id, None)

    def start(self, submit: Callable[[_engine.CompletionQueue], int], entry: DispatchEntry) -> int:
        """``submit(cq)`` (an engine call returning the new id) and register ``entry`` for
        that id, atomically with respect to the dispatcher thread."""
        with self.lock:
            call_id = entry.call_id = submit(self.cq)
            self._receivers[call_id] = entry
        return call_id

    def _run(self) -> None:
        receivers = self._receivers
        while not self._stopping:
            events = self.cq.wait(-1)
            with self.lock:
                targets = [(receivers.get(event[1]), event) for event in events]
            for receiver, event in targets:
                if receiver is None:
                    continue
                try:
                    receiver._on_event(event)
                except Exception:  # a bug here must not stop every other call's events
                    _LOGGER.exception("turbogrpc: handling engine event %r failed", event[:2])

    def stop(self) -> None:
        """Ends the thread and waits for it (at exit: a thread still waiting in the engine
        could not take the GIL back while the interpreter finalizes)."""
        self._stopping = True
        self.cq.wake()
        if self._thread is not threading.current_thread():
            self._thread.join()


_dispatcher: Optional[Dispatcher] = None
_dispatcher_pid = 0
_dispatcher_lock = threading.Lock()


def dispatcher() -> Dispatcher:
    """The process's dispatcher, started on first use."""
    global _dispatcher, _dispatcher_pid
    found = _dispatcher
    if found is not None and _dispatcher_pid == os.getpid():
        return found
    with _dispatcher_lock:
        if _dispatcher is None or _dispatcher_pid != os.getpid():
            _dispatcher = Dispatcher()
            _dispatcher_pid = os.getpid()
        return _dispatcher


def _stop_at_exit() -> None:
    global _exiting
    _exiting = True
    if _dispatcher is not None and _dispatcher_pid == os.getpid():
        _dispatcher.stop()
    deadline = time.monotonic() + _EXIT_WAIT_SECONDS
    while _waiting and time.monotonic() < deadline:
        for cq in list(_waiting):
            cq.wake()
        time.sleep(0.001)  # lets the woken threads run (they need the GIL to leave)


atexit.register(_stop_at_exit)
