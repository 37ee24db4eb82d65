"""Calls with a request stream: the rendezvous that writes, and the thread that feeds it.

The user's request iterator may block, so it is consumed off the caller's thread, on one
thread per call (as grpcio does). Writes run ahead of their WRITE_DONE acknowledgements by
at most the write window (``_core._write_window``); past it the feeding thread waits, so a
fast iterator never runs far ahead of HTTP/2 flow control.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any, Callable, Optional

from .. import _engine
from .._core._write_window import WriteWindow
from ._call import INTERNAL, UNKNOWN, CallState, Rendezvous

__all__ = ["WritingRendezvous", "SERIALIZE_REQUEST_FAILED"]

_LOGGER = logging.getLogger("turbogrpc")
SERIALIZE_REQUEST_FAILED = "Exception serializing request!"
_ITERATOR_FAILED = "Exception iterating requests!"


class WritingRendezvous(Rendezvous):
    """A rendezvous whose requests come from an iterator, fed by a thread of its own."""

    def __init__(self, state: CallState, unary_response: bool,
                 serializer: Optional[Callable[[Any], bytes]]) -> None:
        super().__init__(state, unary_response)
        self._serializer = serializer
        self._writes = WriteWindow()
        self._write_blocked = False

    def _on_write_done(self, ok: bool) -> None:  # the condition is held
        if self._writes.acked(ok):
            self._write_blocked = False

    def consume(self, request_iterator: Iterator[Any]) -> None:
        """Starts the thread that sends ``request_iterator``'s requests, then half-closes."""
        threading.Thread(target=self._send_requests, args=(request_iterator,),
                         name="turbogrpc-requests", daemon=True).start()

    def _send_requests(self, request_iterator: Iterator[Any]) -> None:
        state = self._state
        try:
            for request in request_iterator:
                if not self._write(request):
                    return
            with self._condition:
                if state.code is None:
                    _engine.half_close(state.call_id)
        except Exception as exc:
            _LOGGER.debug("turbogrpc: request iterator raised", exc_info=True)
            self._end_locally(UNKNOWN, _ITERATOR_FAILED, cause=exc)

    def _write(self, request: Any) -> bool:
        """Sends one request (waiting while the window is full); False once the call ended."""
        state = self._state
        if state.code is not None:
            return False
        if self._serializer is not None:
            try:
                request = self._serializer(request)
            except Exception as exc:
                self._end_locally(INTERNAL, SERIALIZE_REQUEST_FAILED, cause=exc)
                return False
        size = len(request)
        with self._condition:
            if state.code is not None:
                return False
            _engine.send_message(state.call_id, request, False, True, 0, self._writes.would_wait(size))
            if self._writes.sent(size):
                self._write_blocked = True
                self._entry.hold()  # the acknowledgements must reach us
                self._condition.wait_for(lambda: not self._write_blocked or state.code is not None)
            return state.code is None
