"""Client call objects shared by every RPC shape, and the unary-unary call.

A call is registered in its loop's LoopState under its engine call id and receives its
events there. Status, metadata and response are plain attributes filled by ``_on_event``;
awaiting code waits on per-waiter futures, so cancelling one waiter never disturbs another.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any, Generic, Optional

from .. import _engine
from .._core._connectivity import ChannelConnectivity
from .._core._events import UNARY_DONE, run_done_callbacks
from .._core._grpcio import register_with_grpcio
from .._core._metadata import Metadata
from .._core._status import code_from_int
from .._core._typing import (
    DoneCallbackType, MetadatumType, RequestType, ResponseType, SerializingFunction,
)
from ._rpc_error import AioRpcError

if TYPE_CHECKING:
    from .._core._events import EngineEvent
    from .._core._message_reader import MessageReader
    from .._core._status import StatusCode
    from ._channel import Channel
    from ._completion import LoopState

__all__ = ["RpcContext", "Call", "UnaryUnaryCall"]

_LOGGER = logging.getLogger("turbogrpc.aio")

LOCAL_CANCELLATION_DETAILS = "Locally cancelled by application!"
GC_CANCELLATION_DETAILS = "Cancelled upon garbage collection!"
SERIALIZE_REQUEST_FAILED = "Exception serializing request!"
DESERIALIZE_RESPONSE_FAILED = "Exception deserializing response!"
_OK = 0
_CANCELLED = 1
_INTERNAL = 13

# Metadata as the engine hands it over: (key, value) pairs.
RawMetadata = tuple[MetadatumType, ...]


class RpcContext(abc.ABC):
    """What every RPC offers its caller (grpc.aio's ``RpcContext``): the base of ``Call``."""

    __slots__ = ()

    @abc.abstractmethod
    def cancelled(self) -> bool:
        """True if the RPC ended CANCELLED."""

    @abc.abstractmethod
    def done(self) -> bool:
        """True once the RPC has ended."""

    @abc.abstractmethod
    def time_remaining(self) -> Optional[float]:
        """Seconds left before the deadline, or None without a deadline."""

    @abc.abstractmethod
    def cancel(self) -> bool:
        """Cancels the RPC; True if it was still running."""

    @abc.abstractmethod
    def add_done_callback(self, callback: DoneCallbackType) -> None:
        """Calls ``callback(call)`` once the RPC has ended."""


class Call(RpcContext):
    """What every client call offers: status, metadata, cancellation, done callbacks.

    Example::

        call = stub.SayHello(request, timeout=2)
        call.add_done_callback(lambda c: print("finished"))
        reply = await call
        print(await call.code(), await call.trailing_metadata())
    """

    __slots__ = (
        "_loop", "_channel", "_call_id", "_deadline", "_serializer", "_deserializer",
        "_code", "_details", "_initial_md", "_trailing_md", "_debug_error",
        "_locally_cancelled", "_cause", "_waiters", "_done_callbacks", "_last_compressed",
        "__weakref__",
    )

    _loop: asyncio.AbstractEventLoop
    _channel: Channel
    _call_id: int
    _deadline: Optional[float]
    _serializer: Optional[SerializingFunction]
    _deserializer: Optional[MessageReader]
    _code: Optional[int]
    _details: str
    _initial_md: Optional[RawMetadata]
    _trailing_md: RawMetadata
    _debug_error: Optional[str]
    _locally_cancelled: bool
    _cause: Optional[BaseException]
    _waiters: Optional[list[asyncio.Future[None]]]
    _done_callbacks: Optional[list[DoneCallbackType]]
    _last_compressed: bool

    def _init_call(self, loop: asyncio.AbstractEventLoop, channel: Channel,
                   serializer: Optional[SerializingFunction],
                   deserializer: Optional[MessageReader], timeout: Optional[float]) -> None:
        self._loop = loop
        self._channel = channel
        self._call_id = 0
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._serializer = serializer
        self._deserializer = deserializer
        self._code = None  # int while running: None; set exactly once
        self._details = ""
        self._initial_md = None  # raw tuple of pairs from the engine
        self._trailing_md = ()
        self._debug_error = None
        self._locally_cancelled = False
        self._cause = None  # the exception behind a locally made status, for chaining
        self._waiters = None
        self._done_callbacks = None
        self._last_compressed = False

    def last_response_compressed(self) -> bool:
        """Whether the response message last returned to you crossed the wire compressed.

        A turbogrpc extension (grpc.aio has no equivalent), e.g. for the interop tests::

            call = stub.UnaryCall(request)
            response = await call
            assert call.last_response_compressed()
        """
        return self._last_compressed

    # -- finishing ---------------------------------------------------------------------

    def _set_status(self, code: int, details: str, trailing: RawMetadata,
                    debug_error: Optional[str]) -> None:
        self._code = code
        self._details = details
        self._trailing_md = trailing
        self._debug_error = debug_error
        self._wake_waiters()
        callbacks = self._done_callbacks
        if callbacks:
            self._done_callbacks = None
            run_done_callbacks(callbacks, self)

    def _fail_locally(self, code: int, details: str,
                      cause: Optional[BaseException] = None) -> None:
        """Ends the call here and now (cancel, serializer error, ...) and tells the engine."""
        if self._code is not None:
            return
        self._cause = cause
        if self._call_id:
            try:
                _engine.cancel(self._call_id, code, details)
            except Exception:
                _LOGGER.debug("turbogrpc: engine cancel failed", exc_info=True)
        debug = None if cause is None else f"{type(cause).__name__}: {cause}"
        self._set_status(code, details, (), debug)

    def _serialized(self, serializer: SerializingFunction, request: object) -> Optional[bytes]:
        """``request`` as bytes, or None when the serializer raised (the call then ended
        INTERNAL, with the exception as its cause)."""
        try:
            return serializer(request)
        except Exception as exc:
            self._fail_locally(_INTERNAL, SERIALIZE_REQUEST_FAILED, exc)
            return None

    def _error(self) -> BaseException:
        """The exception a non-OK (or locally cancelled) call raises to its awaiters."""
        if self._locally_cancelled:
            return asyncio.CancelledError()
        error = AioRpcError(
            code_from_int(self._code),  # type: ignore[arg-type]  # only once the status is set
            Metadata.from_tuple(self._initial_md),
            Metadata.from_tuple(self._trailing_md),
            self._details,
            self._debug_error,
        )
        if self._cause is not None:
            error.__cause__ = self._cause
        return error

    # -- waiting -----------------------------------------------------------------------

    def _new_waiter(self) -> asyncio.Future[None]:
        waiter = self._loop.create_future()
        if self._waiters is None:
            self._waiters = [waiter]
        else:
            self._waiters.append(waiter)
        return waiter

    def _wake_waiters(self) -> None:
        waiters = self._waiters
        if waiters is not None:
            self._waiters = None
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def _wait_done(self) -> None:
        while self._code is None:
            await self._new_waiter()

    async def _raise_for_status(self) -> None:
        await self._wait_done()
        if self._locally_cancelled or self._code != _OK:
            raise self._error()

    # -- public API --------------------------------------------------------------------

    def cancel(self) -> bool:
        """Cancels the RPC; True if it was still running. Awaiting it then raises CancelledError."""
        if self._code is not None:
            return False
        self._locally_cancelled = True
        self._fail_locally(_CANCELLED, LOCAL_CANCELLATION_DETAILS)
        return True

    def cancelled(self) -> bool:
        return self._code == _CANCELLED

    def done(self) -> bool:
        return self._code is not None

    def time_remaining(self) -> Optional[float]:
        """Seconds left before the deadline, or None without a deadline."""
        if self._deadline is None:
            return None
        return max(self._deadline - time.monotonic(), 0.0)

    def add_done_callback(self, callback: DoneCallbackType) -> None:
        """Calls ``callback(call)`` once the RPC ends (at once if it already has)."""
        if self._code is not None:
            callback(self)
        elif self._done_callbacks is None:
            self._done_callbacks = [callback]
        else:
            self._done_callbacks.append(callback)

    def remove_done_callback(self, callback: DoneCallbackType) -> None:
        if self._done_callbacks and callback in self._done_callbacks:
            self._done_callbacks.remove(callback)

    async def initial_metadata(self) -> Metadata:
        while self._initial_md is None and self._code is None:
            await self._new_waiter()
        return Metadata.from_tuple(self._initial_md)

    async def trailing_metadata(self) -> Metadata:
        await self._wait_done()
        return Metadata.from_tuple(self._trailing_md)

    async def code(self) -> StatusCode:
        await self._wait_done()
        return code_from_int(self._code)  # type: ignore[arg-type]  # set: the call is done

    async def details(self) -> str:
        await self._wait_done()
        return self._details

    async def debug_error_string(self) -> Optional[str]:
        await self._wait_done()
        return self._debug_error

    async def wait_for_connection(self) -> None:
        """Returns once the RPC runs on a connection (its channel READY) or has ended; raises
        the RPC's error (e.g. UNAVAILABLE when it could not connect) if it failed."""
        channel = self._channel
        while self._code is None:
            state = channel.get_state()
            if state is ChannelConnectivity.READY or state is ChannelConnectivity.SHUTDOWN:
                break
            ended = self._new_waiter()
            await asyncio.wait((ended, channel._state_change(state)),
                               return_when=asyncio.FIRST_COMPLETED)
        if self._code is not None:
            await self._raise_for_status()

    def __repr__(self) -> str:
        name = type(self).__name__
        if self._code is None:
            return f"<{name} object of in-flight RPC>"
        if self._code == _OK:
            return (
                f"<{name} of RPC that terminated with:\n"
                f"\tstatus = {code_from_int(self._code)}\n"
                f'\tdetails = "{self._details}"\n>'
            )
        return (
            f"<{name} of RPC that terminated with:\n"
            f"\tstatus = {code_from_int(self._code)}\n"
            f'\tdetails = "{self._details}"\n'
            f'\tdebug_error_string = "{self._debug_error}"\n>'
        )

    __str__ = __repr__


class UnaryUnaryCall(Call, Generic[RequestType, ResponseType]):
    """One request, one response: ``await`` it for the response.

    Example::

        call = stub.GetFeature(point, timeout=1.0)
        feature = await call           # raises AioRpcError on a non-OK status
    """

    __slots__ = ("_response",)

    _response: ResponseType

    def __init__(self, state: LoopState, channel: Channel, method: str, request: object,
                 serializer: Optional[SerializingFunction],
                 deserializer: Optional[MessageReader], timeout: Optional[float],
                 metadata: Sequence[MetadatumType], wait_for_ready: Optional[bool], compression: int,
                 awaits_metadata: bool = False) -> None:
        self._init_call(state.loop, channel, serializer, deserializer, timeout)
        self._response = None  # type: ignore[assignment]  # read only once the call ended OK
        if serializer is not None:
            request = self._serialized(serializer, request)
            if request is None:
                return
        # The unary fast path: one command now, one UNARY_DONE event later.
        self._call_id = _engine.unary_call(
            channel._channel_id, state.cq, method, metadata, request, timeout, wait_for_ready,
            compression, awaits_metadata,
        )
        state.calls[self._call_id] = self

    def _on_event(self, event: EngineEvent) -> None:
        if self._code is not None or event[0] != UNARY_DONE:
            return  # already ended locally; this is the engine confirming it
        _, _, code, details, initial, trailing, response, debug_error, compressed = event
        self._initial_md = initial
        self._last_compressed = compressed
        if code == _OK:
            deserializer = self._deserializer
            if response is None:
                code, details = _INTERNAL, "Server sent no response message"
            elif deserializer is not None:
                try:
                    response = deserializer(response)
                except Exception as exc:
                    self._cause = exc
                    code, details = _INTERNAL, DESERIALIZE_RESPONSE_FAILED
                    debug_error = f"{type(exc).__name__}: {exc}"
            self._response = response
        self._set_status(code, details, trailing, debug_error)

    def __await__(self) -> Generator[Any, None, ResponseType]:
        if self._code is None:
            waiter = self._new_waiter()
            try:
                yield from waiter
            except asyncio.CancelledError:
                # The awaiting task was cancelled: the RPC goes with it (as in grpc.aio).
                self.cancel()
                raise
        if self._code == _OK:
            return self._response
        raise self._error()


register_with_grpcio(RpcContext, "aio.RpcContext")
register_with_grpcio(Call, "aio.Call")
register_with_grpcio(UnaryUnaryCall, "aio.UnaryUnaryCall")
