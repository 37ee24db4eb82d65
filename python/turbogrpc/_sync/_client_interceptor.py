"""What the blocking API's client interceptors see: grpc's four interfaces, ClientCallDetails,
and the outcomes ``continuation`` returns for a unary response.

For ``intercept_channel`` (_intercepted_channel.py). With grpcio installed the interfaces and
ClientCallDetails *are* grpc's classes, as turbogrpc.aio's are grpc.aio's: an interceptor
deriving from ``grpc.UnaryUnaryClientInterceptor`` works on our channels and one deriving from
ours on grpcio's. Without grpcio they are defined here.

What ``continuation(details, request)`` returns, by shape (as grpcio's ``_interceptor.py``):

* unary response, ``__call__``/``with_call``: an object that is a ``Call`` and a ``Future``
  (never raises for an RPC failure): ``UnaryOutcome`` once the response came, the RpcError
  itself when the RPC failed, ``FailureOutcome`` when starting it raised anything else;
* unary response, ``future``: the future the channel returned;
* response stream: the call, an iterator of responses.
"""

from __future__ import annotations

import abc
import types
from typing import TYPE_CHECKING, Any, Callable, Iterator, NamedTuple, NoReturn, Optional

from .._core._errors import RpcError
from .._core._grpcio import grpcio_bases, grpcio_classes, register_with_grpcio
from .._core._status import StatusCode
from ._interfaces import Call, FinishedContext, FinishedFuture, Future

if TYPE_CHECKING:
    from .._core._compression import Compression
    from .._core._credentials import CallCredentials
    from .._core._typing import MetadataType

__all__ = [
    "ClientCallDetails", "UnaryUnaryClientInterceptor", "UnaryStreamClientInterceptor",
    "StreamUnaryClientInterceptor", "StreamStreamClientInterceptor", "INTERCEPTOR_KINDS",
    "RPC_ERRORS", "CallDetails", "details_passed_on", "UnaryOutcome", "FailureOutcome",
]

# What continuation passes on as the call's outcome instead of raising: ours and, should the
# channel below be grpcio's own, grpcio's.
RPC_ERRORS: tuple[type[Exception], ...] = (RpcError, *grpcio_bases("RpcError"))

_GRPC = grpcio_classes(
    "ClientCallDetails", "UnaryUnaryClientInterceptor", "UnaryStreamClientInterceptor",
    "StreamUnaryClientInterceptor", "StreamStreamClientInterceptor")

# (To the type checker they are always the definitions below, as grpcio's carry no types.)
if not TYPE_CHECKING and _GRPC is not None:
    (ClientCallDetails, UnaryUnaryClientInterceptor, UnaryStreamClientInterceptor,
     StreamUnaryClientInterceptor, StreamStreamClientInterceptor) = _GRPC
else:

    class ClientCallDetails(abc.ABC):  # noqa: B024 - grpc's has no abstract method either
        """What an interceptor may change about a call before passing it on.

        An interface with attributes (grpc's): ``method`` (the path, as the stub gave it),
        ``timeout`` (seconds or None), ``metadata`` (as the caller gave it: pairs or None),
        ``credentials``, ``wait_for_ready`` and ``compression`` (None when not given). An
        attribute an interceptor's details lack is taken from the call's own.

        Example::

            class Details(collections.namedtuple("Details", ("method", "timeout", "metadata",
                          "credentials", "wait_for_ready", "compression")),
                          turbogrpc.ClientCallDetails):
                pass
        """

        method: str
        timeout: Optional[float]
        metadata: Optional[MetadataType]
        credentials: Optional[CallCredentials]
        wait_for_ready: Optional[bool]
        compression: Optional[Compression]

    # The request and response types are each RPC's own, hence Any below: an interceptor may
    # name them and still override these.

    class UnaryUnaryClientInterceptor(abc.ABC):
        """Intercepts unary-unary calls (``__call__``, ``with_call`` and ``future``).

        Example::

            class AddTenant(turbogrpc.UnaryUnaryClientInterceptor):
                def intercept_unary_unary(self, continuation, details, request):
                    metadata = list(details.metadata or ()) + [("x-tenant", "blue")]
                    return continuation(details._replace(metadata=metadata), request)

            channel = turbogrpc.intercept_channel(channel, AddTenant())
        """

        @abc.abstractmethod
        def intercept_unary_unary(self, continuation: Callable[[ClientCallDetails, Any], Any],
                                  client_call_details: ClientCallDetails, request: Any) -> Any:
            """Returns a ``Call`` that is also a ``Future`` of the response: usually what
            ``continuation(details, request)`` returned."""

    class UnaryStreamClientInterceptor(abc.ABC):
        """Intercepts unary-stream calls."""

        @abc.abstractmethod
        def intercept_unary_stream(self, continuation: Callable[[ClientCallDetails, Any], Any],
                                   client_call_details: ClientCallDetails, request: Any) -> Any:
            """Returns a ``Call`` that is an iterator of responses: usually what
            ``continuation(details, request)`` returned."""

    class StreamUnaryClientInterceptor(abc.ABC):
        """Intercepts stream-unary calls (``__call__``, ``with_call`` and ``future``)."""

        @abc.abstractmethod
        def intercept_stream_unary(
                self, continuation: Callable[[ClientCallDetails, Iterator[Any]], Any],
                client_call_details: ClientCallDetails, request_iterator: Iterator[Any]) -> Any:
            """Returns a ``Call`` that is also a ``Future`` of the response: usually what
            ``continuation(details, request_iterator)`` returned."""

    class StreamStreamClientInterceptor(abc.ABC):
        """Intercepts stream-stream calls."""

        @abc.abstractmethod
        def intercept_stream_stream(
                self, continuation: Callable[[ClientCallDetails, Iterator[Any]], Any],
                client_call_details: ClientCallDetails, request_iterator: Iterator[Any]) -> Any:
            """Returns a ``Call`` that is an iterator of responses: usually what
            ``continuation(details, request_iterator)`` returned."""


INTERCEPTOR_KINDS = (UnaryUnaryClientInterceptor, UnaryStreamClientInterceptor,
                     StreamUnaryClientInterceptor, StreamStreamClientInterceptor)

_FIELDS = ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")


class CallDetails(NamedTuple("ClientCallDetails", [
        ("method", str), ("timeout", Optional[float]), ("metadata", Optional["MetadataType"]),
        ("credentials", Optional["CallCredentials"]), ("wait_for_ready", Optional[bool]),
        ("compression", Optional["Compression"])]), ClientCallDetails):
    """The details an interceptor is given: a ClientCallDetails with namedtuple's ``_replace``
    (grpcio's are a namedtuple too, and interceptors rely on it)."""

    __slots__ = ()


def details_passed_on(details: object, defaults: CallDetails) -> CallDetails:
    """The details an interceptor passed to continuation, complete: any attribute they lack
    (interceptors written before ``wait_for_ready`` or ``compression`` existed build
    four-field namedtuples) is the one the interceptor was given."""
    if type(details) is CallDetails:
        return details
    return CallDetails._make(getattr(details, name, default)
                             for name, default in zip(_FIELDS, defaults))


class UnaryOutcome(FinishedFuture, Call, Future):
    """A unary RPC that ended OK, as continuation hands it to the interceptor (grpcio's
    ``_UnaryOutcome``): a finished Future of the response, and the call it came with."""

    __slots__ = ("_response", "_call")

    def __init__(self, response: Any, call: Any) -> None:
        self._response = response
        self._call = call

    # -- Call: the RPC's --------------------------------------------------------------------

    def initial_metadata(self) -> Any:
        return self._call.initial_metadata()

    def trailing_metadata(self) -> Any:
        return self._call.trailing_metadata()

    def code(self) -> StatusCode:
        return self._call.code()  # type: ignore[no-any-return]  # any Call's code()

    def details(self) -> Optional[str]:
        return self._call.details()  # type: ignore[no-any-return]  # any Call's details()

    def is_active(self) -> bool:
        return self._call.is_active()  # type: ignore[no-any-return]

    def time_remaining(self) -> Optional[float]:
        return self._call.time_remaining()  # type: ignore[no-any-return]

    def cancel(self) -> bool:
        return self._call.cancel()  # type: ignore[no-any-return]

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return self._call.add_callback(callback)  # type: ignore[no-any-return]

    # -- Future: finished, with the response ------------------------------------------------

    def result(self, timeout: Optional[float] = None) -> Any:
        return self._response

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        return None

    def traceback(self, timeout: Optional[float] = None) -> Optional[types.TracebackType]:
        return None



class FailureOutcome(FinishedContext, FinishedFuture, RpcError, Call, Future):
    """A call that raised something other than an RpcError before or instead of ending
    (grpcio's ``_FailureOutcome``): status INTERNAL, no metadata; ``result()`` and iterating
    raise the original exception, ``exception()`` gives it.

    What continuation returns when the call raised, and what an intercepted ``future()`` or
    response-stream call returns when an interceptor raised."""

    def __init__(self, exception: Exception, traceback: Optional[types.TracebackType]) -> None:
        Exception.__init__(self)
        self._exception = exception
        self._traceback = traceback

    def initial_metadata(self) -> None:
        return None

    def trailing_metadata(self) -> None:
        return None

    def code(self) -> StatusCode:
        return StatusCode.INTERNAL

    def details(self) -> Optional[str]:
        return "Exception raised while intercepting the RPC"  # grpcio's words: code may compare

    def result(self, timeout: Optional[float] = None) -> NoReturn:
        raise self._exception

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        return self._exception

    def traceback(self, timeout: Optional[float] = None) -> Optional[types.TracebackType]:
        return self._traceback

    # -- as a response stream: the exception, at the first read -----------------------------

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> NoReturn:
        raise self._exception

    def next(self) -> NoReturn:
        raise self._exception

    def __repr__(self) -> str:
        return f"<FailureOutcome of an intercepted RPC: {self._exception!r}>"


register_with_grpcio(UnaryOutcome, "Call")
register_with_grpcio(FailureOutcome, "Call")
