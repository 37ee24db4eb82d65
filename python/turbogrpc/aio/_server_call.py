"""ServerCall: the server's side of one call, the base of ServicerContext (_context.py).

It holds the call's state, takes the engine's events for it (``_on_event``) and sends exactly
one ``_engine.finish`` at the end (``_finish``; ``_fail`` ends it INTERNAL). The server and the
handler runners (_server.py, _handlers.py) drive it; ServicerContext adds what a handler calls.

Whatever a handler hands over (a response that is not bytes, metadata of the wrong type,
details that are not text, a serializer that raises) ends the call promptly with INTERNAL and
details naming the problem: every call into ``_engine`` that takes handler data is guarded,
because a call that is never finished would hang its client until the deadline and keep
``Server.stop(grace)`` waiting. The checks and texts for those failures (serialize_response,
describe_exception) are here too, for the handler runners as well.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeGuard

from .. import _engine
from ._completion import MESSAGE, SERVER_DONE, WRITE_DONE, run_done_callbacks, settle
from ._typing import DoneCallbackType, MetadatumType, RequestType, ResponseType, SerializingFunction
from ._write_window import WriteWindow

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

    from ._completion import EngineEvent, LoopState
    from ._context import _Metadatum
    from ._message_reader import RawMessage
    from ._server import Server
    from ._server_security import AuthContext

__all__ = ["ServerCall", "BadRequest", "SERIALIZE_RESPONSE_FAILED", "serialize_response",
           "exception_text", "describe_exception"]

_LOGGER = logging.getLogger("turbogrpc.aio")
_OK, _INTERNAL = 0, 13
SERIALIZE_RESPONSE_FAILED = "Exception serializing response!"
_MAX_FAILURE_DETAILS = 1024  # characters of our own failure text sent as grpc-message


def serialize_response(message: object, serializer: SerializingFunction | None
                       ) -> ReadableBuffer:
    """One response as the engine takes it: serialized (or a str encoded), and checked to be
    bytes or a contiguous buffer. Raises what the serializer raised, or TypeError."""
    if serializer is not None:
        message = serializer(message)
    elif isinstance(message, str):
        return message.encode("utf-8")
    if type(message) is bytes:
        return message
    if message is None and serializer is None:
        raise TypeError("the handler returned None instead of a response message")
    if not _is_contiguous_buffer(message):
        where = "the response serializer returned" if serializer is not None else (
            "the method has no response_serializer and the handler gave")
        raise TypeError(f"a response must be bytes or a buffer; {where} {type(message).__name__}")
    return message


def _is_contiguous_buffer(obj: Any) -> TypeGuard[ReadableBuffer]:
    try:
        with memoryview(obj) as view:
            return view.contiguous
    except TypeError:
        return False


def exception_text(exc: BaseException) -> str:
    """``str(exc)``, even when the exception's __str__ raises."""
    try:
        return str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not stop the call from ending
        return f"<{type(exc).__name__} whose str() failed>"


def describe_exception(exc: BaseException) -> str:
    """``TypeName: message`` of an exception (just the name when it has no message)."""
    text = exception_text(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _text_problem(details: object) -> str | None:
    """Why ``details`` cannot be a status message, or None."""
    if not isinstance(details, str):
        return f"Invalid status details: expected str, got {type(details).__name__}"
    try:
        details.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"Invalid status details: not encodable as UTF-8 ({exc.reason})"
    return None


def _send_internal(call_id: int, text: str) -> None:
    """Ends a server call INTERNAL with our own ``text`` and nothing from the handler."""
    if len(text) > _MAX_FAILURE_DETAILS:
        text = text[:_MAX_FAILURE_DETAILS - 3] + "..."
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    try:
        _engine.finish(call_id, None, None, _INTERNAL, text, ())
        return
    except Exception:  # noqa: BLE001 - MemoryError or a dead engine: reset the stream instead
        _LOGGER.exception("turbogrpc: cannot end call %d with INTERNAL; resetting it", call_id)
    try:
        _engine.cancel(call_id, _INTERNAL, "")
    except Exception:  # noqa: BLE001 - nothing left to try; the engine's deadline or stop ends it
        _LOGGER.exception("turbogrpc: cannot reset call %d", call_id)


class BadRequest(Exception):
    """A request message could not be deserialized (the call ends INTERNAL, not UNKNOWN)."""


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
        """The engine refused a finish: say which part was wrong, and end the call INTERNAL.

        Status code and compression were validated when they were set, so what is left is
        the details, the response, and the two metadata sets. The engine checks the initial
        metadata first: if both sets are present, a second try with the initial set alone
        tells which one is wrong (and still delivers the initial set when it is fine).
        """
        text = _text_problem(details)
        if text is None and message is not None and not _is_contiguous_buffer(message):
            text = f"{SERIALIZE_RESPONSE_FAILED} {describe_exception(exc)}"
        metadata = initial or self._trailing
        if text is None and metadata and isinstance(exc, (TypeError, ValueError)):
            where = "initial" if initial else "trailing"
            if initial and self._trailing:
                text = f"Invalid trailing metadata: {describe_exception(exc)}"
                try:
                    _engine.finish(self._call_id, initial, None, _INTERNAL,
                                   text[:_MAX_FAILURE_DETAILS], ())
                except Exception as initial_exc:  # noqa: BLE001 - the initial set is wrong
                    exc = initial_exc
                else:
                    _LOGGER.error("turbogrpc: %s: %s", self._method, text)
                    return
            text = f"Invalid {where} metadata: {describe_exception(exc)}"
        if text is None:
            text = f"Cannot end the call: {describe_exception(exc)}"
        _LOGGER.error("turbogrpc: %s: %s", self._method, text)
        _send_internal(self._call_id, text)

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
            _send_internal(self._call_id, text)
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
