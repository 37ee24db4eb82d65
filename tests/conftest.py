"""Runs `async def` tests without plugins: one fresh event loop per test, on two loop kinds.

Every coroutine test is parametrized over `loop_kind` = asyncio (debug mode on) and uvloop. The
test body runs under a hard timeout; at teardown the test fails if the loop's exception handler
was called, or if tasks were left pending (they are cancelled and reported). A last-resort
faulthandler watchdog dumps every thread's stack and exits if the loop itself is blocked.

Every test also fails (at teardown) when a ``turbogrpc*`` logger emits a record at ERROR or
above, from any thread (loop, handler pool, engine callbacks). A test that provokes such a
record on purpose says so with ``@pytest.mark.allow_error_logs`` (any record) or
``@pytest.mark.allow_error_logs("regex", ...)`` (only records whose message matches one).
"""

from __future__ import annotations

import faulthandler
import inspect
import logging
import re
import sys
import threading

import pytest

from _loops import LOOP_KINDS, TEST_TIMEOUT, run_in_fresh_loop

WATCHDOG_SLACK = 30.0  # extra seconds before the process is killed if the loop itself is stuck


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "allow_error_logs(*patterns): the test expects ERROR records from turbogrpc loggers "
        "(all of them, or only those whose message matches one of the regex patterns)",
    )
    config.addinivalue_line(
        "markers",
        "body_timeout(seconds): a longer limit than TURBOGRPC_TEST_TIMEOUT for a test body that "
        "is slow by design (thousands of calls through grpc.aio on the debug-mode stock loop)",
    )


# Tests in files owned elsewhere that log ERROR on purpose: (file under tests/, test function)
# -> allowed message patterns. Same effect as decorating them with allow_error_logs(*patterns);
# kept here so that marking them touched only this file.
EXPECTED_ERROR_LOGS = {
    # a request deserializer that raises, on purpose (our server logs it, as grpc.aio does)
    ("e2e/test_errors.py", "test_server_request_deserializer_raising"):
        (r"cannot deserialize (a|the) request of /test\.Svc/bad_",),
    # a handler raising on purpose: grpc's "Unexpected [...] raised by servicer method" log
    ("e2e/test_status.py", "test_handler_exception_is_unknown"):
        (r"^Unexpected \[\w+\] raised by servicer method",),
    # generated base classes set UNIMPLEMENTED, then raise NotImplementedError (logged as by grpc)
    ("e2e/test_generated_stubs.py", "test_generated_base_class_unimplemented"):
        (r"^Unexpected \[NotImplementedError\] raised by servicer method",),
}


def pytest_collection_modifyitems(config, items):
    tests_dir = config.rootpath / "tests"
    for item in items:
        try:
            where = item.path.relative_to(tests_dir).as_posix()
        except ValueError:
            continue
        patterns = EXPECTED_ERROR_LOGS.get((where, item.originalname))
        if patterns is not None:
            item.add_marker(pytest.mark.allow_error_logs(*patterns))


class _ErrorRecords(logging.Handler):
    """Collects ERROR+ records; attached to the "turbogrpc" logger, so it sees records of every
    thread (pytest's caplog captures through the root logger and may be reconfigured)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self._records_lock = threading.Lock()

    def emit(self, record):
        with self._records_lock:
            self.records.append(record)

    def take(self) -> list[logging.LogRecord]:
        with self._records_lock:
            records, self.records = self.records, []
        return records


def _describe_record(record: logging.LogRecord) -> str:
    text = f"{record.name} {record.levelname} [{record.threadName}]: {record.getMessage()}"
    if record.exc_info and record.exc_info[1] is not None:
        text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
    return text


@pytest.fixture(autouse=True)
def _no_error_logs(request):
    """Fails the test on any ERROR (or higher) record of a turbogrpc logger, unless it is marked
    `allow_error_logs` (with patterns: only matching records are allowed)."""
    handler = _ErrorRecords()
    logger = logging.getLogger("turbogrpc")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    records = handler.take()
    marker = request.node.get_closest_marker("allow_error_logs")
    if marker is not None:
        patterns = [re.compile(p) for p in marker.args]
        if not patterns:
            return
        records = [r for r in records if not any(p.search(r.getMessage()) for p in patterns)]
    if records:
        pytest.fail(
            "turbogrpc logged at ERROR or above (mark the test allow_error_logs if expected):\n  "
            + "\n  ".join(_describe_record(r) for r in records),
            pytrace=False,
        )


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


def _body_timeout(item) -> float:
    marker = item.get_closest_marker("body_timeout")
    return max(TEST_TIMEOUT, float(marker.args[0])) if marker else TEST_TIMEOUT


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    fn = pyfuncitem.obj
    if not inspect.iscoroutinefunction(fn):
        return None
    kind = pyfuncitem.funcargs["loop_kind"]
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    timeout = _body_timeout(pyfuncitem)
    faulthandler.dump_traceback_later(timeout + WATCHDOG_SLACK, exit=True, file=sys.stderr)
    try:
        run_in_fresh_loop(kind, fn, timeout=timeout, **kwargs)
    finally:
        faulthandler.cancel_dump_traceback_later()
    return True
