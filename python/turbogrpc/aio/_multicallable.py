"""Multicallables: what ``channel.unary_unary(...)`` returns and generated stubs call.

``__call__`` is the client hot path: find the loop state, normalise metadata, build the
call (which submits its first command at once). No Task is created for unary calls.
A channel with client interceptors of a kind hands out the Intercepting* subclass for that
kind instead, chosen once in ``channel.unary_unary()`` etc.: the plain classes never look
for interceptors.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from typing import (
    TYPE_CHECKING, Any, ClassVar, Generic, Literal, Optional, TypeVar, Union, overload,
)

from .._core._channel_arguments import check_call_options
from .._core._compression import compression_value
from .._core._grpcio import register_with_grpcio
from .._core._message_reader import message_reader
from .._core._metadata import as_pairs
from .._core._security import check_call_credentials
from .._core._typing import MetadataType, RequestType, ResponseType
from ._call import Call, UnaryUnaryCall
from ._intercepted_call import (
    InterceptedStreamStreamCall, InterceptedStreamUnaryCall, InterceptedUnaryStreamCall,
    InterceptedUnaryUnaryCall,
)
from ._security_tasks import fetch_call_metadata
from ._stream_call import StreamStreamCall, StreamUnaryCall, UnaryStreamCall

if TYPE_CHECKING:
    from .._core._compression import Compression
    from .._core._credentials import CallCredentials
    from ._channel import Channel
    from ._client_interceptor import ClientInterceptor
    from ._completion import LoopState

__all__ = [
    "UnaryUnaryMultiCallable", "UnaryStreamMultiCallable",
    "StreamUnaryMultiCallable", "StreamStreamMultiCallable", "intercepting_multicallable",
]

# grpc.aio's generic forms of _typing's SerializingFunction, DeserializingFunction and
# RequestIterableType: the request and response types of a multicallable come from them.
RequestSerializer = Callable[[RequestType], bytes]
ResponseDeserializer = Callable[[bytes], ResponseType]
RequestIterable = Union[Iterable[RequestType], AsyncIterable[RequestType]]
_CallT = TypeVar("_CallT", bound=Call)


class _MultiCallable(Generic[RequestType, ResponseType]):
    __slots__ = ("_channel", "_method", "_serializer", "_deserializer")

    def __init__(self, channel: Channel, method: str,
                 request_serializer: Optional[RequestSerializer[RequestType]],
                 response_deserializer: Optional[ResponseDeserializer[ResponseType]]) -> None:
        self._channel = channel
        self._method = method
        self._serializer = request_serializer
        self._deserializer = message_reader(response_deserializer)

    def _invoke(self, call_class: Callable[..., _CallT], request: object,
                timeout: Optional[float], metadata: Optional[MetadataType],
                credentials: Optional[CallCredentials], wait_for_ready: Optional[bool],
                compression: Optional[Compression]) -> _CallT:
        # The common cases (no timeout, a plain float) skip the checks; NaN != NaN sends it there.
        if timeout is not None and (type(timeout) is not float or timeout != timeout):
            check_call_options(timeout)
            timeout = float(timeout)
        channel = self._channel
        state = channel._loop_state()
        if credentials is not None or channel._security.call_credentials:
            return self._invoke_with_credentials(
                call_class, state, self._method, request, timeout, metadata, credentials,
                wait_for_ready,
                channel._compression if compression is None else compression_value(compression))
        return call_class(
            state, channel, self._method, request, self._serializer,
            self._deserializer, timeout, as_pairs(metadata), wait_for_ready,
            channel._compression if compression is None else compression_value(compression),
        )

    def _invoke_with_credentials(self, call_class: Callable[..., _CallT], state: LoopState,
                                 method: str, request: object, timeout: Optional[float],
                                 metadata: Optional[MetadataType],
                                 credentials: Optional[CallCredentials],
                                 wait_for_ready: Optional[bool], compression: int) -> _CallT:
        # The call starts held in the engine (its deadline running) until the plugins answer.
        channel = self._channel
        call_credentials = check_call_credentials(channel._security, credentials)
        call = call_class(
            state, channel, method, request, self._serializer,
            self._deserializer, timeout, as_pairs(metadata), wait_for_ready,
            compression, awaits_metadata=True,
        )
        if call._call_id and call._code is None:
            fetch_call_metadata(call, channel, method, call_credentials)
        return call

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._method}>"


class UnaryUnaryMultiCallable(_MultiCallable[RequestType, ResponseType]):
    """Starts unary-unary calls.

    Example::

        say_hello = channel.unary_unary("/helloworld.Greeter/SayHello",
                                        request_serializer=HelloRequest.SerializeToString,
                                        response_deserializer=HelloReply.FromString)
        reply = await say_hello(HelloRequest(name="you"), timeout=1)
    """

    __slots__ = ()

    def __call__(self, request: RequestType, *, timeout: Optional[float] = None,
                 metadata: Optional[MetadataType] = None,
                 credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None, compression: Optional[Compression] = None,
                 ) -> UnaryUnaryCall[RequestType, ResponseType]:
        return self._invoke(UnaryUnaryCall, request, timeout, metadata, credentials,
                            wait_for_ready, compression)


class UnaryStreamMultiCallable(_MultiCallable[RequestType, ResponseType]):
    """Starts unary-stream calls.

    Example::

        async for feature in channel.unary_stream("/routeguide.RouteGuide/ListFeatures")(raw):
            ...
    """

    __slots__ = ()

    def __call__(self, request: RequestType, *, timeout: Optional[float] = None,
                 metadata: Optional[MetadataType] = None,
                 credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None, compression: Optional[Compression] = None,
                 ) -> UnaryStreamCall[RequestType, ResponseType]:
        return self._invoke(UnaryStreamCall, request, timeout, metadata, credentials,
                            wait_for_ready, compression)


class StreamUnaryMultiCallable(_MultiCallable[RequestType, ResponseType]):
    """Starts stream-unary calls.

    Example::

        summary = await channel.stream_unary("/routeguide.RouteGuide/RecordRoute")(points)
    """

    __slots__ = ()

    def __call__(self, request_iterator: Optional[RequestIterable[RequestType]] = None,
                 timeout: Optional[float] = None, metadata: Optional[MetadataType] = None,
                 credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None, compression: Optional[Compression] = None,
                 ) -> StreamUnaryCall[RequestType, ResponseType]:
        return self._invoke(StreamUnaryCall, request_iterator, timeout, metadata, credentials,
                            wait_for_ready, compression)


class StreamStreamMultiCallable(_MultiCallable[RequestType, ResponseType]):
    """Starts stream-stream calls.

    Example::

        call = channel.stream_stream("/routeguide.RouteGuide/RouteChat")()
        await call.write(b"...")
    """

    __slots__ = ()

    def __call__(self, request_iterator: Optional[RequestIterable[RequestType]] = None,
                 timeout: Optional[float] = None, metadata: Optional[MetadataType] = None,
                 credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None, compression: Optional[Compression] = None,
                 ) -> StreamStreamCall[RequestType, ResponseType]:
        return self._invoke(StreamStreamCall, request_iterator, timeout, metadata, credentials,
                            wait_for_ready, compression)


# -- with client interceptors ------------------------------------------------------------

_new_object = object.__new__


class _Intercepting:
    """What the four intercepting multicallables add to theirs: the interceptors (each one's
    intercept_<kind> method, bound once) and the path as ClientCallDetails gives it. The call
    objects (_intercepted_call.py, on _interceptor_chain.py) run the chain and start the RPC
    the last continuation asks for."""

    __slots__ = ()

    _intercept_name: ClassVar[str]
    _method: str
    # The slots of the classes below: each interceptor's bound intercept_<kind> method, and
    # the path as bytes.
    _intercepts: tuple[Callable[..., Any], ...]
    _method_bytes: bytes

    def _setup(self, interceptors: Sequence[ClientInterceptor]) -> None:
        # (both are slots of the subclasses: mypy only sees this class's empty __slots__)
        self._intercepts = tuple(  # type: ignore[misc]
            getattr(each, self._intercept_name) for each in interceptors)
        self._method_bytes = self._method.encode("utf-8")  # type: ignore[misc]  # details.method

    @staticmethod
    def _checked_timeout(timeout: float) -> float:
        """A timeout an interceptor passed on, checked as a caller's is; float seconds."""
        check_call_options(timeout)
        return float(timeout)


class InterceptingUnaryUnaryMultiCallable(_Intercepting,
                                        UnaryUnaryMultiCallable[RequestType, ResponseType]):
    """A UnaryUnaryMultiCallable whose calls run through the channel's interceptors."""

    __slots__ = ("_intercepts", "_method_bytes")
    _intercept_name = "intercept_unary_unary"

    def __call__(self, request: RequestType, *, timeout: Optional[float] = None,
                 metadata: Optional[MetadataType] = None,
                 credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None, compression: Optional[Compression] = None,
                 ) -> UnaryUnaryCall[RequestType, ResponseType]:
        channel = self._channel
        call = _new_object(InterceptedUnaryUnaryCall)
        call._run_chain(
            self, channel._loop_state(), request, timeout, metadata, credentials, wait_for_ready,
            channel._compression if compression is None else compression_value(compression))
        return call  # type: ignore[return-value]  # a registered virtual subclass of the call


class InterceptingUnaryStreamMultiCallable(_Intercepting,
                                        UnaryStreamMultiCallable[RequestType, ResponseType]):
    """A UnaryStreamMultiCallable whose calls run through the channel's interceptors."""

    __slots__ = ("_intercepts", "_method_bytes")
    _intercept_name = "intercept_unary_stream"

    def __call__(self, request: RequestType, *, timeout: Optional[float] = None,
                 metadata: Optional[MetadataType] = None,
                 credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None, compression: Optional[Compression] = None,
                 ) -> UnaryStreamCall[RequestType, ResponseType]:
        channel = self._channel
        call = _new_object(InterceptedUnaryStreamCall)
        call._run_chain(
            self, channel._loop_state(), request, timeout, metadata, credentials, wait_for_ready,
            channel._compression if compression is None else compression_value(compression))
        return call  # type: ignore[return-value]  # a registered virtual subclass of the call


class InterceptingStreamUnaryMultiCallable(_Intercepting,
                                        StreamUnaryMultiCallable[RequestType, ResponseType]):
    """A StreamUnaryMultiCallable whose calls run through the channel's interceptors."""

    __slots__ = ("_intercepts", "_method_bytes")
    _intercept_name = "intercept_stream_unary"

    def __call__(self, request_iterator: Optional[RequestIterable[RequestType]] = None,
                 timeout: Optional[float] = None, metadata: Optional[MetadataType] = None,
                 credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None, compression: Optional[Compression] = None,
                 ) -> StreamUnaryCall[RequestType, ResponseType]:
        channel = self._channel
        call = _new_object(InterceptedStreamUnaryCall)
        call._run_chain(
            self, channel._loop_state(), request_iterator, timeout, metadata, credentials,
            wait_for_ready,
            channel._compression if compression is None else compression_value(compression))
        return call  # type: ignore[return-value]  # a registered virtual subclass of the call


class InterceptingStreamStreamMultiCallable(_Intercepting,
                                        StreamStreamMultiCallable[RequestType, ResponseType]):
    """A StreamStreamMultiCallable whose calls run through the channel's interceptors."""

    __slots__ = ("_intercepts", "_method_bytes")
    _intercept_name = "intercept_stream_stream"

    def __call__(self, request_iterator: Optional[RequestIterable[RequestType]] = None,
                 timeout: Optional[float] = None, metadata: Optional[MetadataType] = None,
                 credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None, compression: Optional[Compression] = None,
                 ) -> StreamStreamCall[RequestType, ResponseType]:
        channel = self._channel
        call = _new_object(InterceptedStreamStreamCall)
        call._run_chain(
            self, channel._loop_state(), request_iterator, timeout, metadata, credentials,
            wait_for_ready,
            channel._compression if compression is None else compression_value(compression))
        return call  # type: ignore[return-value]  # a registered virtual subclass of the call


_PLAIN = (UnaryUnaryMultiCallable, UnaryStreamMultiCallable, StreamUnaryMultiCallable,
          StreamStreamMultiCallable)
_INTERCEPTING = (InterceptingUnaryUnaryMultiCallable, InterceptingUnaryStreamMultiCallable,
                 InterceptingStreamUnaryMultiCallable, InterceptingStreamStreamMultiCallable)


@overload
def intercepting_multicallable(
    kind: Literal[0], interceptors: Sequence[ClientInterceptor], channel: Channel, method: str,
    request_serializer: Optional[RequestSerializer[RequestType]],
    response_deserializer: Optional[ResponseDeserializer[ResponseType]],
) -> UnaryUnaryMultiCallable[RequestType, ResponseType]: ...
@overload
def intercepting_multicallable(
    kind: Literal[1], interceptors: Sequence[ClientInterceptor], channel: Channel, method: str,
    request_serializer: Optional[RequestSerializer[RequestType]],
    response_deserializer: Optional[ResponseDeserializer[ResponseType]],
) -> UnaryStreamMultiCallable[RequestType, ResponseType]: ...
@overload
def intercepting_multicallable(
    kind: Literal[2], interceptors: Sequence[ClientInterceptor], channel: Channel, method: str,
    request_serializer: Optional[RequestSerializer[RequestType]],
    response_deserializer: Optional[ResponseDeserializer[ResponseType]],
) -> StreamUnaryMultiCallable[RequestType, ResponseType]: ...
@overload
def intercepting_multicallable(
    kind: Literal[3], interceptors: Sequence[ClientInterceptor], channel: Channel, method: str,
    request_serializer: Optional[RequestSerializer[RequestType]],
    response_deserializer: Optional[ResponseDeserializer[ResponseType]],
) -> StreamStreamMultiCallable[RequestType, ResponseType]: ...
def intercepting_multicallable(
    kind: int, interceptors: Sequence[ClientInterceptor], channel: Channel, method: str,
    request_serializer: Optional[RequestSerializer[RequestType]],
    response_deserializer: Optional[ResponseDeserializer[ResponseType]],
) -> _MultiCallable[RequestType, ResponseType]:
    """The multicallable of ``kind`` (0 unary-unary, 1 unary-stream, 2 stream-unary,
    3 stream-stream) for a channel with client interceptors: the plain class when none of
    them is of that kind."""
    if not interceptors:
        return _PLAIN[kind](channel, method, request_serializer, response_deserializer)
    multicallable = _INTERCEPTING[kind](channel, method, request_serializer,
                                        response_deserializer)
    multicallable._setup(interceptors)
    return multicallable


for _plain in (UnaryUnaryMultiCallable, UnaryStreamMultiCallable, StreamUnaryMultiCallable,
               StreamStreamMultiCallable):
    register_with_grpcio(_plain, "aio." + _plain.__name__)  # isinstance with grpc.aio's holds
