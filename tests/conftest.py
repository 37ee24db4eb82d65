"""Runs `async def` tests without plugins: one fresh event loop per test, on two loop kinds.

Every coroutine test is parametrized over `loop_kind` = asyncio (debug mode on) and uvloop. The
test body runs under a hard timeout; at teardown the test fails if the loop's exception handler
was called, or if tasks were left pending (they are cancelled and reported). A last-resort
faulthandler watchdog dumps every thread's stack and exits if the loop itself is blocked.
"""

from __future__ import annotations

import faulthandler
import inspect
import sys

import pytest

from _loops import LOOP_KINDS, TEST_TIMEOUT, run_in_fresh_loop

WATCHDOG_SLACK = 30.0  # extra seconds before the process is killed if the loop itself is stuck


@pytest.fixture(params=LOOP_KINDS)
def loop_kind(request) -> str:
    """Which loop the coroutine test runs on; added to every `async def` test automatically."""
    return request.param


def pytest_pycollect_makeitem(collector, name, obj):
    # Make every coroutine test depend on `loop_kind` before pytest computes its fixture closure.
    if (
        inspect.iscoroutinefunction(obj)
        and collector.funcnamefilter(name)
        and "loop_kind" not in inspect.signature(obj).parameters
    ):
        pytest.mark.usefixtures("loop_kind")(obj)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    fn = pyfuncitem.obj
    if not inspect.iscoroutinefunction(fn):
        return None
    kind = pyfuncitem.funcargs["loop_kind"]
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    faulthandler.dump_traceback_later(TEST_TIMEOUT + WATCHDOG_SLACK, exit=True, file=sys.stderr)
    try:
        run_in_fresh_loop(kind, fn, **kwargs)
    finally:
        faulthandler.cancel_dump_traceback_later()
    return True
