"""The streaming half of intercepted calls (_intercepted_call.py): reading responses and
writing requests through the call the interceptors returned, as grpc.aio does.

* ``read()`` and ``async for`` draw from one iterator over that call (so they may be mixed);
  a response iterator an interceptor returned instead of a call is read through, with status
  and metadata from the last call made (StreamResponseCall).
* Without a request iterator from the caller, the interceptors get one fed by ``write()``:
  it holds one request at a time, as grpc.aio's queue of one, and ``done_writing()`` ends it.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterable, AsyncIterator, Callable, Generator
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Optional, Protocol, TypeVar, Union

from .._core._errors import UsageError
from .._core._grpcio import grpcio_bases
from .._core._status import StatusCode
from .._core._typing import DoneCallbackType, RequestIterableType, RequestType, ResponseType
from ._completion import settle
from ._rpc_error import EOF, AioRpcError
from ._stream_call import _ALREADY_FINISHED, _HALF_CLOSED, _MIXED_STYLES

if TYPE_CHECKING:
    from .._core._metadata import Metadata
    from ._intercepted_call import InterceptedCall
    from ._rpc_error import EOFType

__all__ = ["RPC_ERRORS", "Awaitable", "ReadsThrough", "StreamResponseCall", "WritesThrough"]

_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)

_CancelledError = asyncio.CancelledError
# What an interceptor may raise that carries a status (grpc.aio's AioRpcError is one too).
RPC_ERRORS: tuple[type[AioRpcError], ...] = (AioRpcError, *grpcio_bases("aio.AioRpcError"))

if TYPE_CHECKING:

    class CallLike(Protocol):
        """What an intercepted call uses of the call its interceptors returned: a call of ours,
        of grpc.aio's or of the interceptor's own, or a stand-in for what it returned instead
        (UnaryUnaryCallResponse, StreamResponseCall)."""

        def cancel(self) -> bool: ...
        def cancelled(self) -> bool: ...
        def done(self) -> bool: ...
        def add_done_callback(self, callback: DoneCallbackType) -> None: ...
        def time_remaining(self) -> Optional[float]: ...
        async def initial_metadata(self) -> Optional[Metadata]: ...
        async def trailing_metadata(self) -> Optional[Metadata]: ...
        async def code(self) -> StatusCode: ...
        async def details(self) -> Optional[str]: ...
        async def debug_error_string(self) -> Optional[str]: ...
        async def wait_for_connection(self) -> None: ...

    class AwaitableCall(CallLike, Protocol[_T_co]):
        """A call whose ``await`` gives its response (unary-unary, stream-unary)."""

        def __await__(self) -> Generator[Any, None, _T_co]: ...

    class IterableCall(CallLike, Protocol[_T_co]):
        """A call whose responses are read with ``async for`` (unary-stream, stream-stream)."""

        def __aiter__(self) -> AsyncIterator[_T_co]: ...

    # To the type checker, the mixins below are the intercepted calls they are mixed into.
    _MixedInto = InterceptedCall
else:
    _MixedInto = Generic


class Awaitable(Generic[_T]):
    """Makes a generator function awaitable: ``await Awaitable(f)`` runs ``f()``."""

    __slots__ = ("_generator",)

    def __init__(self, generator_function: Callable[[], Generator[Any, None, _T]]) -> None:
        self._generator = generator_function

    def __await__(self) -> Generator[Any, None, _T]:
        return self._generator()


class StreamResponseCall(Generic[ResponseType]):
    """The call standing for a response iterator an interceptor returned instead of a call:
    responses come from the iterator, everything else from the last call made (when there is
    none, it reads as a finished OK call)."""

    __slots__ = ("_call", "_responses")

    def __init__(self, call: Optional[CallLike],
                 responses: AsyncIterable[ResponseType]) -> None:
        self._call = call
        self._responses = responses

    def cancel(self) -> bool:
        return False if self._call is None else self._call.cancel()

    def cancelled(self) -> bool:
        return False if self._call is None else self._call.cancelled()

    def done(self) -> bool:
        return True if self._call is None else self._call.done()

    def add_done_callback(self, callback: DoneCallbackType) -> None:
        if self._call is None:
            callback(self)
        else:
            self._call.add_done_callback(callback)

    def time_remaining(self) -> Optional[float]:
        return None if self._call is None else self._call.time_remaining()

    async def initial_metadata(self) -> Optional[Metadata]:
        return None if self._call is None else await self._call.initial_metadata()

    async def trailing_metadata(self) -> Optional[Metadata]:
        return None if self._call is None else await self._call.trailing_metadata()

    async def code(self) -> StatusCode:
        return StatusCode.OK if self._call is None else await self._call.code()

    async def details(self) -> Optional[str]:
        return "" if self._call is None else await self._call.details()

    async def debug_error_string(self) -> Optional[str]:
        return None if self._call is None else await self._call.debug_error_string()

    async def wait_for_connection(self) -> None:
        if self._call is not None:
            await self._call.wait_for_connection()

    def __aiter__(self) -> AsyncIterator[ResponseType]:
        return self._responses.__aiter__()


class ReadsThrough(_MixedInto[RequestType, ResponseType]):
    """``async for`` / ``read()`` on an intercepted call: both draw from one iterator over the
    call the interceptors returned (so, as in grpc.aio, they may be mixed)."""

    # Hidden from the type checker: the slots this sets are those of the classes it is mixed
    # into, which it cannot know here.
    if not TYPE_CHECKING:
        __slots__ = ()

    _last: Optional[CallLike]  # the call the last continuation made, or the last returned
    _responses: Optional[AsyncIterator[ResponseType]]
    # What counts as a call when an interceptor returns (anything else is a response stream).
    _stream_calls: ClassVar[tuple[type[IterableCall[Any]], ...]]

    if TYPE_CHECKING:
        _call: Optional[IterableCall[ResponseType]]

        def _chain_call(self) -> Generator[Any, None, IterableCall[ResponseType]]: ...

    def _init_responses(self) -> None:
        self._last = None
        self._responses = None

    def _returned(self, result: Union[IterableCall[ResponseType], AsyncIterable[ResponseType]]
                  ) -> IterableCall[ResponseType]:
        if not isinstance(result, self._stream_calls):
            result = StreamResponseCall(self._last, result)
        self._last = result
        return result

    async def _read_through(self) -> AsyncIterator[ResponseType]:
        call = await Awaitable(self._chain_call)
        async for response in call:
            yield response

    def __aiter__(self) -> AsyncIterator[ResponseType]:
        if self._responses is None:
            self._responses = self._read_through()
        return self._responses

    async def read(self) -> Union[EOFType, ResponseType]:
        """The next response, or ``EOF`` once the stream ended (raises on a non-OK status)."""
        if self._responses is None:
            self._responses = self._read_through()
        try:
            return await self._responses.__anext__()
        except StopAsyncIteration:
            return EOF


# -- request streams written with write() -------------------------------------------------

_NOTHING = object()
_END = object()


class _WrittenRequests(Generic[RequestType]):
    """The request iterator the interceptors get when the caller writes with ``write()``.

    Holds one request at a time, as grpc.aio's queue of one: a ``write()`` returns once its
    request is held, and the next waits until the call takes it (or ends).
    """

    __slots__ = ("_loop", "_held", "_getters", "_putter", "_watched")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._held: Any = _NOTHING  # the request held (any message), _NOTHING or _END
        self._getters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._putter: Optional[asyncio.Future[None]] = None
        self._watched: Optional[CallLike] = None

    def __aiter__(self) -> _WrittenRequests[RequestType]:
        return self

    async def __anext__(self) -> RequestType:
        while self._held is _NOTHING:
            getter = self._loop.create_future()
            self._getters.append(getter)
            try:
                await getter
            except _CancelledError:
                if getter.done() and not getter.cancelled():
                    self._wake_getter()  # it was this one's turn: pass it on
                raise
        item: RequestType = self._held
        if item is _END:
            raise StopAsyncIteration  # the end stays held: every reader stops
        self._held = _NOTHING
        settle(self._putter, None)
        return item

    def _wake_getter(self) -> None:
        getters = self._getters
        while getters:
            getter = getters.popleft()
            if not getter.done():
                getter.set_result(None)
                return

    def _call_ended(self, _call: object) -> None:
        settle(self._putter, None)

    async def put(self, item: object, call: CallLike) -> bool:
        """Holds ``item`` for the call to take; waits while another is held, unless ``call``
        ends (False then)."""
        while self._held is not _NOTHING:
            if call.done():
                return False
            if self._watched is not call:
                self._watched = call
                call.add_done_callback(self._call_ended)
            putter = self._putter = self._loop.create_future()
            try:
                await putter
            finally:
                self._putter = None
        self._held = item
        self._wake_getter()
        return True


class WritesThrough(_MixedInto[RequestType, ResponseType]):
    """``write()`` / ``done_writing()`` on an intercepted call (grpc.aio's semantics): the
    requests reach the call the interceptors returned through the iterator they were given."""

    # Hidden from the type checker: the slots this sets are those of the classes it is mixed
    # into, which it cannot know here.
    if not TYPE_CHECKING:
        __slots__ = ()

    _requests: Optional[_WrittenRequests[RequestType]]  # None: the caller gave an iterator
    _writes_done: bool

    def _init_requests(self, loop: asyncio.AbstractEventLoop,
                       request_iterator: Optional[RequestIterableType]) -> RequestIterableType:
        self._writes_done = False
        if request_iterator is None:
            self._requests = _WrittenRequests(loop)
            return self._requests
        self._requests = None
        return request_iterator

    async def write(self, request: RequestType) -> None:
        """Sends one request: returns once it is handed over (held for the call, as grpc.aio
        queues one), or raises InvalidStateError once the call has ended."""
        requests = self._requests
        if requests is None:
            raise UsageError(_MIXED_STYLES)
        call, error = await self._outcome()
        if call is None:
            if isinstance(error, (_CancelledError, *RPC_ERRORS)):
                raise asyncio.InvalidStateError(_ALREADY_FINISHED)
            raise error  # type: ignore[misc]  # not None: no call
        if call.done():
            raise asyncio.InvalidStateError(_ALREADY_FINISHED)
        if self._writes_done:
            raise asyncio.InvalidStateError(_HALF_CLOSED)
        await requests.put(request, call)
        if call.done():
            raise asyncio.InvalidStateError(_ALREADY_FINISHED)

    async def done_writing(self) -> None:
        """Tells the server no more requests come (idempotent)."""
        requests = self._requests
        if requests is None:
            raise UsageError(_MIXED_STYLES)
        call, error = await self._outcome()
        if call is None:
            if isinstance(error, _CancelledError):
                raise asyncio.InvalidStateError(_ALREADY_FINISHED)
            raise error  # type: ignore[misc]  # not None: no call
        if not self._writes_done:
            self._writes_done = True
            await requests.put(_END, call)
