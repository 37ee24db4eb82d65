"""Calls that run through client interceptors: what a channel made with ``interceptors=`` returns.

grpc.aio's semantics (its ``aio/_interceptor.py``), per call:

* the interceptors of the call's kind run in order, the first outermost, each reaching the next
  (and, after the last, the RPC) through ``continuation(details, request)``; running that chain
  is _interceptor_chain.py's;
* what the outermost interceptor returns is the call the caller sees through this object.
  A unary response returned instead of a call becomes a finished call whose await gives it
  (UnaryUnaryCallResponse); a response stream returned instead of a call (an async iterator)
  is read through, with the status and metadata of the last call made (_intercepted_streams.py);
* what an interceptor raises, or its cancellation, is the call's outcome: ``await`` raises
  it, ``code()`` gives its status (CANCELLED when cancelled), done callbacks run.

InterceptedCall holds what every shape offers; the four shapes add ``await`` (unary responses)
or reading and writing through the call returned (the mixins of _intercepted_streams.py).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Generic, Optional

from .._core._grpcio import grpcio_bases
from .._core._status import StatusCode
from .._core._typing import (
    DoneCallbackType, MetadataType, RequestIterableType, RequestType, ResponseType,
)
from ._call import LOCAL_CANCELLATION_DETAILS, UnaryUnaryCall
from ._intercepted_streams import (
    RPC_ERRORS, Awaitable, ReadsThrough, StreamResponseCall, WritesThrough,
)
from ._interceptor_chain import InterceptorChain, _relay
from ._stream_call import StreamStreamCall, StreamUnaryCall, UnaryStreamCall

if TYPE_CHECKING:
    from .._core._credentials import CallCredentials
    from .._core._metadata import Metadata
    from ._completion import LoopState
    from ._intercepted_streams import AwaitableCall
    from ._interceptor_chain import _Multicallable

__all__ = [
    "InterceptedCall", "InterceptedUnaryUnaryCall", "InterceptedUnaryStreamCall",
    "InterceptedStreamUnaryCall", "InterceptedStreamStreamCall", "UnaryUnaryCallResponse",
]

_monotonic = time.monotonic
_CancelledError = asyncio.CancelledError


class InterceptedCall(InterceptorChain[RequestType, ResponseType]):
    """What every intercepted call offers, in front of the call its interceptors returned.

    Example::

        channel = aio.insecure_channel(target, interceptors=[Retry()])
        call = stub.GetFeature(point)          # an InterceptedUnaryUnaryCall
        call.add_done_callback(lambda c: print("done", c))
        feature = await call
        print(await call.code(), await call.trailing_metadata())
    """

    __slots__ = ()  # InterceptorChain's

    # -- public API --------------------------------------------------------------------

    def cancel(self) -> bool:
        """Cancels the interceptors if they are still running, else the call they returned."""
        if not self._finished():
            return self._task.cancel()  # type: ignore[union-attr]  # running: a Task
        call = self._call
        return False if call is None else call.cancel()

    def cancelled(self) -> bool:
        if not self._finished():
            return False
        call = self._call
        if call is not None:
            return call.cancelled()
        error = self._error
        if isinstance(error, _CancelledError):
            return True
        return isinstance(error, RPC_ERRORS) and error.code() == StatusCode.CANCELLED

    def done(self) -> bool:
        if not self._finished():
            return False
        call = self._call
        return call is None or call.done()

    def add_done_callback(self, callback: DoneCallbackType) -> None:
        """Calls ``callback(this intercepted call)`` once it is done (at once if it is)."""
        if not self._finished():
            if self._pending_callbacks is None:
                self._pending_callbacks = [callback]
            else:
                self._pending_callbacks.append(callback)
            return
        call = self._call
        if call is None or call.done():
            callback(self)
        else:
            call.add_done_callback(functools.partial(_relay, callback, self))

    def time_remaining(self) -> Optional[float]:
        """Seconds left before the deadline of the call the interceptors returned (while
        they run: of the caller's timeout); None without one.

        grpc.aio raises NotImplementedError here for every intercepted call.
        """
        call = self._call if self._finished() else None
        if call is not None:
            try:
                return call.time_remaining()
            except NotImplementedError:
                pass
        if self._deadline is None:
            return None
        return max(self._deadline - _monotonic(), 0.0)

    async def initial_metadata(self) -> Optional[Metadata]:
        call, error = await self._outcome()
        if call is not None:
            return await call.initial_metadata()
        if isinstance(error, RPC_ERRORS):
            return error.initial_metadata()
        if isinstance(error, _CancelledError):
            return None
        raise error  # type: ignore[misc]  # not None: no call

    async def trailing_metadata(self) -> Optional[Metadata]:
        call, error = await self._outcome()
        if call is not None:
            return await call.trailing_metadata()
        if isinstance(error, RPC_ERRORS):
            return error.trailing_metadata()
        if isinstance(error, _CancelledError):
            return None
        raise error  # type: ignore[misc]  # not None: no call

    async def code(self) -> StatusCode:
        call, error = await self._outcome()
        if call is not None:
            return await call.code()
        if isinstance(error, RPC_ERRORS):
            return error.code()
        if isinstance(error, _CancelledError):
            return StatusCode.CANCELLED
        raise error  # type: ignore[misc]  # not None: no call

    async def details(self) -> Optional[str]:
        call, error = await self._outcome()
        if call is not None:
            return await call.details()
        if isinstance(error, RPC_ERRORS):
            return error.details()
        if isinstance(error, _CancelledError):
            return LOCAL_CANCELLATION_DETAILS
        raise error  # type: ignore[misc]  # not None: no call

    async def debug_error_string(self) -> Optional[str]:
        call, error = await self._outcome()
        if call is not None:
            return await call.debug_error_string()
        if isinstance(error, RPC_ERRORS):
            return error.debug_error_string()
        if isinstance(error, _CancelledError):
            return ""
        raise error  # type: ignore[misc]  # not None: no call

    async def wait_for_connection(self) -> None:
        call = await Awaitable(self._chain_call)
        await call.wait_for_connection()

    def last_response_compressed(self) -> bool:
        """As ``Call.last_response_compressed()``, of the call the interceptors returned."""
        call = self._call if self._finished() else None
        method = getattr(call, "last_response_compressed", None)
        return bool(method()) if method is not None else False

    def __repr__(self) -> str:
        if not self._finished():
            return f"<{type(self).__name__} with its interceptors running>"
        if self._call is not None:
            return f"<{type(self).__name__} of {self._call!r}>"
        return f"<{type(self).__name__} whose interceptors raised {self._error!r}>"

    __str__ = __repr__


# -- unary responses ---------------------------------------------------------------------

class UnaryUnaryCallResponse(Generic[ResponseType]):
    """The finished call standing for a response an interceptor returned instead of a call.

    ``await`` gives the response; status OK, details "", metadata None (grpc.aio's values).
    """

    __slots__ = ("_response",)

    def __init__(self, response: ResponseType) -> None:
        self._response = response

    def cancel(self) -> bool:
        return False

    def cancelled(self) -> bool:
        return False

    def done(self) -> bool:
        return True

    def add_done_callback(self, callback: DoneCallbackType) -> None:
        callback(self)

    def time_remaining(self) -> Optional[float]:
        return None

    async def initial_metadata(self) -> Optional[Metadata]:
        return None

    async def trailing_metadata(self) -> Optional[Metadata]:
        return None

    async def code(self) -> StatusCode:
        return StatusCode.OK

    async def details(self) -> str:
        return ""

    async def debug_error_string(self) -> Optional[str]:
        return None

    async def wait_for_connection(self) -> None:
        return None

    def __await__(self) -> Generator[Any, None, ResponseType]:
        return self._response
        yield  # noqa: unreachable - makes this a generator, as __await__ must be

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._response!r}>"


class _AwaitsResponse(InterceptedCall[RequestType, ResponseType]):
    """``await`` on an intercepted unary-response call: the response of the call returned."""

    __slots__ = ()

    if TYPE_CHECKING:
        _call: Optional[AwaitableCall[ResponseType]]

        def _chain_call(self) -> Generator[Any, None, AwaitableCall[ResponseType]]: ...

    def __await__(self) -> Generator[Any, None, ResponseType]:
        call = self._call
        if call is not None:
            return call.__await__()
        return self._await_chain()

    def _await_chain(self) -> Generator[Any, None, ResponseType]:
        call = yield from self._chain_call()
        return (yield from call.__await__())


# -- the four shapes -----------------------------------------------------------------------

_GRPC_CALLS = {name: grpcio_bases(f"aio.{name}") for name in (
    "UnaryUnaryCall", "UnaryStreamCall", "StreamUnaryCall", "StreamStreamCall")}


class InterceptedUnaryUnaryCall(_AwaitsResponse[RequestType, ResponseType],
                                InterceptedCall[RequestType, ResponseType]):
    """A unary-unary call run through interceptors: ``await`` it for the response."""

    __slots__ = ()
    _call_class = UnaryUnaryCall

    def _returned(self, result: Any) -> AwaitableCall[ResponseType]:
        if isinstance(result, _UNARY_UNARY_CALLS):
            return result
        return UnaryUnaryCallResponse(result)


class InterceptedUnaryStreamCall(ReadsThrough[RequestType, ResponseType],
                                 InterceptedCall[RequestType, ResponseType]):
    """A unary-stream call run through interceptors: ``async for`` over it, or ``read()``."""

    __slots__ = ("_last", "_responses")
    _call_class = UnaryStreamCall
    _keeps_last = True

    def _run_chain(self, multicallable: _Multicallable[RequestType, ResponseType],
                   state: LoopState, request: RequestType, timeout: Optional[float],
                   metadata: Optional[MetadataType], credentials: Optional[CallCredentials],
                   wait_for_ready: Optional[bool], compression: int) -> None:
        self._init_responses()
        InterceptedCall._run_chain(self, multicallable, state, request, timeout, metadata,
                                   credentials, wait_for_ready, compression)


class InterceptedStreamUnaryCall(_AwaitsResponse[RequestType, ResponseType],
                                 WritesThrough[RequestType, ResponseType],
                                 InterceptedCall[RequestType, ResponseType]):
    """A stream-unary call run through interceptors: pass an iterator, or ``write()`` then
    ``await`` it."""

    __slots__ = ("_requests", "_writes_done")
    _call_class = StreamUnaryCall

    def _run_chain(self, multicallable: _Multicallable[RequestType, ResponseType],
                   state: LoopState, request_iterator: Optional[RequestIterableType],
                   timeout: Optional[float], metadata: Optional[MetadataType],
                   credentials: Optional[CallCredentials], wait_for_ready: Optional[bool],
                   compression: int) -> None:
        request_iterator = self._init_requests(state.loop, request_iterator)
        InterceptedCall._run_chain(self, multicallable, state, request_iterator, timeout,
                                   metadata, credentials, wait_for_ready, compression)

    def _returned(self, result: Any) -> AwaitableCall[ResponseType]:
        # grpc.aio passes on whatever comes back; a plain response fails at ``await`` there.
        # Here it is a finished call giving that response, as for unary-unary.
        if isinstance(result, _STREAM_UNARY_CALLS):
            return result
        return UnaryUnaryCallResponse(result)


class InterceptedStreamStreamCall(ReadsThrough[RequestType, ResponseType],
                                  WritesThrough[RequestType, ResponseType],
                                  InterceptedCall[RequestType, ResponseType]):
    """A stream-stream call run through interceptors: ``write()``/``read()``, ``async for``."""

    __slots__ = ("_last", "_responses", "_requests", "_writes_done")
    _call_class = StreamStreamCall
    _keeps_last = True

    def _run_chain(self, multicallable: _Multicallable[RequestType, ResponseType],
                   state: LoopState, request_iterator: Optional[RequestIterableType],
                   timeout: Optional[float], metadata: Optional[MetadataType],
                   credentials: Optional[CallCredentials], wait_for_ready: Optional[bool],
                   compression: int) -> None:
        self._init_responses()
        request_iterator = self._init_requests(state.loop, request_iterator)
        InterceptedCall._run_chain(self, multicallable, state, request_iterator, timeout,
                                   metadata, credentials, wait_for_ready, compression)


# What counts as "a call" when an interceptor returns: ours first (the common case).
_UNARY_UNARY_CALLS: tuple[type[AwaitableCall[Any]], ...] = (
    UnaryUnaryCall, InterceptedUnaryUnaryCall, UnaryUnaryCallResponse,
    *_GRPC_CALLS["UnaryUnaryCall"])
_STREAM_UNARY_CALLS: tuple[type[AwaitableCall[Any]], ...] = (
    StreamUnaryCall, InterceptedStreamUnaryCall, UnaryUnaryCallResponse,
    *_GRPC_CALLS["StreamUnaryCall"])
InterceptedUnaryStreamCall._stream_calls = (
    UnaryStreamCall, InterceptedUnaryStreamCall, StreamResponseCall,
    *_GRPC_CALLS["UnaryStreamCall"])
InterceptedStreamStreamCall._stream_calls = (
    StreamStreamCall, InterceptedStreamStreamCall, StreamResponseCall,
    *_GRPC_CALLS["StreamStreamCall"])

# As in grpc.aio, an intercepted call is a UnaryUnaryCall etc.: isinstance() says so for
# grpc.aio's abstract classes and for ours.
for _cls, _kind in ((InterceptedUnaryUnaryCall, UnaryUnaryCall),
                    (UnaryUnaryCallResponse, UnaryUnaryCall),
                    (InterceptedUnaryStreamCall, UnaryStreamCall),
                    (InterceptedStreamUnaryCall, StreamUnaryCall),
                    (InterceptedStreamStreamCall, StreamStreamCall)):
    for _abstract in (_kind, *grpcio_bases(f"aio.{_kind.__name__}")):
        if hasattr(_abstract, "register"):
            _abstract.register(_cls)
del _cls, _kind, _abstract
