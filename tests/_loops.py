"""Fresh event loops for tests: `run_in_fresh_loop(kind, coro_fn)` runs a coroutine in a new loop
of `kind` ("asyncio" in debug mode, or "uvloop") and fails on anything left behind: a call to the
loop's exception handler, or tasks still pending (cancelled and reported). Used by conftest.py
for every `async def` test and by tests that run extra loops in threads.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading

# Seconds for a test body; a hang fails instead of blocking. TURBOGRPC_TEST_TIMEOUT overrides.
TEST_TIMEOUT = float(os.environ.get("TURBOGRPC_TEST_TIMEOUT", "20"))
LOOP_KINDS = ("asyncio", "uvloop")


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A fresh loop of `kind`; the stock asyncio loop runs in debug mode."""
    if kind == "asyncio":
        loop = asyncio.new_event_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = 1.0  # debug mode logs slower callbacks; logging only
    elif kind == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        raise ValueError(f"unknown loop kind {kind!r}")
    return loop


class LoopProblems(AssertionError):
    pass


def run_in_fresh_loop(kind: str, coro_fn, /, *args, timeout: float = TEST_TIMEOUT, **kwargs):
    """Run `coro_fn(*args, **kwargs)` in a new loop of `kind` and tear it down strictly.

    Raises the test's own exception first; otherwise LoopProblems listing exception-handler calls
    and tasks left pending. Usable from any thread (the two-loops test uses it in threads).
    """
    loop = new_loop(kind)
    handler_calls: list[dict] = []

    def on_exception(_loop, context):
        handler_calls.append(context)

    loop.set_exception_handler(on_exception)
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
        asyncio.set_event_loop(loop)
    leftovers: list[str] = []
    try:
        async def body():
            task = asyncio.ensure_future(coro_fn(*args, **kwargs))
            done, _ = await asyncio.wait({task}, timeout=timeout)
            if not done:
                where = await_chain(task.get_coro())  # where it is stuck, before cancelling it
                task.cancel()
                await asyncio.wait({task}, timeout=5)
                raise AssertionError(f"test timed out after {timeout} s (hang) at:\n{where}")
            return task.result()

        try:
            result = loop.run_until_complete(body())
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                leftovers.append(repr(task))
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=10))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            # Let destructors of objects made by the test run while the loop is still open, so
            # "Task was destroyed but it is pending" and friends reach our handler.
            gc.collect()
            loop.run_until_complete(asyncio.sleep(0))
    finally:
        if main_thread:
            asyncio.set_event_loop(None)
        loop.close()
    problems = []
    if leftovers:
        problems.append("tasks left pending at teardown:\n  " + "\n  ".join(leftovers))
    if handler_calls:
        problems.append(
            "loop exception handler was called:\n  "
            + "\n  ".join(_describe_context(c) for c in handler_calls)
        )
    if problems:
        raise LoopProblems("\n".join(problems))
    return result


def await_chain(coro) -> str:
    """The chain of awaits a suspended coroutine is stuck in, innermost last."""
    lines = []
    seen = 0
    while coro is not None and seen < 50:
        seen += 1
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None) or getattr(
            coro, "gi_frame", None)
        if frame is None:
            lines.append(f"  awaiting {coro!r}")
            break
        lines.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        coro = (getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
                or getattr(coro, "gi_yieldfrom", None))
    return "\n".join(lines)


def _describe_context(context: dict) -> str:
    parts = [str(context.get("message", ""))]
    exc = context.get("exception")
    if exc is not None:
        parts.append(f"exception={exc!r}")
    for key in ("task", "future", "handle"):
        if key in context:
            parts.append(f"{key}={context[key]!r}")
    return " ".join(parts)
