"""``intercept_channel``: grpcio's blocking client interceptors, over any blocking channel.

The layering is grpcio's (its ``grpc/_interceptor.py``), because what an interceptor sees
depends on it: each interceptor wraps the channel below it in a layer of its own, the first
given outermost, so ``intercept_channel(intercept_channel(ch, b), a)`` is
``intercept_channel(ch, a, b)``. A layer's multicallable runs its interceptor for the shapes
the interceptor implements and is the channel-below's own for the others. One call::

    caller → a.intercept_*(continuation, details, request)
           → continuation(details', request) → the layer below (b, then the channel)

``continuation`` takes the channel-below's multicallable for the method the details name (an
interceptor may change it, and any other option) and calls it with the details' options:
``with_call`` for a blocking unary response, ``future`` for ``future()``, the call itself for
a response stream. What comes back and what is raised where (grpcio's rules):

* blocking unary response (``__call__``, ``with_call``): continuation never raises, it returns
  the outcome (_client_interceptor.py); the caller gets ``outcome.result()`` (so the RPC's
  error is raised to it) and, from ``with_call``, the outcome as the call. What the
  interceptor raises reaches the caller as it is;
* ``future()`` and response streams: continuation returns the channel's future or call, and
  raises what the channel raised; what the interceptor raises becomes a FailureOutcome,
  returned in place of the call (its ``result()`` and iteration raise it).

Each attempt (a retrying interceptor calls continuation again) is a new RPC with the whole
timeout.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Union

from .._core._errors import UsageTypeError
from .._core._grpcio import register_with_grpcio
from ._channel import Channel
from ._client_interceptor import (
    INTERCEPTOR_KINDS, RPC_ERRORS, CallDetails, FailureOutcome, StreamStreamClientInterceptor,
    StreamUnaryClientInterceptor, UnaryOutcome, UnaryStreamClientInterceptor,
    UnaryUnaryClientInterceptor, details_passed_on,
)
from ._multicallable import (
    StreamStreamMultiCallable, StreamUnaryMultiCallable, UnaryStreamMultiCallable,
    UnaryUnaryMultiCallable,
)

if TYPE_CHECKING:
    from .._core._compression import Compression
    from .._core._credentials import CallCredentials
    from .._core._typing import MetadataType
    from ._channel import Subscriber
    from ._multicallable import Deserializer, Serializer

    ClientInterceptor = Union[UnaryUnaryClientInterceptor, UnaryStreamClientInterceptor,
                              StreamUnaryClientInterceptor, StreamStreamClientInterceptor]

__all__ = ["intercept_channel", "InterceptedChannel"]

# The channel-below's multicallable for a method path: what continuation calls.
_Thunk = Callable[[str], Any]


def intercept_channel(channel: Channel, *interceptors: ClientInterceptor) -> Channel:
    """``channel`` with ``interceptors`` around every call, the first outermost (grpc's
    ``intercept_channel``); each may implement any of the four interceptor interfaces.

    Example::

        channel = turbogrpc.intercept_channel(turbogrpc.insecure_channel(target),
                                              AddTenant(), Retry())
        reply = GreeterStub(channel).SayHello(request)

    Anything but an interceptor is a UsageTypeError (a TypeError, as grpcio raises).
    """
    for interceptor in reversed(interceptors):
        if not isinstance(interceptor, INTERCEPTOR_KINDS):
            raise UsageTypeError(
                f"interceptors must be UnaryUnaryClientInterceptor, UnaryStreamClientInterceptor, "
                f"StreamUnaryClientInterceptor or StreamStreamClientInterceptor instances, "
                f"got {interceptor!r}")
        channel = InterceptedChannel(channel, interceptor)
    return channel


class InterceptedChannel(Channel):
    """One interceptor's layer over a channel (grpcio's ``_Channel``).

    A Channel to isinstance and to the type checker (grpcio's is a ``grpc.Channel``), but it
    opens nothing: ``Channel.__init__`` is not run and every public method is overridden to
    reach the channel below (tests/sync/test_sync_client_interceptors.py keeps it so)."""

    def __init__(self, channel: Channel, interceptor: ClientInterceptor) -> None:
        # (Not Channel.__init__: that would open an engine channel.)
        self._below = channel
        self._interceptor = interceptor

    def _layer(self, shape: str, method: str, request_serializer: Optional[Serializer],
               response_deserializer: Optional[Deserializer], registered: Optional[bool]) -> Any:
        """The multicallable of ``shape`` ("unary_unary" ...) for ``method`` on this layer: the
        intercepting one when the interceptor implements the shape, else the layer below's."""
        make_below = getattr(self._below, shape)

        def thunk(path: str) -> Any:
            return make_below(path, request_serializer, response_deserializer, registered)

        interceptor_class, intercepting_class = _SHAPES[shape]
        if isinstance(self._interceptor, interceptor_class):
            return intercepting_class(thunk, method, self._interceptor)
        return thunk(method)

    def unary_unary(self, method: str, request_serializer: Optional[Serializer] = None,
                    response_deserializer: Optional[Deserializer] = None,
                    _registered_method: Optional[bool] = False) -> UnaryUnaryMultiCallable:
        layer: UnaryUnaryMultiCallable = self._layer(
            "unary_unary", method, request_serializer, response_deserializer, _registered_method)
        return layer

    def unary_stream(self, method: str, request_serializer: Optional[Serializer] = None,
                     response_deserializer: Optional[Deserializer] = None,
                     _registered_method: Optional[bool] = False) -> UnaryStreamMultiCallable:
        layer: UnaryStreamMultiCallable = self._layer(
            "unary_stream", method, request_serializer, response_deserializer, _registered_method)
        return layer

    def stream_unary(self, method: str, request_serializer: Optional[Serializer] = None,
                     response_deserializer: Optional[Deserializer] = None,
                     _registered_method: Optional[bool] = False) -> StreamUnaryMultiCallable:
        layer: StreamUnaryMultiCallable = self._layer(
            "stream_unary", method, request_serializer, response_deserializer, _registered_method)
        return layer

    def stream_stream(self, method: str, request_serializer: Optional[Serializer] = None,
                      response_deserializer: Optional[Deserializer] = None,
                      _registered_method: Optional[bool] = False) -> StreamStreamMultiCallable:
        layer: StreamStreamMultiCallable = self._layer(
            "stream_stream", method, request_serializer, response_deserializer, _registered_method)
        return layer

    def subscribe(self, callback: Subscriber, try_to_connect: bool = False) -> None:
        self._below.subscribe(callback, try_to_connect=try_to_connect)

    def unsubscribe(self, callback: Subscriber) -> None:
        self._below.unsubscribe(callback)

    def close(self) -> None:
        """Closes the channel below (and so every layer over it)."""
        self._below.close()

    def __repr__(self) -> str:
        return f"<InterceptedChannel {self._interceptor!r} over {self._below!r}>"

    # __enter__ and __exit__ are Channel's: ``with`` gives this layer and closes it.
    # __del__ is Channel's too, and does nothing here (no _closed attribute: nothing opened).


# -- continuation ----------------------------------------------------------------------------

def _forward(thunk: _Thunk, how: str, defaults: CallDetails, details: object,
             request: Any) -> Any:
    """continuation: the call on the channel below, as the details passed on say."""
    method, timeout, metadata, credentials, wait_for_ready, compression = details_passed_on(
        details, defaults)
    multicallable = thunk(method)
    invoke = multicallable if how == "__call__" else getattr(multicallable, how)
    return invoke(request, timeout=timeout, metadata=metadata, credentials=credentials,
                  wait_for_ready=wait_for_ready, compression=compression)


def _forward_with_call(thunk: _Thunk, defaults: CallDetails, details: object,
                       request: Any) -> Any:
    """continuation of a blocking unary-response call: its outcome, never raised."""
    try:
        response, call = _forward(thunk, "with_call", defaults, details, request)
    except RPC_ERRORS as error:
        return error  # already a finished Call and Future (InactiveRpcError)
    except Exception as exc:  # noqa: BLE001 - the interceptor gets it as the outcome
        return FailureOutcome(exc, exc.__traceback__)
    return UnaryOutcome(response, call)


# -- the four multicallables -----------------------------------------------------------------

class _Intercepting:
    """What the four intercepting multicallables share: the channel-below's multicallable
    for a path (``_thunk``), the method as the stub gave it, the interceptor.

    Each derives from our multicallable of its shape, so it is one to isinstance and to the
    type checker; that class's other slots stay unset, as every method using them is
    overridden."""

    __slots__ = ()

    _thunk: _Thunk
    _method: str
    _interceptor: Any

    def _setup(self, thunk: _Thunk, method: str, interceptor: object) -> None:
        self._thunk = thunk
        self._method = method  # type: ignore[misc]  # the multicallable's slot, unseen from here
        self._interceptor = interceptor

    def _intercept_blocking(self, intercept_name: str, request: Any,
                            details: CallDetails) -> tuple[Any, Any]:
        """``with_call``: (the response, the interceptor's outcome); raises what either did."""
        continuation = functools.partial(_forward_with_call, self._thunk, details)
        outcome = getattr(self._interceptor, intercept_name)(continuation, details, request)
        return outcome.result(), outcome

    def _intercept_returning(self, intercept_name: str, how: str, request: Any,
                             details: CallDetails) -> Any:
        """``future()`` and response streams: what the interceptor returned, or a
        FailureOutcome of what it raised; continuation calls the channel below's ``how``."""
        continuation = functools.partial(_forward, self._thunk, how, details)
        try:
            return getattr(self._interceptor, intercept_name)(continuation, details, request)
        except Exception as exc:  # noqa: BLE001 - handed back in place of the call
            return FailureOutcome(exc, exc.__traceback__)


class InterceptingUnaryUnaryMultiCallable(_Intercepting, UnaryUnaryMultiCallable):
    """A UnaryUnaryMultiCallable whose calls go through one interceptor."""

    __slots__ = ("_thunk", "_interceptor")

    def __init__(self, thunk: _Thunk, method: str,
                 interceptor: UnaryUnaryClientInterceptor) -> None:
        self._setup(thunk, method, interceptor)

    def __call__(self, request: Any, timeout: Optional[float] = None,
                 metadata: Optional[MetadataType] = None,
                 credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None,
                 compression: Optional[Compression] = None) -> Any:
        details = CallDetails(self._method, timeout, metadata, credentials, wait_for_ready,
                              compression)
        return self._intercept_blocking("intercept_unary_unary", request, details)[0]

    def with_call(self, request: Any, timeout: Optional[float] = None,
                  metadata: Optional[MetadataType] = None,
                  credentials: Optional[CallCredentials] = None,
                  wait_for_ready: Optional[bool] = None,
                  compression: Optional[Compression] = None) -> tuple[Any, Any]:
        details = CallDetails(self._method, timeout, metadata, credentials, wait_for_ready,
                              compression)
        return self._intercept_blocking("intercept_unary_unary", request, details)

    def future(self, request: Any, timeout: Optional[float] = None,
               metadata: Optional[MetadataType] = None,
               credentials: Optional[CallCredentials] = None,
               wait_for_ready: Optional[bool] = None,
               compression: Optional[Compression] = None) -> Any:
        details = CallDetails(self._method, timeout, metadata, credentials, wait_for_ready,
                              compression)
        return self._intercept_returning("intercept_unary_unary", "future", request, details)


class InterceptingUnaryStreamMultiCallable(_Intercepting, UnaryStreamMultiCallable):
    """A UnaryStreamMultiCallable whose calls go through one interceptor."""

    __slots__ = ("_thunk", "_interceptor")

    def __init__(self, thunk: _Thunk, method: str,
                 interceptor: UnaryStreamClientInterceptor) -> None:
        self._setup(thunk, method, interceptor)

    def __call__(self, request: Any, timeout: Optional[float] = None,
                 metadata: Optional[MetadataType] = None,
                 credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None,
                 compression: Optional[Compression] = None) -> Any:
        details = CallDetails(self._method, timeout, metadata, credentials, wait_for_ready,
                              compression)
        return self._intercept_returning("intercept_unary_stream", "__call__", request, details)


class InterceptingStreamUnaryMultiCallable(_Intercepting, StreamUnaryMultiCallable):
    """A StreamUnaryMultiCallable whose calls go through one interceptor."""

    __slots__ = ("_thunk", "_interceptor")

    def __init__(self, thunk: _Thunk, method: str,
                 interceptor: StreamUnaryClientInterceptor) -> None:
        self._setup(thunk, method, interceptor)

    def __call__(self, request_iterator: Iterator[Any], timeout: Optional[float] = None,
                 metadata: Optional[MetadataType] = None,
                 credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None,
                 compression: Optional[Compression] = None) -> Any:
        details = CallDetails(self._method, timeout, metadata, credentials, wait_for_ready,
                              compression)
        return self._intercept_blocking("intercept_stream_unary", request_iterator, details)[0]

    def with_call(self, request_iterator: Iterator[Any], timeout: Optional[float] = None,
                  metadata: Optional[MetadataType] = None,
                  credentials: Optional[CallCredentials] = None,
                  wait_for_ready: Optional[bool] = None,
                  compression: Optional[Compression] = None) -> tuple[Any, Any]:
        details = CallDetails(self._method, timeout, metadata, credentials, wait_for_ready,
                              compression)
        return self._intercept_blocking("intercept_stream_unary", request_iterator, details)

    def future(self, request_iterator: Iterator[Any], timeout: Optional[float] = None,
               metadata: Optional[MetadataType] = None,
               credentials: Optional[CallCredentials] = None,
               wait_for_ready: Optional[bool] = None,
               compression: Optional[Compression] = None) -> Any:
        details = CallDetails(self._method, timeout, metadata, credentials, wait_for_ready,
                              compression)
        return self._intercept_returning("intercept_stream_unary", "future", request_iterator,
                                         details)


class InterceptingStreamStreamMultiCallable(_Intercepting, StreamStreamMultiCallable):
    """A StreamStreamMultiCallable whose calls go through one interceptor."""

    __slots__ = ("_thunk", "_interceptor")

    def __init__(self, thunk: _Thunk, method: str,
                 interceptor: StreamStreamClientInterceptor) -> None:
        self._setup(thunk, method, interceptor)

    def __call__(self, request_iterator: Iterator[Any], timeout: Optional[float] = None,
                 metadata: Optional[MetadataType] = None,
                 credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None,
                 compression: Optional[Compression] = None) -> Any:
        details = CallDetails(self._method, timeout, metadata, credentials, wait_for_ready,
                              compression)
        return self._intercept_returning("intercept_stream_stream", "__call__", request_iterator,
                                  details)


register_with_grpcio(InterceptingUnaryUnaryMultiCallable, "UnaryUnaryMultiCallable")
register_with_grpcio(InterceptingUnaryStreamMultiCallable, "UnaryStreamMultiCallable")
register_with_grpcio(InterceptingStreamUnaryMultiCallable, "StreamUnaryMultiCallable")
register_with_grpcio(InterceptingStreamStreamMultiCallable, "StreamStreamMultiCallable")


# shape -> (the interceptor class implementing it, the intercepting multicallable for it)
_SHAPES: dict[str, tuple[type, type]] = {
    "unary_unary": (UnaryUnaryClientInterceptor, InterceptingUnaryUnaryMultiCallable),
    "unary_stream": (UnaryStreamClientInterceptor, InterceptingUnaryStreamMultiCallable),
    "stream_unary": (StreamUnaryClientInterceptor, InterceptingStreamUnaryMultiCallable),
    "stream_stream": (StreamStreamClientInterceptor, InterceptingStreamStreamMultiCallable),
}
