"""ServerCall: the server's side of one call, the base of ServicerContext (_context.py).

It holds the call's state, takes the engine's events for it (``_on_event``) and sends exactly
one ``_engine.finish`` at the end (``_finish``; ``_fail`` ends it INTERNAL). The server and the
handler runners (_server.py, _handlers.py) drive it; ServicerContext adds what a handler calls.

Whatever a handler hands over (a response that is not bytes, metadata of the wrong type,
details that are not text, a serializer that raises) ends the call promptly with INTERNAL and
details naming the problem: every call into ``_engine`` that takes handler data is guarded,
because a call that is never finished would hang its client until the deadline and keep
``Server.stop(grace)`` waiting. The checks and texts for those failures (serialize_response,
describe_exception, finish_refused, send_internal) are _core/_server_checks.py's, shared with the
blocking API.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic

from .. import _engine
from .._core._events import MESSAGE, SERVER_DONE, WRITE_DONE, run_done_callbacks
from .._core._server_checks import finish_refused, send_internal
from .._core._typing import DoneCallbackType, MetadatumType, RequestType, ResponseType
from .._core._write_window import WriteWindow
from ._completion import settle

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

    from .._core._events import EngineEvent
    from .._core._message_reader import RawMessage
    from .._core._metadata import _Metadatum
    from .._core._server_security import AuthContext
    from ._completion import LoopState
    from ._server import Server

__all__ = ["ServerCall"]

_LOGGER = logging.getLogger("turbogrpc.aio")
_OK = 0


class ServerCall(Generic[RequestType, ResponseType]):
    """The server's side of one call: its state, the engine's events, and its one ending.

    The server makes one per call, as the ServicerContext its handler gets.
    """

    __slots__ = (
        "_server", "_state", "_call_id", "_method", "_raw_metadata", "_metadata", "_deadline",
        "_peer", "_authority", "_serializer", "_deserializer", "_defer_initial",
        "_code", "_details", "_trailing", "_initial_pending", "_initial_sent", "_finished",
        "_cancelled", "_aborted", "_task", "_done_callbacks", "_messages", "_reads_pending",
        "_request_ended", "_read_waiter", "_write_waiter", "_compression", "_compress_next",
        "_compressed_flags", "_request_compressed", "_writes", "_auth", "__weakref__",
    )

    def __init__(self, server: Server, state: LoopState, call_id: int, method: str,
                 metadata: Sequence[MetadatumType], timeout: float | None, peer: str,
                 authority: str) -> None:
        self._server = server
        self._state = state
        self._call_id = call_id
        self._method = method
        self._raw_metadata = metadata
        self._metadata: tuple[_Metadatum, ...] | None = None
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._peer = peer
        self._authority = authority
        self._serializer: Callable[[ResponseType], bytes] | None = None
        self._deserializer: Callable[[RawMessage], RequestType] | None = None
        self._defer_initial = True  # unary responses send initial metadata with finish
        self._code: int | None = None  # set_code() value (int) or None
        self._details: str | None = None
        self._trailing: tuple[MetadatumType, ...] = ()
        self._initial_pending: tuple[MetadatumType, ...] | None = None
        self._initial_sent = False
        self._finished = False  # finish sent, or the engine ended the call
        self._cancelled = False
        self._aborted = False
        self._task: asyncio.Task[None] | None = None
        self._done_callbacks: list[DoneCallbackType] | None = None
        self._messages: collections.deque[RawMessage] | None = None
        self._reads_pending = 0
        self._request_ended = False
        self._read_waiter: asyncio.Future[None] | None = None
        self._write_waiter: asyncio.Future[bool] | None = None
        self._compression = server._compression  # for the responses (engine numbering)
        self._compress_next = True  # False after disable_next_message_compression()
        self._compressed_flags: collections.deque[bool] | None = None  # how each held one came
        self._request_compressed = False
        self._auth: AuthContext | None = None  # the connection's (engine's); None: plaintext
        self._writes = WriteWindow()

    # -- ending the call ----------------------------------------------------------------

    def _finish(self, message: ReadableBuffer | None, code: int, details: str) -> None:
        """Sends the one finish (response, status, trailers) unless the call already ended.

        If the engine refuses what the handler gave (see ``_finish_refused``), the call ends
        INTERNAL instead; either way it ends, and the server's bookkeeping runs.
        """
        if self._finished:
            return
        self._finished = True
        if self._task is not None or self._messages is not None:  # registered: see _handlers
            self._state.calls.pop(self._call_id, None)
        initial = self._initial_pending
        self._initial_pending = None
        try:
            try:
                _engine.finish(self._call_id, initial, message, code, details, self._trailing,
                               self._compression, self._compress_next)
            except Exception as exc:  # noqa: BLE001 - every failure must still end the call
                self._finish_refused(exc, initial, message, details)
        finally:
            self._after_finish()

    def _finish_refused(self, exc: Exception, initial: tuple[MetadatumType, ...] | None,
                        message: ReadableBuffer | None, details: str) -> None:
        finish_refused(self._call_id, self._method, exc, initial, self._trailing, message,
                       details, _LOGGER)

    def _fail(self, text: str, exc: BaseException | None = None) -> None:
        """Ends the call INTERNAL with ``text`` (logged, with ``exc``), without any of the
        handler's metadata (it may be what is wrong). Safe from any thread."""
        if threading.get_ident() != self._server._loop_thread_id:
            try:
                self._state.loop.call_soon_threadsafe(self._fail, text, exc)
            except RuntimeError:  # the loop is closed: its server and calls are gone already
                pass
            return
        if self._finished:
            return
        self._finished = True
        self._state.calls.pop(self._call_id, None)
        self._initial_pending = None
        _LOGGER.error("turbogrpc: %s: %s", self._method, text, exc_info=exc)
        try:
            send_internal(self._call_id, text)
        finally:
            self._after_finish()

    def _after_finish(self) -> None:
        self._server._call_ended()
        if self._done_callbacks:
            self._run_done_callbacks()

    def _finish_with_status(self, message: ReadableBuffer | None = None) -> None:
        """Finish with the status the handler set (OK when it set none)."""
        code = _OK if self._code is None else self._code
        self._finish(message if code == _OK else None, code, self._details or "")

    def _on_event(self, event: EngineEvent) -> None:
        kind = event[0]
        if kind == MESSAGE:
            if self._reads_pending:
                self._reads_pending -= 1
            if event[2] is None:
                self._request_ended = True
            else:
                # MESSAGE comes only to a call in state.calls, which _hold_request prepared.
                self._messages.append(event[2])  # type: ignore[union-attr]
                self._compressed_flags.append(event[3])  # type: ignore[union-attr]
            self._wake(False)
        elif kind == WRITE_DONE:
            if self._writes.acked(event[2]):
                waiter, self._write_waiter = self._write_waiter, None
                settle(waiter, event[2])
        elif kind == SERVER_DONE:
            self._ended_by_engine(event[2], event[3])

    def _ended_by_engine(self, code: int, details: str) -> None:
        """The call ended without our finish: client cancel, deadline, stop, lost connection."""
        if self._finished:
            return
        self._finished = True
        self._cancelled = True
        self._state.calls.pop(self._call_id, None)
        task = self._task
        if task is not None and not task.done():
            task.cancel()  # cancel first so pending awaits raise CancelledError
        self._wake(True)
        self._server._call_ended()
        self._run_done_callbacks()

    def _wake(self, write_too: bool) -> None:
        waiter: asyncio.Future[Any] | None
        waiter, self._read_waiter = self._read_waiter, None
        settle(waiter, None)
        if write_too:
            waiter, self._write_waiter = self._write_waiter, None
            settle(waiter, False)

    def _run_done_callbacks(self) -> None:
        callbacks = self._done_callbacks
        if callbacks:
            self._done_callbacks = None
            run_done_callbacks(callbacks, self)
