"""Client calls with a request stream, a response stream, or both.

Responses are read on demand: ``_engine.read`` is asked only when the local buffer is empty,
and answers with every message the engine holds (also pushed unasked before FINISHED; all
are kept). Writes run ahead of their WRITE_DONEs by a bounded window (_write_window),
so a writer never runs far ahead of HTTP/2 flow control. The loop's call table holds these calls weakly while nobody waits on them, so a
dropped call is cancelled by garbage collection, as in grpc.aio.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import weakref
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any, Generic, Optional, Union

from .. import _engine
from .._core._errors import UsageError
from .._core._events import FINISHED, INITIAL_METADATA, MESSAGE, WRITE_DONE
from .._core._grpcio import register_with_grpcio
from .._core._message_reader import as_bytes
from .._core._typing import (
    MetadatumType, RequestIterableType, RequestType, ResponseType, SerializingFunction,
)
from .._core._write_window import WriteWindow
from ._call import (
    DESERIALIZE_RESPONSE_FAILED, GC_CANCELLATION_DETAILS, Call, RawMetadata,
)
from ._completion import settle
from ._rpc_error import EOF, AioRpcError

if TYPE_CHECKING:
    from .._core._events import EngineEvent
    from .._core._message_reader import MessageReader, RawMessage
    from ._channel import Channel
    from ._completion import LoopState
    from ._rpc_error import EOFType

__all__ = ["UnaryStreamCall", "StreamUnaryCall", "StreamStreamCall"]

_LOGGER = logging.getLogger("turbogrpc.aio")

_OK, _CANCELLED, _UNKNOWN, _INTERNAL = 0, 1, 2, 13
_ALREADY_FINISHED = "RPC already finished."
_HALF_CLOSED = 'RPC is half closed after calling "done_writing".'
_MIXED_STYLES = "The iterator and read/write APIs may not be mixed on a single RPC."
_ITERATOR_FAILED = "Exception iterating requests!"


class _WeakEntry:
    """The call table's entry for a streaming call: weak while idle, strong while awaited."""

    __slots__ = ("ref", "strong")

    def __init__(self, call: _StreamingCall[Any, Any]) -> None:
        self.ref = weakref.ref(call)
        self.strong: Optional[_StreamingCall[Any, Any]] = None

    def get(self) -> Optional[_StreamingCall[Any, Any]]:
        return self.ref()

    def _on_event(self, event: EngineEvent) -> None:
        call = self.ref()
        if call is not None:
            call._on_event(event)


class _StreamingCall(Call, Generic[RequestType, ResponseType]):
    __slots__ = (
        "_entry", "_messages", "_compressed_flags", "_reads_pending", "_response_ended", "_read_waiter",
        "_write_waiter", "_writes_closed", "_response_style", "_request_task",
        "_iterating_requests", "_writes",
    )

    _entry: _WeakEntry
    _messages: collections.deque[RawMessage]
    _compressed_flags: collections.deque[bool]
    _reads_pending: int
    _response_ended: bool
    _read_waiter: Optional[asyncio.Future[None]]
    _write_waiter: Optional[asyncio.Future[bool]]  # resolves to whether the write went out
    _writes_closed: bool
    _response_style: Optional[str]
    _request_task: Optional[asyncio.Task[None]]
    _iterating_requests: bool
    _writes: WriteWindow

    def _init_stream(self, loop: asyncio.AbstractEventLoop, channel: Channel,
                     serializer: Optional[SerializingFunction],
                     deserializer: Optional[MessageReader], timeout: Optional[float]) -> None:
        self._init_call(loop, channel, serializer, deserializer, timeout)
        self._entry = _WeakEntry(self)
        self._messages = collections.deque()
        self._compressed_flags = collections.deque()  # one per held message
        self._reads_pending = 0
        self._response_ended = False
        self._read_waiter = None
        self._write_waiter = None
        self._writes_closed = False
        self._response_style = None
        self._request_task = None
        self._iterating_requests = False
        self._writes = WriteWindow()

    def _start(self, state: LoopState, method: str, timeout: Optional[float],
               metadata: Sequence[MetadatumType], wait_for_ready: Optional[bool], compression: int,
               awaits_metadata: bool) -> None:
        self._call_id = _engine.stream_call(
            self._channel._channel_id, state.cq, method, metadata, timeout, wait_for_ready,
            compression, awaits_metadata,
        )
        state.calls[self._call_id] = self._entry

    def __del__(self) -> None:
        if getattr(self, "_code", 0) is None and self._call_id:
            try:
                _engine.cancel(self._call_id, _CANCELLED, GC_CANCELLATION_DETAILS)
            except Exception:
                pass

    # Keep the call alive while a future of ours is pending: the engine's event is what
    # resolves it, and the table only holds the call weakly.
    def _new_waiter(self) -> asyncio.Future[None]:
        self._entry.strong = self
        return super()._new_waiter()

    def _on_event(self, event: EngineEvent) -> None:
        kind = event[0]
        if kind == MESSAGE:
            if self._reads_pending:
                self._reads_pending -= 1
            message = event[2]
            if message is None:
                self._response_ended = True
            else:
                self._messages.append(message)
                self._compressed_flags.append(event[3])
            self._wake_reader()
        elif kind == WRITE_DONE:
            if self._writes.acked(event[2]):
                waiter, self._write_waiter = self._write_waiter, None
                settle(waiter, event[2])
        elif kind == INITIAL_METADATA:
            self._initial_md = event[2]
            self._wake_waiters()
        elif kind == FINISHED:
            _, _, code, details, trailing, initial, debug_error = event
            if self._initial_md is None:
                self._initial_md = initial if initial is not None else ()
            if self._code is None:
                self._set_status(code, details, trailing, debug_error)
        if self._waiters is None and self._read_waiter is None and self._write_waiter is None:
            self._entry.strong = None

    def _set_status(self, code: int, details: str, trailing: RawMetadata,
                    debug_error: Optional[str]) -> None:
        super()._set_status(code, details, trailing, debug_error)
        self._wake_reader()
        # A WRITE_DONE owed at the end never comes: fail the write here.
        waiter, self._write_waiter = self._write_waiter, None
        settle(waiter, False)
        task = self._request_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()  # nothing more can be sent; stop pulling from the user's iterator
        self._entry.strong = None

    def _wake_reader(self) -> None:
        waiter, self._read_waiter = self._read_waiter, None
        settle(waiter, None)

    def cancel(self) -> bool:
        task = self._request_task
        if super().cancel():
            if task is not None and not task.done():
                task.cancel()
            return True
        return False

    # -- responses ---------------------------------------------------------------------

    def _deserialize(self, raw: RawMessage) -> ResponseType:
        deserializer: Optional[Callable[[RawMessage], ResponseType]] = self._deserializer
        if deserializer is None:
            return as_bytes(raw)  # type: ignore[return-value]  # no deserializer: bytes
        try:
            return deserializer(raw)
        except Exception as exc:
            if self._code is None:
                self._fail_locally(_INTERNAL, DESERIALIZE_RESPONSE_FAILED, exc)
            else:  # ended OK, but a response it delivered is unusable: the status says so now
                self._code, self._details, self._cause = _INTERNAL, DESERIALIZE_RESPONSE_FAILED, exc
                self._debug_error = f"{type(exc).__name__}: {exc}"
            raise self._error() from exc

    async def _read(self) -> Union[EOFType, ResponseType]:
        while True:
            if self._locally_cancelled:
                raise asyncio.CancelledError()
            if self._messages:
                self._last_compressed = self._compressed_flags.popleft()
                return self._deserialize(self._messages.popleft())
            if self._response_ended or self._code is not None:
                await self._raise_for_status()
                return EOF
            if self._read_waiter is not None:
                raise UsageError("another read() is already waiting on this call")
            if not self._reads_pending:
                self._reads_pending = 1
                _engine.read(self._call_id)
            self._entry.strong = self
            waiter = self._read_waiter = self._loop.create_future()
            try:
                await waiter
            except asyncio.CancelledError:
                self._read_waiter = None
                self.cancel()
                raise

    def _use_response_style(self, style: str) -> None:
        if self._response_style is None:
            self._response_style = style
        elif self._response_style != style:
            raise UsageError(_MIXED_STYLES)

    # -- requests ----------------------------------------------------------------------

    async def _write(self, request: Any, compress: bool = True) -> None:
        if self._code is not None:
            raise asyncio.InvalidStateError(_ALREADY_FINISHED)
        if self._writes_closed:
            raise asyncio.InvalidStateError(_HALF_CLOSED)
        if self._write_waiter is not None:
            raise UsageError("another write() is still in progress on this call")
        if self._serializer is not None:
            request = self._serialized(self._serializer, request)
            if request is None:
                raise self._error() from self._cause
        _engine.send_message(self._call_id, request, False, compress, 0,
                             self._writes.would_wait(len(request)))
        if not self._writes.sent(len(request)):
            return
        self._entry.strong = self
        waiter = self._write_waiter = self._loop.create_future()
        try:
            accepted = await waiter
        except asyncio.CancelledError:
            self._write_waiter = None
            self.cancel()
            raise
        if not accepted:
            await self._raise_for_status()
            raise asyncio.InvalidStateError(_ALREADY_FINISHED)

    async def _done_writing(self) -> None:
        if self._code is None and not self._writes_closed:
            self._writes_closed = True
            _engine.half_close(self._call_id)

    def _consume(self, request_iterator: Optional[RequestIterableType]) -> None:
        if request_iterator is not None:
            self._iterating_requests = True
            self._request_task = self._loop.create_task(self._send_requests(request_iterator))

    async def _send_requests(self, request_iterator: RequestIterableType) -> None:
        try:
            if hasattr(request_iterator, "__aiter__"):
                async for request in request_iterator:
                    await self._write(request)
            else:
                for request in request_iterator:
                    await self._write(request)
            await self._done_writing()
        except (AioRpcError, asyncio.InvalidStateError, asyncio.CancelledError):
            pass  # the call has ended; its status says why
        except Exception as exc:
            _LOGGER.debug("turbogrpc: request iterator raised", exc_info=True)
            self._fail_locally(_UNKNOWN, _ITERATOR_FAILED, exc)
        finally:
            self._request_task = None

    def _check_request_style(self) -> None:
        if self._iterating_requests:
            raise UsageError(_MIXED_STYLES)


class _ReadsResponses(_StreamingCall[RequestType, ResponseType]):
    __slots__ = ()

    def __aiter__(self) -> AsyncIterator[ResponseType]:
        self._use_response_style("iterator")
        return self

    async def __anext__(self) -> ResponseType:
        message = await self._read()
        if message is EOF:
            raise StopAsyncIteration
        return message  # type: ignore[return-value]  # not EOF (checked above)

    async def read(self) -> Union[EOFType, ResponseType]:
        """The next response, or ``EOF`` once the stream ended (raises on a non-OK status)."""
        if self._code is not None and not self._messages:
            await self._raise_for_status()
            return EOF
        self._use_response_style("reader")
        return await self._read()


class _WritesRequests(_StreamingCall[RequestType, ResponseType]):
    __slots__ = ()

    async def write(self, request: RequestType, *, compress: bool = True) -> None:
        """Sends one request; returns once the engine accepted it (flow control).

        ``compress=False`` (a turbogrpc extension) sends this one request uncompressed even
        when the call has a compression algorithm.
        """
        self._check_request_style()
        await self._write(request, compress)

    async def done_writing(self) -> None:
        """Tells the server no more requests come (idempotent)."""
        self._check_request_style()
        await self._done_writing()


class UnaryStreamCall(_ReadsResponses[RequestType, ResponseType]):
    """One request, a stream of responses: ``async for`` over it, or ``read()`` until EOF.

    Example::

        async for feature in stub.ListFeatures(rectangle):
            print(feature)
    """

    __slots__ = ()

    def __init__(self, state: LoopState, channel: Channel, method: str, request: object,
                 serializer: Optional[SerializingFunction],
                 deserializer: Optional[MessageReader], timeout: Optional[float],
                 metadata: Sequence[MetadatumType], wait_for_ready: Optional[bool], compression: int,
                 awaits_metadata: bool = False) -> None:
        self._init_stream(state.loop, channel, None, deserializer, timeout)
        self._writes_closed = True
        if serializer is not None:
            request = self._serialized(serializer, request)
            if request is None:
                return
        self._start(state, method, timeout, metadata, wait_for_ready, compression,
                    awaits_metadata)
        _engine.send_message(self._call_id, request, True, ack_wakes=False)  # nobody waits on it


class StreamUnaryCall(_WritesRequests[RequestType, ResponseType]):
    """A stream of requests, one response: pass an iterator, or ``write()`` then ``await``.

    Example::

        summary = await stub.RecordRoute(iter(points))

        call = stub.RecordRoute()
        for point in points:
            await call.write(point)
        await call.done_writing()
        summary = await call
    """

    __slots__ = ()

    def __init__(self, state: LoopState, channel: Channel, method: str,
                 request_iterator: Optional[RequestIterableType],
                 serializer: Optional[SerializingFunction],
                 deserializer: Optional[MessageReader], timeout: Optional[float],
                 metadata: Sequence[MetadatumType], wait_for_ready: Optional[bool], compression: int,
                 awaits_metadata: bool = False) -> None:
        self._init_stream(state.loop, channel, serializer, deserializer, timeout)
        self._start(state, method, timeout, metadata, wait_for_ready, compression,
                    awaits_metadata)
        self._reads_pending = 1  # ask for the single response at once
        _engine.read(self._call_id)
        self._consume(request_iterator)

    def __await__(self) -> Generator[Any, None, ResponseType]:
        if self._code is None:
            try:
                yield from self._wait_done().__await__()
            except asyncio.CancelledError:
                self.cancel()
                raise
        if self._locally_cancelled or self._code != _OK:
            raise self._error()
        if not self._messages:
            self._code, self._details = _INTERNAL, "Server sent no response message"
            raise self._error()
        self._last_compressed = self._compressed_flags[0]
        return self._deserialize(self._messages[0])


class StreamStreamCall(_ReadsResponses[RequestType, ResponseType],
                       _WritesRequests[RequestType, ResponseType]):
    """Streams both ways: iterate responses while an iterator (or ``write()``) sends requests.

    Example::

        call = stub.RouteChat()
        await call.write(note)
        reply = await call.read()
        await call.done_writing()
    """

    __slots__ = ()

    def __init__(self, state: LoopState, channel: Channel, method: str,
                 request_iterator: Optional[RequestIterableType],
                 serializer: Optional[SerializingFunction],
                 deserializer: Optional[MessageReader], timeout: Optional[float],
                 metadata: Sequence[MetadatumType], wait_for_ready: Optional[bool], compression: int,
                 awaits_metadata: bool = False) -> None:
        self._init_stream(state.loop, channel, serializer, deserializer, timeout)
        self._start(state, method, timeout, metadata, wait_for_ready, compression,
                    awaits_metadata)
        self._consume(request_iterator)


register_with_grpcio(UnaryStreamCall, "aio.UnaryStreamCall")
register_with_grpcio(StreamUnaryCall, "aio.StreamUnaryCall")
register_with_grpcio(StreamStreamCall, "aio.StreamStreamCall")
