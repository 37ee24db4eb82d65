"""Per-event-loop plumbing: one engine CompletionQueue per asyncio loop, drained in batches.

Every call object registers itself under its call id; each wake-up drains the whole queue
and hands every event tuple to ``obj._on_event(event)``. This is the hot path: no per-event
allocation beyond what the engine hands over, and nothing ever reaches the loop's
exception handler.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Optional, Protocol, TypeVar

from .. import _engine
from .._errors import UsageError

if TYPE_CHECKING:
    from ._eager import _StandInTask
    from ._server import Server
    from ._typing import DoneCallbackType

__all__ = ["LoopState", "loop_state", "running_loop_state", "check_generation", "run_done_callbacks",
           "init_grpc_aio", "shutdown_grpc_aio"]

_LOGGER = logging.getLogger("turbogrpc.aio")

# Event kinds (docs/seam.md). UNARY_DONE, FINISHED and SERVER_DONE close a call.
UNARY_DONE = 0
INITIAL_METADATA = 1
MESSAGE = 2
WRITE_DONE = 3
FINISHED = 4
SERVER_CALL = 5
SERVER_DONE = 6
CERTIFICATE_FETCH = 7
CONNECTIVITY = 8  # a channel watch's one event: closes it like a call's last event

_FORK_MESSAGE = (
    "this {} was created before fork(); create a new one in the child process"
)

# One engine event: (kind, call or server id, ...) as docs/seam.md lists per kind.
EngineEvent = tuple[Any, ...]
_T = TypeVar("_T")


class EventReceiver(Protocol):
    """What LoopState.calls holds: an object taking the events of one call."""

    def _on_event(self, event: EngineEvent) -> object: ...


class LoopState:
    """What one event loop needs: its completion queue, live calls and started servers."""

    __slots__ = ("loop", "cq", "calls", "servers", "generation", "eager_task")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.cq = _engine.CompletionQueue()
        # call id -> object with _on_event(event); removed on its last event
        self.calls: dict[int, EventReceiver] = {}
        self.servers: dict[int, Server] = {}  # server id -> Server, for SERVER_CALL
        self.generation = _engine.generation()
        self.eager_task: Optional[_StandInTask] = None  # reusable stand-in task, see _eager.py
        loop.add_reader(self.cq.fd, self._drain)

    def _drain(self) -> None:
        try:
            events = self.cq.drain()
        except Exception:  # pragma: no cover - engine failure; never let it reach the loop
            _LOGGER.exception("turbogrpc: draining the completion queue failed")
            return
        calls = self.calls
        for event in events:
            try:
                kind = event[0]
                if kind == SERVER_CALL:
                    server = self.servers.get(event[2])
                    if server is None:
                        _reject_orphan_call(event)
                    else:
                        server._on_server_call(event)
                    continue
                if kind == CERTIFICATE_FETCH:
                    server = self.servers.get(event[2])
                    if server is not None:
                        server._on_certificate_fetch(event[3])
                    continue
                if kind == UNARY_DONE or kind >= FINISHED:
                    obj = calls.pop(event[1], None)
                else:
                    obj = calls.get(event[1])
                # Unknown ids are normal: a call finished locally (cancel, finish) may still
                # have its closing event in flight.
                if obj is not None:
                    obj._on_event(event)
            except Exception:
                _LOGGER.exception("turbogrpc: error while handling engine event %r", event[:2])


def settle(waiter: Optional[asyncio.Future[_T]], value: _T) -> None:
    """Resolve a pending waiter future (None or already done: nothing to do)."""
    if waiter is not None and not waiter.done():
        waiter.set_result(value)


def run_done_callbacks(callbacks: Iterable[DoneCallbackType], owner: object) -> None:
    """Call each done callback with `owner`; a failing callback is logged, never raised."""
    for callback in callbacks:
        try:
            callback(owner)
        except Exception:
            _LOGGER.exception("turbogrpc: done callback %r raised", callback)


def init_grpc_aio() -> None:
    """Does nothing: grpc.aio's explicit start-up, kept so code calling it runs unchanged.

    turbogrpc's engine starts on first use, and each event loop gets its completion queue when
    it first runs a call or a server.
    """


def shutdown_grpc_aio() -> None:
    """Does nothing: grpc.aio's explicit shut-down (the engine stops at interpreter exit)."""


def _reject_orphan_call(event: EngineEvent) -> None:
    # A call for a server that was stopped (or belongs to no loop here): refuse it cleanly.
    try:
        _engine.finish(event[1], None, None, 14, "Server is not running", ())
    except Exception:
        _LOGGER.debug("turbogrpc: could not reject call %r", event[1], exc_info=True)


_states: dict[asyncio.AbstractEventLoop, LoopState] = {}  # loop -> LoopState
# one-entry cache: most processes use a single loop
_last_loop: Optional[asyncio.AbstractEventLoop] = None
_last_state: Optional[LoopState] = None


def loop_state(loop: asyncio.AbstractEventLoop) -> LoopState:
    """The LoopState of ``loop``, created (and its reader installed) on first use."""
    global _last_loop, _last_state
    if loop is _last_loop:
        return _last_state  # type: ignore[return-value]  # set with _last_loop: not None here
    state = _states.get(loop)
    if state is None:
        _forget_closed_loops()
        if loop.is_closed():
            raise UsageError("the event loop is closed")
        state = _states[loop] = LoopState(loop)
    _last_loop, _last_state = loop, state
    return state


def running_loop_state() -> LoopState:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise UsageError(
            "turbogrpc.aio must be used from a coroutine running in an asyncio event loop"
        ) from None
    return loop_state(loop)


def _forget_closed_loops() -> None:
    # A closed loop has already dropped its reader with its selector, so dropping the queue
    # now cannot leave a dangling fd registration. Open loops keep theirs.
    global _last_loop, _last_state
    for loop in [loop for loop in _states if loop.is_closed()]:
        del _states[loop]
        if loop is _last_loop:
            _last_loop = _last_state = None


def check_generation(generation: int, what: str) -> None:
    """Raise UsageError when an object from before fork() is used in the child."""
    if generation != _engine.generation():
        raise UsageError(_FORK_MESSAGE.format(what))


def _after_fork_in_child() -> None:
    # The parent's queues, calls and servers mean nothing here. Do not touch the loops'
    # readers: the epoll instance is shared with the parent.
    global _last_loop, _last_state
    _states.clear()
    _last_loop = _last_state = None


os.register_at_fork(after_in_child=_after_fork_in_child)
