"""Client interceptors: grpc.aio's four interfaces, ClientCallDetails, and a channel's split.

For channels made with ``interceptors=[...]``; the calls they intercept are in
_intercepted_call.py. With grpcio installed the interfaces and ClientCallDetails *are*
grpc.aio's classes (not subclasses), so an interceptor written against either import works on
both channels and passes either isinstance check; without grpcio they are defined here.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple, Optional, Union

from .._core._errors import UsageError
from .._core._grpcio import grpcio_classes
from .._core._typing import RequestIterableType, ResponseIterableType

if TYPE_CHECKING:
    from .._core._credentials import CallCredentials
    from .._core._metadata import Metadata
    from ._call import UnaryUnaryCall
    from ._stream_call import StreamStreamCall, StreamUnaryCall, UnaryStreamCall

__all__ = [
    "ClientCallDetails", "ClientInterceptor", "StreamStreamClientInterceptor",
    "StreamUnaryClientInterceptor", "UnaryStreamClientInterceptor",
    "UnaryUnaryClientInterceptor", "client_interceptors",
]

_GRPC = grpcio_classes(
    "aio.ClientCallDetails", "aio.ClientInterceptor", "aio.UnaryUnaryClientInterceptor",
    "aio.UnaryStreamClientInterceptor", "aio.StreamUnaryClientInterceptor",
    "aio.StreamStreamClientInterceptor")

# (To the type checker they are always the definitions below, as grpc.aio's carry no types.)
if not TYPE_CHECKING and _GRPC is not None:
    (ClientCallDetails, ClientInterceptor, UnaryUnaryClientInterceptor,
     UnaryStreamClientInterceptor, StreamUnaryClientInterceptor,
     StreamStreamClientInterceptor) = _GRPC
else:

    class ClientCallDetails(NamedTuple("ClientCallDetails", [
            ("method", bytes), ("timeout", Optional[float]), ("metadata", Optional["Metadata"]),
            ("credentials", Optional["CallCredentials"]), ("wait_for_ready", Optional[bool])])):
        """What an interceptor may change about a call before ``continuation(details, ...)``.

        ``method`` is the path as bytes, ``timeout`` seconds or None, ``metadata`` a Metadata
        (empty when the caller gave none), ``credentials`` call credentials or None.

        Example::

            details = details._replace(metadata=Metadata(*details.metadata, ("k", "v")))
        """

    class ClientInterceptor(abc.ABC):
        """Base of the four client interceptor interfaces."""

    # The request and response types are each RPC's own, so they are Any in the methods below:
    # an interceptor may name them (``request: HelloRequest``, ``-> UnaryUnaryCall[HelloRequest,
    # HelloReply]``) and still override these.

    class UnaryUnaryClientInterceptor(ClientInterceptor):
        """Intercepts unary-unary calls.

        Example::

            class Timing(aio.UnaryUnaryClientInterceptor):
                async def intercept_unary_unary(self, continuation, details, request):
                    call = await continuation(details, request)
                    return call          # or a response value, or raise

            channel = aio.insecure_channel(target, interceptors=[Timing()])
        """

        @abc.abstractmethod
        async def intercept_unary_unary(
                self,
                continuation: Callable[[ClientCallDetails, Any],
                                       Awaitable[UnaryUnaryCall[Any, Any]]],
                client_call_details: ClientCallDetails,
                request: Any,
        ) -> Union[UnaryUnaryCall[Any, Any], Any]:
            """Returns the call ``await continuation(details, request)`` gave, or a response."""

    class UnaryStreamClientInterceptor(ClientInterceptor):
        """Intercepts unary-stream calls."""

        @abc.abstractmethod
        async def intercept_unary_stream(
                self,
                continuation: Callable[[ClientCallDetails, Any],
                                       Awaitable[UnaryStreamCall[Any, Any]]],
                client_call_details: ClientCallDetails,
                request: Any,
        ) -> Union[ResponseIterableType, UnaryStreamCall[Any, Any]]:
            """Returns the call, or an async iterator the caller then reads responses from."""

    class StreamUnaryClientInterceptor(ClientInterceptor):
        """Intercepts stream-unary calls."""

        @abc.abstractmethod
        async def intercept_stream_unary(
                self,
                continuation: Callable[[ClientCallDetails, RequestIterableType],
                                       Awaitable[StreamUnaryCall[Any, Any]]],
                client_call_details: ClientCallDetails,
                request_iterator: RequestIterableType,
        ) -> Union[StreamUnaryCall[Any, Any], Any]:
            """Returns the call ``await continuation(details, request_iterator)`` gave."""

    class StreamStreamClientInterceptor(ClientInterceptor):
        """Intercepts stream-stream calls."""

        @abc.abstractmethod
        async def intercept_stream_stream(
                self,
                continuation: Callable[[ClientCallDetails, RequestIterableType],
                                       Awaitable[StreamStreamCall[Any, Any]]],
                client_call_details: ClientCallDetails,
                request_iterator: RequestIterableType,
        ) -> Union[ResponseIterableType, StreamStreamCall[Any, Any]]:
            """Returns the call, or an async iterator the caller then reads responses from."""


_KINDS = (UnaryUnaryClientInterceptor, UnaryStreamClientInterceptor,
          StreamUnaryClientInterceptor, StreamStreamClientInterceptor)


def client_interceptors(
        interceptors: Optional[Iterable[object]],
) -> Optional[tuple[tuple[ClientInterceptor, ...], ...]]:
    """A channel's interceptors split by kind: four tuples (unary-unary, unary-stream,
    stream-unary, stream-stream), each in the given order; None when there are none.

    One object implementing several kinds runs for each of them (grpc.aio files it under its
    first kind only, grpc/grpc#31442). Anything else is a UsageError, a ValueError as
    grpc.aio raises.
    """
    if interceptors is None:
        return None
    split: tuple[list[ClientInterceptor], ...] = ([], [], [], [])
    for interceptor in interceptors:
        matched = False
        for kind, found in zip(_KINDS, split):
            if isinstance(interceptor, kind):
                found.append(interceptor)
                matched = True
        if not matched:
            raise UsageError(
                f"interceptors must be UnaryUnaryClientInterceptor, UnaryStreamClientInterceptor, "
                f"StreamUnaryClientInterceptor or StreamStreamClientInterceptor instances, "
                f"got {interceptor!r}")
    if not any(split):
        return None
    return tuple(map(tuple, split))
