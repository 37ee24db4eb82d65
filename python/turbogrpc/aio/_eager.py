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

import asyncio
import contextvars

__all__ = ["first_step", "continue_in_task", "copy_context"]

copy_context = contextvars.copy_context

try:  # private but present since 3.7; without it handlers just see no current task
    _enter_task = asyncio.tasks._enter_task
    _leave_task = asyncio.tasks._leave_task
except AttributeError:  # pragma: no cover
    _enter_task = _leave_task = None


class _StandInTask:
    """What ``asyncio.current_task()`` returns while a handler runs inline."""

    __slots__ = ("_loop", "_task", "_cancel_requests")

    def __init__(self, loop):
        self._loop = loop
        self._task = None
        self._cancel_requests = 0

    def get_loop(self):
        return self._loop

    def cancel(self, msg=None):
        if self._task is not None:
            return self._task.cancel(msg)
        self._cancel_requests += 1
        return True

    def cancelling(self):
        if self._task is not None:
            return self._task.cancelling()
        return self._cancel_requests

    def uncancel(self):
        if self._task is not None:
            return self._task.uncancel()
        if self._cancel_requests:
            self._cancel_requests -= 1
        return self._cancel_requests

    def done(self):
        return self._task is not None and self._task.done()

    def cancelled(self):
        return self._task is not None and self._task.cancelled()

    def __getattr__(self, name):
        task = self._task
        if task is None:
            raise AttributeError(
                f"{name!r}: the handler is running inline and has no asyncio.Task yet"
            )
        return getattr(task, name)

    def __repr__(self):
        return f"<turbogrpc inline handler step, task={self._task!r}>"


def first_step(state, coro):
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

    def __init__(self, coro, pending):
        self._coro = coro
        self._pending = pending

    def __await__(self):
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


def continue_in_task(state, context, coro, pending, complete):
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
