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
from typing import TYPE_CHECKING, Optional, TypeVar

from .. import _engine
from .._core._errors import UsageError
from .._core._events import CERTIFICATE_FETCH, FINISHED, SERVER_CALL, UNARY_DONE, reject_orphan_call

if TYPE_CHECKING:
    from .._core._events import EventReceiver
    from ._eager import _StandInTask
    from ._server import Server

__all__ = ["LoopState", "loop_state", "running_loop_state", "settle", "init_grpc_aio",
           "shutdown_grpc_aio"]

_LOGGER = logging.getLogger("turbogrpc.aio")

_T = TypeVar("_T")


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
                        reject_orphan_call(event)
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


def init_grpc_aio() -> None:
    """Does nothing: grpc.aio's explicit start-up, kept so code calling it runs unchanged.

    turbogrpc's engine starts on first use, and each event loop gets its completion queue when
    it first runs a call or a server.
    """


def shutdown_grpc_aio() -> None:
    """Does nothing: grpc.aio's explicit shut-down (the engine stops at interpreter exit)."""


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


def _after_fork_in_child() -> None:
    # The parent's queues, calls and servers mean nothing here. Do not touch the loops'
    # readers: the epoll instance is shared with the parent.
    global _last_loop, _last_state
    _states.clear()
    _last_loop = _last_state = None


os.register_at_fork(after_in_child=_after_fork_in_child)
