"""Client interceptors: grpc.aio's four interfaces, ClientCallDetails, and a channel's split.

For channels made with ``interceptors=[...]``; the calls they intercept are in
_intercepted_call.py. With grpcio installed the interfaces and ClientCallDetails *are*
grpc.aio's classes (not subclasses), so an interceptor written against either import works on
both channels and passes either isinstance check; without grpcio they are defined here.
"""

import abc
import collections

from .._errors import UsageError
from .._grpcio import grpcio_bases

__all__ = [
    "ClientCallDetails", "ClientInterceptor", "StreamStreamClientInterceptor",
    "StreamUnaryClientInterceptor", "UnaryStreamClientInterceptor",
    "UnaryUnaryClientInterceptor", "client_interceptors",
]

_GRPC = {
    name: grpcio_bases(f"aio.{name}")
    for name in ("ClientCallDetails", "ClientInterceptor", "UnaryUnaryClientInterceptor",
                 "UnaryStreamClientInterceptor", "StreamUnaryClientInterceptor",
                 "StreamStreamClientInterceptor")
}

if all(_GRPC.values()):
    ClientCallDetails = _GRPC["ClientCallDetails"][0]
    ClientInterceptor = _GRPC["ClientInterceptor"][0]
    UnaryUnaryClientInterceptor = _GRPC["UnaryUnaryClientInterceptor"][0]
    UnaryStreamClientInterceptor = _GRPC["UnaryStreamClientInterceptor"][0]
    StreamUnaryClientInterceptor = _GRPC["StreamUnaryClientInterceptor"][0]
    StreamStreamClientInterceptor = _GRPC["StreamStreamClientInterceptor"][0]
else:

    class ClientCallDetails(collections.namedtuple(
            "ClientCallDetails", ("method", "timeout", "metadata", "credentials",
                                  "wait_for_ready"))):
        """What an interceptor may change about a call before ``continuation(details, ...)``.

        ``method`` is the path as bytes, ``timeout`` seconds or None, ``metadata`` a Metadata
        (empty when the caller gave none), ``credentials`` call credentials or None.

        Example::

            details = details._replace(metadata=Metadata(*details.metadata, ("k", "v")))
        """

    class ClientInterceptor(abc.ABC):
        """Base of the four client interceptor interfaces."""

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
        async def intercept_unary_unary(self, continuation, client_call_details, request):
            """Returns the call ``await continuation(details, request)`` gave, or a response."""

    class UnaryStreamClientInterceptor(ClientInterceptor):
        """Intercepts unary-stream calls."""

        @abc.abstractmethod
        async def intercept_unary_stream(self, continuation, client_call_details, request):
            """Returns the call, or an async iterator the caller then reads responses from."""

    class StreamUnaryClientInterceptor(ClientInterceptor):
        """Intercepts stream-unary calls."""

        @abc.abstractmethod
        async def intercept_stream_unary(self, continuation, client_call_details,
                                         request_iterator):
            """Returns the call ``await continuation(details, request_iterator)`` gave."""

    class StreamStreamClientInterceptor(ClientInterceptor):
        """Intercepts stream-stream calls."""

        @abc.abstractmethod
        async def intercept_stream_stream(self, continuation, client_call_details,
                                          request_iterator):
            """Returns the call, or an async iterator the caller then reads responses from."""


_KINDS = (UnaryUnaryClientInterceptor, UnaryStreamClientInterceptor,
          StreamUnaryClientInterceptor, StreamStreamClientInterceptor)


def client_interceptors(interceptors):
    """A channel's interceptors split by kind: four tuples (unary-unary, unary-stream,
    stream-unary, stream-stream), each in the given order; None when there are none.

    One object implementing several kinds runs for each of them (grpc.aio files it under its
    first kind only, grpc/grpc#31442). Anything else is a UsageError, a ValueError as
    grpc.aio raises.
    """
    if interceptors is None:
        return None
    split = ([], [], [], [])
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
