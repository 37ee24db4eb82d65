"""ServicerContext: one call of the blocking server (``turbogrpc.server``), as its handler sees
it (grpcio's ``grpc.ServicerContext``) and as the server drives it.

Three kinds of thread touch a call, so its state changes under its own lock:

- the server's dispatcher thread delivers the engine's events for it (``_on_event``: MESSAGE,
  WRITE_DONE, SERVER_DONE) and wakes the handler through the call's condition;
- the handler's pool thread reads requests (``_next_request``), writes responses (``_write``,
  waiting on WRITE_DONE acknowledgements past the write-ahead window) and ends the call with
  the one ``_engine.finish`` (``_finish``);
- any thread may end it early: ``cancel()``, or the server's stop.

A call ends exactly once (``_state`` leaves ACTIVE under the lock); whoever ends it then runs
its callbacks (``add_callback``) and tells the server. A unary call whose request the engine
read ahead never waits, so it gets no condition.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from .. import _engine
from .._core._compression import compression_value
from .._core._errors import RpcError
from .._core._events import MESSAGE, SERVER_DONE, WRITE_DONE
from .._core._grpcio import register_with_grpcio
from .._core._metadata import _Metadatum, as_pairs
from .._core._server_checks import finish_refused
from .._core._server_security import auth_context_dict, peer_identities, peer_identity_key
from .._core._status import StatusCode, code_to_int
from .._core._write_window import WriteWindow
from ._interfaces import RpcContext

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

    from .._core._compression import Compression
    from .._core._events import EngineEvent
    from .._core._message_reader import RawMessage
    from .._core._typing import MetadataType
    from ._server_state import ServerState

__all__ = ["ServicerContext"]

_LOGGER = logging.getLogger("turbogrpc")
_OK, _CANCELLED, _UNKNOWN = 0, 1, 2
_ACTIVE, _FINISHED, _ENDED_EARLY = 0, 1, 2  # _state: finished by us / ended by the engine or cancel
_NO_CALLBACKS: tuple[()] = ()  # _callbacks of an active call that has none yet (None: ended)
# grpcio's time_remaining() without a deadline: the engine's "infinite future" in seconds.
_INFINITE_FUTURE = float(2 ** 63 - 1)
NO_INITIAL_METADATA = "Initial metadata no longer allowed!"


def _wire_code(code: object) -> int:
    """The wire number of what a handler gave set_code()/abort(); UNKNOWN for anything that is
    no status code (grpcio's mapping)."""
    try:
        return code_to_int(code)  # type: ignore[arg-type]  # any object: checked there
    except ValueError:
        return _UNKNOWN


def _encoded(details: Union[str, bytes]) -> bytes:
    return details if isinstance(details, bytes) else details.encode("utf-8")


class ServicerContext(RpcContext):
    """The context a blocking handler receives: ``handler(request, context)``.

    Example::

        def GetFeature(self, request, context):
            if not authorized(context.invocation_metadata()):
                context.abort(turbogrpc.StatusCode.PERMISSION_DENIED, "no access")
            context.set_trailing_metadata((("cost", "3"),))
            return feature
    """

    __slots__ = (
        "_server", "_event", "_call_id", "_deadline", "_metadata", "_state", "_lock", "_cond",
        "_callbacks", "_code", "_details", "_trailing", "_trailing_pairs", "_aborted",
        "_initial_sent", "_compression", "_compress_next", "_rpc_errors", "_messages",
        "_reads_pending", "_request_ended", "_writes", "_write_blocked", "_write_failed",
    )

    def __init__(self, server: ServerState, event: EngineEvent, waits: bool) -> None:
        # event: the SERVER_CALL tuple (docs/seam.md); method, metadata, peer and auth are
        # read from it when asked for, which keeps this (on the dispatcher thread) short.
        self._server = server
        self._event = event
        self._call_id: int = event[1]
        timeout = event[5]
        self._deadline: Optional[float] = None if timeout is None else time.monotonic() + timeout
        self._metadata: Optional[tuple[_Metadatum, ...]] = None
        self._state = _ACTIVE
        self._lock = threading.Lock()
        # Only a call whose handler waits for events (streams, or a request not read ahead)
        # has a condition and a message queue, made before the dispatcher can deliver any.
        self._cond = threading.Condition(self._lock) if waits else None
        self._callbacks: Union[tuple[()], list[Callable[[], None]], None] = _NO_CALLBACKS
        self._code: object = None  # what set_code()/abort() got (a StatusCode), or None
        self._details: Optional[bytes] = None  # grpcio keeps (and returns) details encoded
        self._trailing: Optional[MetadataType] = None  # as the handler gave it
        self._trailing_pairs: Any = ()  # the same, as the engine takes it
        self._aborted = False
        self._initial_sent = False
        self._compression = server.setup.compression
        self._compress_next = True
        self._rpc_errors: Optional[list[RpcError]] = None  # RpcErrors this call raised itself
        self._messages: Optional[collections.deque[RawMessage]] = (
            collections.deque() if waits else None)
        self._reads_pending = False
        self._request_ended = False
        self._writes: Optional[WriteWindow] = None  # made by the first write
        self._write_blocked = False
        self._write_failed = False

    # -- ending the call (exactly once) ----------------------------------------------------

    def _end(self, state: int) -> Optional[Sequence[Callable[[], None]]]:
        """Moves an active call to ``state`` (lock held) and returns its callbacks; None when
        the call had already ended (the caller then does nothing)."""
        if self._state:
            return None
        self._state = state
        callbacks, self._callbacks = self._callbacks, None
        if self._cond is not None:
            self._cond.notify_all()  # readers and writers see the end
        return callbacks

    def _after_end(self, callbacks: Sequence[Callable[[], None]]) -> None:
        """Runs the callbacks (grpcio's order: before the server may count the call gone)."""
        for callback in callbacks:
            try:
                callback()
            except Exception:  # noqa: BLE001 - one failing callback must not stop the others
                _LOGGER.exception("Exception calling callback!")
        self._server.call_ended(self._call_id)

    def _finish(self, message: Optional[ReadableBuffer], code: int, details: Optional[bytes]
                ) -> None:
        """Sends the one finish (response, status, trailing metadata) unless the call ended."""
        with self._lock:
            callbacks = self._end(_FINISHED)
        if callbacks is None:
            return
        text = "" if details is None else details.decode("utf-8", "replace")
        try:
            try:
                _engine.finish(self._call_id, None, message, code, text, self._trailing_pairs,
                               self._compression, self._compress_next)
            except Exception as exc:  # noqa: BLE001 - wrong metadata types: still end the call
                finish_refused(self._call_id, self._event[3], exc, None, self._trailing_pairs,
                               message, text, _LOGGER)
        finally:
            self._after_end(callbacks)

    def _finish_with_status(self, message: Optional[ReadableBuffer]) -> None:
        """Finishes with the status the handler set (OK when it set none); a response goes
        out only with OK."""
        code = _OK if self._code is None else _wire_code(self._code)
        self._finish(message if code == _OK else None, code, self._details)

    def _finish_failed(self, code: int, details: str) -> None:
        """Ends the call after a failure, as grpcio does: a status code and details the handler
        set win over ``code`` and ``details``."""
        self._finish(None, code if self._code is None else _wire_code(self._code),
                     _encoded(details) if self._details is None else self._details)

    def _end_early(self) -> None:
        """The engine ended the call (client cancel, deadline, lost connection) or the server
        is stopping: waiters wake, callbacks run."""
        with self._lock:
            callbacks = self._end(_ENDED_EARLY)
        if callbacks is not None:
            self._after_end(callbacks)

    def _on_event(self, event: EngineEvent) -> None:  # the dispatcher thread
        kind = event[0]
        if kind == SERVER_DONE:
            self._end_early()
            return
        cond = self._cond
        if cond is None:
            return
        with cond:
            if kind == WRITE_DONE:
                writes = self._writes
                if writes is not None and writes.acked(event[2]):
                    if not event[2]:
                        self._write_failed = True
                    if self._write_blocked:
                        self._write_blocked = False
                        cond.notify_all()
            elif kind == MESSAGE:
                self._reads_pending = False
                if event[2] is None:
                    self._request_ended = True
                else:
                    self._messages.append(event[2])  # type: ignore[union-attr]  # made with cond
                cond.notify_all()

    def _own_error(self) -> RpcError:
        """The RpcError the call raises into its handler once the client is gone (grpcio's);
        remembered, so the handler letting it out is not reported as failing."""
        error = RpcError()
        if self._rpc_errors is None:
            self._rpc_errors = []
        self._rpc_errors.append(error)
        return error

    def _raised_by_call(self, exc: BaseException) -> bool:
        return self._rpc_errors is not None and exc in self._rpc_errors

    # -- streams (the handler's thread) ----------------------------------------------------

    def _next_request(self) -> Optional[RawMessage]:
        """The next request message; None at the end of the request stream (or once the call
        was finished). Raises the call's RpcError once the client is gone."""
        cond = self._cond
        assert cond is not None  # streaming calls have one
        with cond:
            while True:
                if self._state == _ENDED_EARLY:
                    raise self._own_error()
                if self._messages:
                    return self._messages.popleft()
                if self._request_ended or self._state:
                    return None
                if not self._reads_pending:
                    self._reads_pending = True
                    _engine.read(self._call_id)
                cond.wait()

    def _take_preread(self, raw: Optional[RawMessage]) -> None:
        """A call whose request the engine read ahead, served by a request-streaming handler
        (an interceptor's): its stream holds that one message and has ended."""
        if raw is not None:
            self._messages.append(raw)  # type: ignore[union-attr]  # request streams wait
        self._request_ended = True

    def _write(self, message: ReadableBuffer) -> bool:
        """Sends one response; past the write-ahead window waits for the engine's
        acknowledgements. False once the call has ended (nothing more can be sent)."""
        size = len(message) if type(message) is bytes else memoryview(message).nbytes
        cond = self._cond
        assert cond is not None  # streaming calls have one
        with cond:
            if self._state or self._write_failed:
                return False
            writes = self._writes
            if writes is None:
                writes = self._writes = WriteWindow()
            _engine.send_message(self._call_id, message, False, self._compress_next,
                                 self._compression, writes.would_wait(size))
            self._initial_sent = True  # the first message carries the headers
            self._compress_next = True
            if writes.sent(size):
                self._write_blocked = True
                while self._write_blocked and not self._state:
                    cond.wait()
            return not (self._state or self._write_failed)

    # -- grpc.ServicerContext --------------------------------------------------------------

    def invocation_metadata(self) -> tuple[_Metadatum, ...]:
        """The client's metadata: (key, value) pairs that also have .key and .value."""
        metadata = self._metadata
        if metadata is None:
            metadata = self._metadata = tuple(_Metadatum(pair) for pair in self._event[4])
        return metadata

    def peer(self) -> str:
        """The client's address as grpc names it ("ipv4:127.0.0.1:5555")."""
        peer: str = self._event[6]
        return peer

    def peer_identities(self) -> Optional[list[bytes]]:
        return peer_identities(self._event[11])

    def peer_identity_key(self) -> Optional[str]:
        return peer_identity_key(self._event[11])

    def auth_context(self) -> dict[str, list[bytes]]:
        return auth_context_dict(self._event[11])

    def send_initial_metadata(self, initial_metadata: MetadataType) -> None:
        """Sends the response headers now; once only, before any response."""
        with self._lock:
            if self._state == _ENDED_EARLY:
                raise self._own_error()
            if self._initial_sent or self._state:
                raise ValueError(NO_INITIAL_METADATA)
            _engine.send_initial_metadata(self._call_id, as_pairs(initial_metadata),
                                          self._compression)
            self._initial_sent = True

    def set_trailing_metadata(self, trailing_metadata: MetadataType) -> None:
        pairs = as_pairs(trailing_metadata)
        with self._lock:
            self._trailing = trailing_metadata
            self._trailing_pairs = pairs

    def trailing_metadata(self) -> Optional[MetadataType]:
        """What set_trailing_metadata() got, or None."""
        return self._trailing

    def abort(self, code: StatusCode, details: str) -> None:
        """Ends the RPC with ``code`` and ``details`` by raising an exception: let it propagate.
        (grpcio's rule: abort with OK logs an error and ends the RPC UNKNOWN.)"""
        if code == StatusCode.OK:
            _LOGGER.error("abort() called with StatusCode.OK; returning UNKNOWN")
            code, details = StatusCode.UNKNOWN, ""
        with self._lock:
            self._code = code
            self._details = _encoded(details)
            self._aborted = True
        raise _Aborted()

    def abort_with_status(self, status: Any) -> None:
        """abort() with a grpc.Status (code, details and trailing metadata)."""
        self.set_trailing_metadata(status.trailing_metadata)
        self.abort(status.code, status.details)

    def set_code(self, code: StatusCode) -> None:
        self._code = code

    def code(self) -> Optional[StatusCode]:
        """What set_code() (or abort) got, or None."""
        return self._code  # type: ignore[return-value]  # whatever the handler set, as grpcio

    def set_details(self, details: str) -> None:
        self._details = _encoded(details)

    def details(self) -> Optional[bytes]:
        """The details set so far, UTF-8 encoded (grpcio returns bytes here), or None."""
        return self._details

    def set_compression(self, compression: Compression) -> None:
        """Compresses the responses with ``compression`` if the client accepts it; decided when
        the response headers go out, so it has no effect after them (as grpcio)."""
        self._compression = compression_value(compression)

    def disable_next_message_compression(self) -> None:
        self._compress_next = False

    # -- grpc.RpcContext -------------------------------------------------------------------

    def is_active(self) -> bool:
        """True until the call is finished, cancelled, or past its deadline."""
        return not self._state

    def time_remaining(self) -> float:
        """Seconds left before the deadline (grpcio's huge number without one)."""
        deadline = self._deadline
        if deadline is None:
            return max(_INFINITE_FUTURE - time.time(), 0.0)
        return max(deadline - time.monotonic(), 0.0)

    def cancel(self) -> bool:
        """Cancels the call: the client sees CANCELLED; callbacks run. True if it was active."""
        with self._lock:
            callbacks = self._end(_ENDED_EARLY)
        if callbacks is None:
            return False
        _engine.cancel(self._call_id, _CANCELLED, "Cancelled")
        self._after_end(callbacks)
        return True

    def add_callback(self, callback: Callable[[], None]) -> bool:
        """Calls ``callback()`` once the RPC has ended; False (not registered) if it already
        has (grpc's rule)."""
        with self._lock:
            callbacks = self._callbacks
            if callbacks is None:
                return False
            if callbacks:
                callbacks.append(callback)
            else:
                self._callbacks = [callback]
            return True

    def __repr__(self) -> str:
        return f"<turbogrpc ServicerContext {self._event[3]} call_id={self._call_id}>"


class _Aborted(Exception):
    """What ``abort()`` raises (grpcio raises a plain Exception): the status is already set."""


register_with_grpcio(ServicerContext, "ServicerContext")
