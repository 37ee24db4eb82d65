"""ServicerContext: one server call as a handler sees it (also its event sink).

The context holds the status the handler builds (code, details, trailing metadata), reads
and writes the call's streams, and sends exactly one ``_engine.finish`` at the end.
Methods that grpcio's sync API calls from worker threads (``abort``, ``set_code``,
``send_initial_metadata``) work both from the loop and from a sync handler's thread.

Whatever a handler hands over (a response that is not bytes, metadata of the wrong type,
details that are not text, a serializer that raises) ends the call promptly with INTERNAL and
details naming the problem: every call into ``_engine`` that takes handler data is guarded,
because a call that is never finished would hang its client until the deadline and keep
``Server.stop(grace)`` waiting. Where grpc.aio checks at once, so does this context: trailing
metadata of the wrong types raises TypeError from ``set_trailing_metadata`` / ``abort``, and
``set_compression`` after the response headers raises RuntimeError (both are UsageErrors too).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any, Generic, NoReturn, Protocol, TypeGuard

from .. import _engine
from .._errors import UsageError, UsageRuntimeError
from .._grpcio import register_with_grpcio
from .._status import code_from_int, code_to_int
from ._completion import MESSAGE, SERVER_DONE, WRITE_DONE, run_done_callbacks, settle
from ._compression import compression_value
from ._message_reader import RawMessage, as_bytes
from ._metadata import as_pairs, checked_pairs
from ._write_window import WriteWindow
from ._rpc_error import EOF, AbortError
from ._server_security import AuthContext, auth_context_dict, peer_identities, peer_identity_key
from ._typing import (
    DoneCallbackType, MetadataType, MetadataValue, MetadatumType, RequestType, ResponseType,
    SerializingFunction,
)

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

    from .._status import StatusCode
    from ._completion import EngineEvent, LoopState
    from ._compression import Compression
    from ._rpc_error import _EOFType
    from ._server import Server

__all__ = ["ServicerContext", "BadRequest", "SERIALIZE_RESPONSE_FAILED", "serialize_response",
           "exception_text", "describe_exception"]

_LOGGER = logging.getLogger("turbogrpc.aio")
_OK, _CANCELLED, _INTERNAL = 0, 1, 13
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


def _CHECK_ONLY(message: bytes) -> bytes:  # a serializer that already ran: only checked
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


class _Metadatum(tuple[str, MetadataValue]):
    """A (key, value) pair that also has .key and .value, like grpc's."""

    __slots__ = ()

    @property
    def key(self) -> str:
        return self[0]

    @property
    def value(self) -> MetadataValue:
        return self[1]


class _Status(Protocol):
    """What ``abort_with_status`` reads of a grpc.Status (``trailing_metadata`` if it has it)."""

    @property
    def code(self) -> StatusCode: ...
    @property
    def details(self) -> str: ...


class _Ready:
    """Awaitable that is already done: lets a method work with and without ``await``."""

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        return
        yield  # pragma: no cover - makes this a generator


_READY = _Ready()


class ServicerContext(Generic[RequestType, ResponseType]):
    """The per-call context a handler receives (ServicerContext[Request, Response], as grpc.aio's).

    Example::

        async def GetFeature(self, request, context):
            if context.invocation_metadata() ...:
                await context.abort(StatusCode.PERMISSION_DENIED, "no access")
            context.set_trailing_metadata((("cost", "3"),))
            return feature
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

    # -- streams ------------------------------------------------------------------------

    async def read(self) -> RequestType:
        """The next request of a request stream, or ``EOF`` at its end."""
        raw = await self._read_raw()
        if raw is EOF:
            return raw  # type: ignore[return-value]  # grpc.aio's read() -> RequestType too
        # (``is EOF`` does not narrow raw for the checker; no deserializer: requests are bytes)
        if self._deserializer is None:
            return as_bytes(raw)  # type: ignore[arg-type, return-value]
        try:
            return self._deserializer(raw)  # type: ignore[arg-type]
        except Exception as exc:
            raise BadRequest(f"cannot deserialize a request of {self._method}") from exc

    async def _read_raw(self) -> RawMessage | _EOFType:
        while True:
            if self._messages:
                # Both deques or neither (see _hold_request).
                self._request_compressed = (
                    self._compressed_flags.popleft())  # type: ignore[union-attr]
                return self._messages.popleft()
            if self._request_ended or self._finished:
                return EOF
            if self._read_waiter is not None:
                raise UsageError("another read() is already waiting on this call")
            if not self._reads_pending:
                self._reads_pending = 1
                _engine.read(self._call_id)
            waiter = self._read_waiter = self._state.loop.create_future()
            try:
                await waiter
            finally:
                self._read_waiter = None

    async def write(self, message: ResponseType) -> None:
        """Sends one response of a response stream; waits only while the engine holds too much
        unsent data for this call (flow control)."""
        if self._finished:
            raise AbortError("the RPC has already ended")
        if self._write_waiter is not None:
            raise UsageError("another write() is still in progress on this call")
        # The common case (a serializer that returns bytes) costs no call beyond the serializer:
        # streamed writes are the hot path of server streaming.
        serializer = self._serializer
        try:
            # From here on ``message`` is what the engine sends (bytes or a buffer).
            if serializer is not None:
                message = serializer(message)  # type: ignore[assignment]
            if type(message) is not bytes:
                message = serialize_response(  # type: ignore[assignment]
                    message, None if serializer is None else _CHECK_ONLY)
        except Exception as exc:
            self._fail(f"{SERIALIZE_RESPONSE_FAILED} {describe_exception(exc)}", exc)
            raise
        size = (len(message) if type(message) is bytes  # type: ignore[arg-type]
                else memoryview(message).nbytes)  # type: ignore[arg-type]
        self._flush_initial_metadata()
        self._initial_sent = True  # the first message carries the headers
        try:
            _engine.send_message(self._call_id, message, False, self._compress_next,
                                 self._compression, self._writes.would_wait(size))
        except Exception as exc:  # noqa: BLE001 - MemoryError copying it: end the call
            self._fail(f"Cannot send a response: {describe_exception(exc)}", exc)
            raise
        self._compress_next = True
        if not self._writes.sent(size):
            return
        waiter = self._write_waiter = self._state.loop.create_future()
        try:
            accepted = await waiter
        finally:
            self._write_waiter = None
        if not accepted:
            raise AbortError("the RPC has ended; the message was not sent")

    def _flush_initial_metadata(self) -> None:
        if self._initial_pending is not None:
            initial, self._initial_pending = self._initial_pending, None
            try:
                _engine.send_initial_metadata(self._call_id, initial, self._compression)
            except Exception as exc:  # noqa: BLE001 - wrong types or values from the handler
                self._fail(f"Invalid initial metadata: {describe_exception(exc)}", exc)
                raise

    # -- metadata and status -------------------------------------------------------------

    def invocation_metadata(self) -> tuple[_Metadatum, ...]:
        """The client's metadata: a tuple of (key, value) pairs (with .key and .value)."""
        if self._metadata is None:
            self._metadata = tuple(_Metadatum(pair) for pair in self._raw_metadata)
        return self._metadata

    def send_initial_metadata(self, initial_metadata: MetadataType) -> Awaitable[None]:
        """Sends initial metadata now (streaming) or with the response (unary). Awaitable."""
        if self._initial_sent:
            raise UsageError("initial metadata was already sent")
        if self._finished:
            raise UsageError("the RPC has already ended")
        self._initial_sent = True
        self._initial_pending = tuple(as_pairs(initial_metadata))
        if not self._defer_initial:
            self._flush_initial_metadata()
        return _READY

    def set_trailing_metadata(self, trailing_metadata: MetadataType) -> None:
        """Sets the trailing metadata sent with the status; raises TypeError (a UsageError too)
        at once for anything but (str, str or bytes) pairs, as grpc.aio does."""
        self._trailing = checked_pairs(trailing_metadata, "trailing")

    def trailing_metadata(self) -> tuple[MetadatumType, ...]:
        return self._trailing

    def set_code(self, code: StatusCode) -> None:
        self._code = code_to_int(code)

    def code(self) -> StatusCode | None:
        return None if self._code is None else code_from_int(self._code)

    def set_details(self, details: str) -> None:
        self._details = details

    def details(self) -> str | None:
        return self._details

    def abort(self, code: StatusCode, details: str = "",
              trailing_metadata: MetadataType = ()) -> NoReturn:
        """Ends the RPC with a non-OK status by raising AbortError; let it propagate.

        Use ``await context.abort(...)`` in async handlers; in sync handlers it raises
        directly, as grpcio's sync API does.
        """
        if self._aborted:
            raise UsageError("Abort already called!")
        number = code_to_int(code)
        if number == _OK:
            raise UsageError("abort() needs a non-OK status code")
        trailing = checked_pairs(trailing_metadata, "trailing") if trailing_metadata else None
        self._aborted = True
        self._code = number
        if details or not self._details:
            self._details = details
        if trailing:
            self._trailing = trailing
        raise AbortError("Locally aborted.")

    def abort_with_status(self, status: _Status) -> NoReturn:
        self.abort(status.code, status.details, getattr(status, "trailing_metadata", ()))

    def set_compression(self, compression: Compression) -> None:
        """Compresses this call's responses with ``compression`` (if the client accepts it).

        Must come before the response headers go out (the first write, or an explicit
        ``send_initial_metadata`` on a streaming call); after, it raises RuntimeError (a
        UsageError too), as grpc.aio does.
        """
        if self._initial_sent and self._initial_pending is None:
            raise UsageRuntimeError(
                "Compression setting must be specified before sending initial metadata")
        self._compression = compression_value(compression)

    def disable_next_message_compression(self) -> None:
        """Sends the next response message uncompressed, whatever the call's compression."""
        self._compress_next = False

    def last_request_compressed(self) -> bool:
        """Whether the request message last returned to the handler crossed the wire compressed.

        A turbogrpc extension (grpc.aio has no equivalent), e.g. for the interop tests.
        """
        return self._request_compressed

    # -- call state -------------------------------------------------------------------------

    def time_remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(self._deadline - time.monotonic(), 0.0)

    def cancelled(self) -> bool:
        return self._cancelled

    def done(self) -> bool:
        return self._finished

    def is_active(self) -> bool:
        return not self._finished

    def add_done_callback(self, callback: DoneCallbackType) -> None:
        """Calls ``callback(context)`` once the RPC has ended (finished, cancelled or aborted);
        at once if it already has. A callback that raises is logged; the others still run."""
        if self._finished:
            callback(self)
        elif self._done_callbacks is None:
            self._done_callbacks = [callback]
        else:
            self._done_callbacks.append(callback)

    def add_callback(self, callback: Callable[[], None]) -> bool:
        """grpc's sync API: ``callback()`` (no argument) runs once the RPC has ended. Returns
        False, without calling it, if the RPC already ended (grpc's rule)."""
        if self._finished:
            return False
        self.add_done_callback(lambda _context: callback())
        return True

    def peer(self) -> str:
        return self._peer

    def peer_identities(self) -> list[bytes] | None:
        """The peer's identities (bytes; its certificate's names), or None if unauthenticated."""
        return peer_identities(self._auth)

    def peer_identity_key(self) -> str | None:
        """The auth_context() key that identifies the peer, or None if unauthenticated."""
        return peer_identity_key(self._auth)

    def is_peer_authenticated(self) -> bool:
        return peer_identity_key(self._auth) is not None

    def auth_context(self) -> dict[str, list[bytes]]:
        """The connection's security as grpc reports it: {name: [bytes values]}."""
        return auth_context_dict(self._auth)

    def __repr__(self) -> str:
        return f"<ServicerContext {self._method} call_id={self._call_id}>"


register_with_grpcio(ServicerContext, "aio.ServicerContext")
register_with_grpcio(ServicerContext, "ServicerContext")  # sync handlers get it too
