"""Run a handler coroutine's first step inline; wrap it in a Task only if it suspends.

Most unary handlers never await I/O, so running them inline saves a Task, a Future and a
loop iteration per call (docs/architecture.md, "Crossings per RPC"). Two things keep this
invisible to handler code:

* the first step runs in a fresh ``contextvars`` copy, the same one the Task continues in,
  so context variables set by a handler never leak into the next call;
* ``asyncio.current_task()`` returns a stand-in during that step, so ``asyncio.timeout()``,
  ``TaskGroup`` and friends work; if the handler suspends, the stand-in forwards to the
  real Task from then on.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._completion import LoopState

__all__ = ["first_step", "continue_in_task", "copy_context"]

copy_context = contextvars.copy_context

# asyncio's own take a Task; they are given the stand-in below, which quacks like one.
_enter_task: Callable[[asyncio.AbstractEventLoop, Any], None] | None
_leave_task: Callable[[asyncio.AbstractEventLoop, Any], None]
try:  # private but present since 3.7; without it handlers just see no current task
    _enter_task = asyncio.tasks._enter_task
    _leave_task = asyncio.tasks._leave_task
except AttributeError:  # pragma: no cover
    _enter_task = _leave_task = None  # type: ignore[assignment]  # _leave_task: see _enter_task


class _StandInTask:
    """What ``asyncio.current_task()`` returns while a handler runs inline."""

    __slots__ = ("_loop", "_task", "_cancel_requests")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._task: asyncio.Task[Any] | None = None
        self._cancel_requests = 0

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def cancel(self, msg: Any | None = None) -> bool:
        if self._task is not None:
            return self._task.cancel(msg)
        self._cancel_requests += 1
        return True

    # Task.cancelling() and uncancel() are 3.11's (the checker targets 3.10): only what uses
    # them there (asyncio.timeout(), TaskGroup) calls these.
    def cancelling(self) -> int:
        if self._task is not None:
            return self._task.cancelling()  # type: ignore[attr-defined, no-any-return]
        return self._cancel_requests

    def uncancel(self) -> int:
        if self._task is not None:
            return self._task.uncancel()  # type: ignore[attr-defined, no-any-return]
        if self._cancel_requests:
            self._cancel_requests -= 1
        return self._cancel_requests

    def done(self) -> bool:
        return self._task is not None and self._task.done()

    def cancelled(self) -> bool:
        return self._task is not None and self._task.cancelled()

    def __getattr__(self, name: str) -> Any:
        task = self._task
        if task is None:
            raise AttributeError(
                f"{name!r}: the handler is running inline and has no asyncio.Task yet"
            )
        return getattr(task, name)

    def __repr__(self) -> str:
        return f"<turbogrpc inline handler step, task={self._task!r}>"


def first_step(state: LoopState, coro: Coroutine[Any, Any, Any]) -> Any:
    """``coro.send(None)`` with a stand-in current task. Call it inside ``context.run``.

    Returns what the coroutine yielded (it suspended); raises StopIteration when it
    finished, or whatever it raised.
    """
    stand_in = state.eager_task
    if stand_in is None:
        stand_in = state.eager_task = _StandInTask(state.loop)
    else:
        stand_in._cancel_requests = 0
    if _enter_task is None:
        return coro.send(None)
    try:
        _enter_task(state.loop, stand_in)
    except RuntimeError:  # a real task is current (never from the drain callback)
        return coro.send(None)
    try:
        return coro.send(None)
    finally:
        _leave_task(state.loop, stand_in)


class _Resume:
    """Awaitable that continues an already started coroutine inside a Task.

    It re-yields the future the coroutine is blocked on, then forwards every send, throw
    (cancellation) and close to the coroutine, exactly as the Task would have.
    """

    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self._coro = coro
        self._pending = pending

    def __await__(self) -> Generator[Any, Any, Any]:  # the coroutine's (the handler's) result
        coro = self._coro
        pending, self._pending = self._pending, None
        while True:
            try:
                sent = yield pending
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:
                try:
                    pending = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    pending = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


def continue_in_task(
        state: LoopState, context: contextvars.Context, coro: Coroutine[Any, Any, Any],
        pending: Any, complete: Callable[[Awaitable[Any]], Coroutine[Any, Any, None]],
) -> asyncio.Task[None]:
    """Wraps the suspended ``coro`` in a Task that ends with ``await complete(awaitable)``.

    ``complete`` is an async function taking the awaitable of the handler's result.
    """
    task = context.run(state.loop.create_task, complete(_Resume(coro, pending)))
    stand_in = state.eager_task
    if stand_in is not None:
        state.eager_task = None  # this one now belongs to the task; the next call gets a new one
        stand_in._task = task
        if stand_in._cancel_requests:
            task.cancel()
    return task
