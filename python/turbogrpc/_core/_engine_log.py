"""The engine's trace lines in Python's logging.

The poller never calls into Python, so what it has to say (state changes, connect attempts,
GOAWAYs, keepalive timeouts) is queued in the engine and relayed by one daemon thread that
waits with the GIL released. The relay runs only while the ``turbogrpc`` logger is enabled
for DEBUG: it is started when a channel or server is created with DEBUG on, and stops itself
once DEBUG is off again. Lines go to ``turbogrpc.channel`` and ``turbogrpc.connection``.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading

from turbogrpc import _engine

_LOGGER = logging.getLogger("turbogrpc")
# How often an idle relay looks whether DEBUG is still wanted.
_RELAY_WAKE_MS = 1000

_lock = threading.Lock()
_relay_pid: int | None = None  # the process whose relay runs (a fork's child has none)
_relay_thread: threading.Thread | None = None


def forward_engine_traces() -> None:
    """Starts the relay when ``turbogrpc`` logs DEBUG and none runs in this process."""
    global _relay_pid, _relay_thread
    if _relay_pid == os.getpid() or not _LOGGER.isEnabledFor(logging.DEBUG):
        return
    with _lock:
        if _relay_pid == os.getpid():
            return
        _relay_pid = os.getpid()
        _engine.forward_traces(True)
        _relay_thread = threading.Thread(target=_relay, name="turbogrpc-engine-log", daemon=True)
        _relay_thread.start()


def _relay() -> None:
    global _relay_pid
    while True:
        for category, line in _engine.take_traces(_RELAY_WAKE_MS):
            logging.getLogger(f"turbogrpc.{category}").debug("%s", line)
        with _lock:
            if _relay_pid != os.getpid():  # stopped at exit
                return
            if not _LOGGER.isEnabledFor(logging.DEBUG):
                _engine.forward_traces(False)
                _relay_pid = None
                return


def _stop_at_exit() -> None:
    """Ends the relay before the interpreter finalizes: a daemon thread still waiting in the
    engine then could not take the GIL back, which would abort the process."""
    global _relay_pid
    with _lock:
        running = _relay_thread if _relay_pid == os.getpid() else None
        _relay_pid = None
    _engine.forward_traces(False)  # wakes the relay, which then returns
    if running is not None:
        running.join()


atexit.register(_stop_at_exit)
