"""Client calls of the blocking API: the finished-call error, and the rendezvous.

``CallState`` holds what the engine said about one call. A blocking unary call fills it from
the single event it waited for; every other call (``future()``, response streams, request
streams) is a ``Rendezvous`` whose state the dispatcher thread fills under a
``threading.Condition`` that its callers wait on — grpcio's ``_MultiThreadedRendezvous``.
A failed call raises ``InactiveRpcError`` (grpcio's ``_InactiveRpcError``): an ``RpcError``
that is also a finished ``Call`` and ``Future``.
"""

from __future__ import annotations

import collections
import logging
import sys
import threading
import time
import types
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional, Union

from .. import _engine
from .._core._grpcio import register_with_grpcio
from .._core._status import StatusCode, code_from_int
from .._core._errors import RpcError
from ._interfaces import (
    Call, FinishedContext, FinishedFuture, Future, FutureCancelledError, FutureTimeoutError,
)
from ._queues import DispatchEntry

if TYPE_CHECKING:
    from .._core._message_reader import MessageReader, RawMessage

__all__ = ["Metadatum", "CallState", "InactiveRpcError", "Rendezvous"]

_LOGGER = logging.getLogger("turbogrpc")

# Engine event kinds (docs/seam.md).
UNARY_DONE, INITIAL_METADATA, MESSAGE, WRITE_DONE, FINISHED = (
    _engine.UNARY_DONE, _engine.INITIAL_METADATA, _engine.MESSAGE, _engine.WRITE_DONE, _engine.FINISHED)
OK, CANCELLED, UNKNOWN, INTERNAL = 0, 1, 2, 13
LOCAL_CANCELLATION_DETAILS = "Locally cancelled by application!"
DESERIALIZE_RESPONSE_FAILED = "Exception deserializing response!"
NO_RESPONSE = "Server sent no response message"


class Metadatum(NamedTuple):
    """One metadata entry, as grpcio's blocking API returns them."""

    key: str
    value: Union[str, bytes]


def metadata_of(raw: Optional[tuple[tuple[str, Union[str, bytes]], ...]]) -> tuple[Metadatum, ...]:
    return tuple(Metadatum(key, value) for key, value in raw) if raw else ()


class CallState:
    """What is known of one call. A rendezvous changes it only with its condition held."""

    __slots__ = (
        "call_id", "deadline", "reader", "code", "details", "initial", "trailing",
        "debug_error", "cancelled", "response", "messages", "response_ended", "reads_pending",
        "rpc_callbacks", "done_callbacks", "cause",
    )

    def __init__(self, deadline: Optional[float], reader: MessageReader) -> None:
        self.call_id = 0
        self.deadline = deadline
        self.reader = reader
        self.code: Optional[int] = None
        self.details = ""
        self.initial: Optional[tuple[Any, ...]] = None
        self.trailing: tuple[Any, ...] = ()
        self.debug_error: Optional[str] = None
        self.cancelled = False
        self.response: Any = None
        self.messages: collections.deque[RawMessage] = collections.deque()
        self.response_ended = False
        self.reads_pending = False
        self.rpc_callbacks: list[Callable[[], None]] = []
        self.done_callbacks: list[Callable[[Any], None]] = []
        self.cause: Optional[BaseException] = None

    def finish_unary(self, event: tuple[Any, ...]) -> None:
        """Fills the state from a UNARY_DONE event (deserializing the response)."""
        _, _, code, details, initial, trailing, response, debug_error, _ = event
        if code == OK:
            if response is None:
                code, details = INTERNAL, NO_RESPONSE
            else:
                try:
                    self.response = self.reader(response)
                except Exception as exc:
                    self.cause = exc
                    code, details, debug_error = INTERNAL, DESERIALIZE_RESPONSE_FAILED, f"{type(exc).__name__}: {exc}"
        self.initial = initial
        self.code, self.details, self.trailing, self.debug_error = code, details, trailing, debug_error

    def status_code(self) -> StatusCode:
        return code_from_int(self.code if self.code is not None else UNKNOWN)

    def time_remaining(self) -> Optional[float]:
        return None if self.deadline is None else max(self.deadline - time.monotonic(), 0.0)


def _describe(name: str, state: CallState) -> str:
    return (f"<{name} of RPC that terminated with:\n"
            f"\tstatus = {state.status_code()}\n"
            f'\tdetails = "{state.details}"\n'
            f'\tdebug_error_string = "{state.debug_error}"\n>')


class InactiveRpcError(FinishedContext, FinishedFuture, RpcError, Call, Future):
    """A finished, failed RPC: raised by blocking calls (grpcio's ``_InactiveRpcError``).

    Example::

        try:
            reply = stub.SayHello(request, timeout=1)
        except turbogrpc.RpcError as error:
            print(error.code(), error.details())
    """

    def __init__(self, state: CallState) -> None:
        Exception.__init__(self)
        self._state = state

    def initial_metadata(self) -> tuple[Metadatum, ...]:
        return metadata_of(self._state.initial)

    def trailing_metadata(self) -> tuple[Metadatum, ...]:
        return metadata_of(self._state.trailing)

    def code(self) -> StatusCode:
        return self._state.status_code()

    def details(self) -> Optional[str]:
        return self._state.details

    def debug_error_string(self) -> Optional[str]:
        return self._state.debug_error

    def result(self, timeout: Optional[float] = None) -> Any:
        raise self

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        return self

    def traceback(self, timeout: Optional[float] = None) -> Optional[types.TracebackType]:
        try:
            raise self
        except InactiveRpcError:
            return sys.exc_info()[2]

    def __str__(self) -> str:
        return _describe("_InactiveRpcError", self._state)

    __repr__ = __str__


def run_callbacks(state: CallState, future: object) -> None:
    """Runs the callbacks of a call that just ended (outside its condition)."""
    rpc_callbacks, state.rpc_callbacks = state.rpc_callbacks, []
    done_callbacks, state.done_callbacks = state.done_callbacks, []
    for callback in rpc_callbacks:
        try:
            callback()
        except Exception:
            _LOGGER.exception("turbogrpc: an RPC callback raised")
    for fn in done_callbacks:
        try:
            fn(future)
        except Exception:
            _LOGGER.exception("turbogrpc: a done callback raised")


class Rendezvous(RpcError, Call, Future):
    """A call in progress that others wait on: a ``Future`` for a unary response, an iterator
    of responses for a response stream, and a ``Call`` and ``RpcError`` in any case (an
    iterator raises the rendezvous itself when the RPC fails), as grpcio's.

    Example::

        future = stub.SayHello.future(request)
        future.add_done_callback(lambda f: print(f.code()))
        reply = future.result(timeout=2)

        for feature in stub.ListFeatures(rectangle):
            print(feature)
    """

    def __init__(self, state: CallState, unary_response: bool) -> None:
        Exception.__init__(self)
        self._state = state
        self._unary_response = unary_response
        self._condition = threading.Condition()
        self._entry = DispatchEntry(self)

    # -- engine side (the dispatcher thread) ------------------------------------------

    def _on_event(self, event: tuple[Any, ...]) -> None:
        state = self._state
        kind = event[0]
        final = kind == FINISHED or kind == UNARY_DONE
        ended = False
        with self._condition:
            if kind == MESSAGE:
                state.reads_pending = False
                if event[2] is None:
                    state.response_ended = True
                else:
                    state.messages.append(event[2])
            elif kind == INITIAL_METADATA:
                state.initial = event[2]
            elif kind == WRITE_DONE:
                self._on_write_done(event[2])
            elif state.code is None and kind == UNARY_DONE:
                state.finish_unary(event)
                ended = True
            elif state.code is None and kind == FINISHED:
                _, _, code, details, trailing, initial, debug_error = event
                if state.initial is None:
                    state.initial = initial if initial is not None else ()
                state.code, state.details, state.trailing, state.debug_error = code, details, trailing, debug_error
                if code == OK and self._unary_response:
                    self._take_unary_response()
                ended = True
            self._condition.notify_all()
        if final:
            self._entry.release()
        if ended:
            run_callbacks(state, self)

    def _on_write_done(self, ok: bool) -> None:
        """Overridden by calls that write (the request writer waits on acknowledgements)."""

    def _take_unary_response(self) -> None:
        state = self._state
        if not state.messages:
            state.code, state.details = INTERNAL, NO_RESPONSE
            return
        try:
            state.response = state.reader(state.messages.popleft())
        except Exception as exc:
            state.cause = exc
            state.code, state.details = INTERNAL, DESERIALIZE_RESPONSE_FAILED
            state.debug_error = f"{type(exc).__name__}: {exc}"

    # -- RpcContext and Call ------------------------------------------------------------

    def is_active(self) -> bool:
        return self._state.code is None

    def time_remaining(self) -> Optional[float]:
        return self._state.time_remaining()

    def cancel(self) -> bool:
        return self._end_locally(CANCELLED, LOCAL_CANCELLATION_DETAILS, cancelled=True)

    def _end_locally(self, code: int, details: str, cancelled: bool = False,
                     cause: Optional[BaseException] = None) -> bool:
        state = self._state
        with self._condition:
            if state.code is not None:
                return False
            state.code, state.details, state.cancelled, state.cause = code, details, cancelled, cause
            # Responses that arrived but were not taken are dropped: the next next() raises at
            # once, as grpcio's (which holds no responses ahead of the application).
            state.messages.clear()
            if cause is not None:
                state.debug_error = f"{type(cause).__name__}: {cause}"
            self._condition.notify_all()
        if state.call_id:
            _engine.cancel(state.call_id, code, details)
        run_callbacks(state, self)
        return True

    def add_callback(self, callback: Callable[[], None]) -> bool:
        state = self._state
        with self._condition:
            if state.code is None:
                state.rpc_callbacks.append(callback)
                self._entry.hold()
                return True
        return False

    def _wait(self, ready: Callable[[], bool], timeout: Optional[float] = None) -> bool:
        """Waits until ``ready()`` (checked with the condition held); False on timeout. Ctrl-C
        while waiting cancels the RPC and raises KeyboardInterrupt."""
        with self._condition:
            return ready() or self._wait_locked(ready, timeout)

    def _wait_locked(self, ready: Callable[[], bool], timeout: Optional[float] = None) -> bool:
        """_wait with the condition already held. An exception while waiting (Ctrl-C's
        KeyboardInterrupt) cancels the RPC, unless it is ready by then, and goes on."""
        try:
            return self._condition.wait_for(ready, timeout)
        except BaseException:
            if not ready():
                self._condition.release()
                try:
                    self.cancel()
                finally:
                    self._condition.acquire()
            raise

    def _wait_done(self, timeout: Optional[float] = None) -> bool:
        state = self._state
        return self._wait(lambda: state.code is not None, timeout)

    def initial_metadata(self) -> tuple[Metadatum, ...]:
        state = self._state
        self._wait(lambda: state.initial is not None or state.code is not None)
        return metadata_of(state.initial)

    def trailing_metadata(self) -> tuple[Metadatum, ...]:
        self._wait_done()
        return metadata_of(self._state.trailing)

    def code(self) -> StatusCode:
        self._wait_done()
        return self._state.status_code()

    def details(self) -> Optional[str]:
        self._wait_done()
        return self._state.details

    def debug_error_string(self) -> Optional[str]:
        self._wait_done()
        return self._state.debug_error

    # -- Future --------------------------------------------------------------------------

    def cancelled(self) -> bool:
        return self._state.cancelled

    def running(self) -> bool:
        return self._state.code is None

    def done(self) -> bool:
        return self._state.code is not None

    def result(self, timeout: Optional[float] = None) -> Any:
        if not self._wait_done(timeout):
            raise FutureTimeoutError()
        state = self._state
        if state.code == OK:
            return state.response
        if state.cancelled:
            raise FutureCancelledError()
        raise self

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        if not self._wait_done(timeout):
            raise FutureTimeoutError()
        state = self._state
        if state.code == OK:
            return None
        if state.cancelled:
            raise FutureCancelledError()
        return self

    def traceback(self, timeout: Optional[float] = None) -> Optional[types.TracebackType]:
        if self.exception(timeout) is None:
            return None
        try:
            raise self
        except Rendezvous:
            return sys.exc_info()[2]

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        state = self._state
        with self._condition:
            if state.code is None:
                state.done_callbacks.append(fn)
                self._entry.hold()
                return
        fn(self)

    # -- responses --------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        state = self._state
        with self._condition:
            while not state.messages:
                if state.code is not None:  # every message comes before the status
                    if state.code == OK:
                        raise StopIteration()
                    raise self
                if state.response_ended:  # the status follows
                    self._wait_locked(lambda: bool(state.messages) or state.code is not None)
                    continue
                if not state.reads_pending:
                    state.reads_pending = True
                    _engine.read(state.call_id)
                self._wait_locked(lambda: bool(state.messages) or state.code is not None
                                  or state.response_ended)
            raw = state.messages.popleft()
        try:
            return state.reader(raw)
        except Exception as exc:
            if not self._end_locally(INTERNAL, DESERIALIZE_RESPONSE_FAILED, cause=exc):
                # It ended OK, but a response it delivered is unusable: the status says so now.
                with self._condition:
                    state.code, state.details, state.cause = INTERNAL, DESERIALIZE_RESPONSE_FAILED, exc
                    state.debug_error = f"{type(exc).__name__}: {exc}"
            raise self from exc


    def next(self) -> Any:
        return self.__next__()

    def __del__(self) -> None:
        state = getattr(self, "_state", None)
        if state is not None and state.code is None and state.call_id:
            try:
                _engine.cancel(state.call_id, CANCELLED, "Cancelled upon garbage collection!")
            except Exception:
                pass

    def __str__(self) -> str:
        if self._state.code is None:
            return "<_MultiThreadedRendezvous object of in-flight RPC>"
        return _describe("_MultiThreadedRendezvous", self._state)

    __repr__ = __str__


register_with_grpcio(InactiveRpcError, "Call")
register_with_grpcio(Rendezvous, "Call")
