"""Multicallables of the blocking API (grpcio's): ``__call__``, ``with_call`` and ``future``.

The blocking unary call is the hot path: serialize, one ``unary_call`` on this thread's queue,
one wait with the GIL released, deserialize. Every other shape is a Rendezvous fed by the
dispatcher thread (``_queues``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable, Optional

from .. import _engine
from .._core._channel_arguments import check_call_options
from .._core._call_credentials import (
    CallCredentialsError, blocking_call_credentials_metadata, service_url_and_method,
)
from .._core._compression import compression_value
from .._core._credentials import CallCredentials
from .._core._security import check_call_credentials
from .._core._errors import UsageError
from .._core._grpcio import register_with_grpcio
from .._core._message_reader import message_reader
from .._core._metadata import as_pairs
from ._call import (
    CANCELLED, INTERNAL, LOCAL_CANCELLATION_DETAILS, OK, CallState, InactiveRpcError, Rendezvous,
)
from ._queues import dispatcher, thread_queue, wait_for_call
from ._streams import SERIALIZE_REQUEST_FAILED, WritingRendezvous

if TYPE_CHECKING:
    from .._core._channel_setup import EngineChannel
    from .._core._compression import Compression
    from .._core._typing import MetadataType, MetadatumType

__all__ = [
    "UnaryUnaryMultiCallable", "UnaryStreamMultiCallable", "StreamUnaryMultiCallable",
    "StreamStreamMultiCallable",
]

_UNAVAILABLE, _DEADLINE_EXCEEDED = 14, 4
Serializer = Callable[[Any], bytes]
Deserializer = Callable[[bytes], Any]


class _Prepared:
    """A call's checked arguments."""

    __slots__ = ("timeout", "deadline", "metadata", "wait_for_ready", "compression", "failed")

    def __init__(self, timeout: Optional[float], metadata: Any, wait_for_ready: Optional[bool],
                 compression: int) -> None:
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.metadata = metadata
        self.wait_for_ready = wait_for_ready
        self.compression = compression
        self.failed: Optional[tuple[int, str, Optional[BaseException]]] = None  # before sending


def _checked_timeout(timeout: Optional[float]) -> Optional[float]:
    if timeout is None:
        return None
    check_call_options(timeout)
    return float(timeout)


class _MultiCallable:
    __slots__ = ("_channel", "_method", "_serializer", "_reader")

    def __init__(self, channel: EngineChannel, method: str, request_serializer: Optional[Serializer],
                 response_deserializer: Optional[Deserializer]) -> None:
        self._channel = channel
        self._method = method
        self._serializer = request_serializer
        self._reader = message_reader(response_deserializer)

    def _prepare(self, timeout: Optional[float], metadata: Optional[MetadataType],
                 credentials: Optional[CallCredentials], wait_for_ready: Optional[bool],
                 compression: Optional[Compression]) -> _Prepared:
        channel = self._channel
        if channel.generation != _engine.generation():
            raise UsageError("this channel was created before fork(); create a new one in the child process")
        seconds = _checked_timeout(timeout)
        prepared = _Prepared(
            seconds, as_pairs(metadata), wait_for_ready,
            channel.compression if compression is None else compression_value(compression))
        call_credentials = check_call_credentials(channel.security, credentials)
        if call_credentials:
            self._add_credentials_metadata(prepared, call_credentials)
        return prepared

    def _add_credentials_metadata(self, prepared: _Prepared,
                                  call_credentials: tuple[CallCredentials, ...]) -> None:
        """Runs the plugins in this thread (within the deadline) before the call starts; a
        failure ends the call as grpc's would, without sending it."""
        channel = self._channel
        service_url, method_name = service_url_and_method(
            channel.authority, self._method, channel.security.tls is not None)
        try:
            extra: list[MetadatumType] = blocking_call_credentials_metadata(
                call_credentials, service_url, method_name, prepared.timeout)
        except CallCredentialsError as exc:
            prepared.failed = (_UNAVAILABLE, exc.details, None)
            return
        except TimeoutError:
            prepared.failed = (_DEADLINE_EXCEEDED, "Deadline Exceeded", None)
            return
        except Exception as exc:
            prepared.failed = (_UNAVAILABLE, f"Getting metadata from plugin failed with error: {exc}", exc)
            return
        prepared.metadata = tuple(prepared.metadata) + tuple(extra)

    def _serialized(self, request: Any, state: CallState) -> Optional[bytes]:
        if self._serializer is None:
            return request  # type: ignore[no-any-return]  # bytes without a serializer
        try:
            return self._serializer(request)
        except Exception as exc:
            _fail(state, INTERNAL, SERIALIZE_REQUEST_FAILED, exc)
            return None

    def _one_request(self, request: Any, prepared: _Prepared,
                     unary_response: bool) -> tuple[Rendezvous, Optional[bytes]]:
        """The rendezvous of a one-request call and its serialized request; None when the call
        already ended (call credentials or the serializer failed)."""
        state = CallState(prepared.deadline, self._reader)
        if prepared.failed is not None:
            _fail(state, *prepared.failed)
            return Rendezvous(state, unary_response), None
        return Rendezvous(state, unary_response), self._serialized(request, state)

    def _start_stream(self, rendezvous: Rendezvous, prepared: _Prepared) -> None:
        channel, method = self._channel, self._method
        dispatcher().start(
            lambda cq: _engine.stream_call(channel.channel_id, cq, method, prepared.metadata,
                                           prepared.timeout, prepared.wait_for_ready,
                                           prepared.compression, False),
            rendezvous._entry)
        rendezvous._state.call_id = rendezvous._entry.call_id

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._method}>"


def _fail(state: CallState, code: int, details: str, cause: Optional[BaseException]) -> None:
    state.code, state.details, state.cause = code, details, cause
    if cause is not None:
        state.debug_error = f"{type(cause).__name__}: {cause}"


def _failed_rendezvous(state: CallState, prepared: _Prepared, unary_response: bool) -> Optional[Rendezvous]:
    if prepared.failed is None:
        return None
    _fail(state, *prepared.failed)
    return Rendezvous(state, unary_response)


def _response_or_raise(state: CallState) -> Any:
    if state.code == OK:
        return state.response
    error = InactiveRpcError(state)
    if state.cause is not None:
        raise error from state.cause
    raise error


class UnaryUnaryMultiCallable(_MultiCallable):
    """One request, one response.

    Example::

        reply = stub.SayHello(HelloRequest(name="you"), timeout=1)
        reply, call = stub.SayHello.with_call(request, metadata=[("k", "v")])
        future = stub.SayHello.future(request)
    """

    __slots__ = ()

    def _blocking(self, request: Any, timeout: Optional[float], metadata: Optional[MetadataType],
                  credentials: Optional[CallCredentials], wait_for_ready: Optional[bool],
                  compression: Optional[Compression]) -> CallState:
        prepared = self._prepare(timeout, metadata, credentials, wait_for_ready, compression)
        state = CallState(prepared.deadline, self._reader)
        if prepared.failed is not None:
            _fail(state, *prepared.failed)
            return state
        data = self._serialized(request, state)
        if data is None:
            return state
        cq = thread_queue()
        call_id = _engine.unary_call(self._channel.channel_id, cq, self._method, prepared.metadata,
                                     data, prepared.timeout, prepared.wait_for_ready,
                                     prepared.compression, False)
        try:
            event = wait_for_call(cq, call_id)
        except BaseException:  # Ctrl-C: the RPC goes with the statement (as grpcio)
            _engine.cancel(call_id, CANCELLED, LOCAL_CANCELLATION_DETAILS)
            raise
        state.finish_unary(event)
        return state

    def __call__(self, request: Any, timeout: Optional[float] = None,
                 metadata: Optional[MetadataType] = None, credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None, compression: Optional[Compression] = None) -> Any:
        """The response; raises ``RpcError`` (also a ``Call``) on a non-OK status."""
        return _response_or_raise(self._blocking(request, timeout, metadata, credentials,
                                                 wait_for_ready, compression))

    def with_call(self, request: Any, timeout: Optional[float] = None,
                  metadata: Optional[MetadataType] = None, credentials: Optional[CallCredentials] = None,
                  wait_for_ready: Optional[bool] = None,
                  compression: Optional[Compression] = None) -> tuple[Any, Rendezvous]:
        """``(response, call)``: the call for its metadata and status."""
        state = self._blocking(request, timeout, metadata, credentials, wait_for_ready, compression)
        response = _response_or_raise(state)
        return response, Rendezvous(state, True)

    def future(self, request: Any, timeout: Optional[float] = None,
               metadata: Optional[MetadataType] = None, credentials: Optional[CallCredentials] = None,
               wait_for_ready: Optional[bool] = None, compression: Optional[Compression] = None) -> Rendezvous:
        """A ``Future`` (and ``Call``) of the response, at once."""
        prepared = self._prepare(timeout, metadata, credentials, wait_for_ready, compression)
        rendezvous, data = self._one_request(request, prepared, True)
        if data is None:
            return rendezvous
        channel, method = self._channel, self._method
        dispatcher().start(
            lambda cq: _engine.unary_call(channel.channel_id, cq, method, prepared.metadata, data,
                                          prepared.timeout, prepared.wait_for_ready,
                                          prepared.compression, False),
            rendezvous._entry)
        rendezvous._state.call_id = rendezvous._entry.call_id
        return rendezvous


class UnaryStreamMultiCallable(_MultiCallable):
    """One request, a stream of responses: iterate the returned call.

    Example::

        for feature in stub.ListFeatures(rectangle, timeout=10):
            print(feature)
    """

    __slots__ = ()

    def __call__(self, request: Any, timeout: Optional[float] = None,
                 metadata: Optional[MetadataType] = None, credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None,
                 compression: Optional[Compression] = None) -> Rendezvous:
        prepared = self._prepare(timeout, metadata, credentials, wait_for_ready, compression)
        rendezvous, data = self._one_request(request, prepared, False)
        if data is None:
            return rendezvous
        self._start_stream(rendezvous, prepared)
        _engine.send_message(rendezvous._state.call_id, data, True, ack_wakes=False)
        return rendezvous


class _StreamRequests(_MultiCallable):
    __slots__ = ()

    def _start(self, request_iterator: Iterator[Any], timeout: Optional[float],
               metadata: Optional[MetadataType], credentials: Optional[CallCredentials],
               wait_for_ready: Optional[bool], compression: Optional[Compression],
               unary_response: bool) -> Rendezvous:
        prepared = self._prepare(timeout, metadata, credentials, wait_for_ready, compression)
        state = CallState(prepared.deadline, self._reader)
        failed = _failed_rendezvous(state, prepared, unary_response)
        if failed is not None:
            return failed
        rendezvous = WritingRendezvous(state, unary_response, self._serializer)
        self._start_stream(rendezvous, prepared)
        if unary_response:
            state.reads_pending = True
            _engine.read(state.call_id)  # the single response, at once
        rendezvous.consume(iter(request_iterator))
        return rendezvous


class StreamUnaryMultiCallable(_StreamRequests):
    """A stream of requests (any iterator, consumed on a thread of its own), one response.

    Example::

        summary = stub.RecordRoute(iter(points), timeout=10)
    """

    __slots__ = ()

    def __call__(self, request_iterator: Iterator[Any], timeout: Optional[float] = None,
                 metadata: Optional[MetadataType] = None, credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None, compression: Optional[Compression] = None) -> Any:
        return self.with_call(request_iterator, timeout, metadata, credentials, wait_for_ready,
                              compression)[0]

    def with_call(self, request_iterator: Iterator[Any], timeout: Optional[float] = None,
                  metadata: Optional[MetadataType] = None, credentials: Optional[CallCredentials] = None,
                  wait_for_ready: Optional[bool] = None,
                  compression: Optional[Compression] = None) -> tuple[Any, Rendezvous]:
        rendezvous = self._start(request_iterator, timeout, metadata, credentials, wait_for_ready,
                                 compression, True)
        rendezvous._wait_done()
        return _response_or_raise(rendezvous._state), rendezvous

    def future(self, request_iterator: Iterator[Any], timeout: Optional[float] = None,
               metadata: Optional[MetadataType] = None, credentials: Optional[CallCredentials] = None,
               wait_for_ready: Optional[bool] = None,
               compression: Optional[Compression] = None) -> Rendezvous:
        return self._start(request_iterator, timeout, metadata, credentials, wait_for_ready,
                           compression, True)


class StreamStreamMultiCallable(_StreamRequests):
    """Streams both ways: requests from an iterator, responses by iterating the call.

    Example::

        for note in stub.RouteChat(iter(notes)):
            print(note)
    """

    __slots__ = ()

    def __call__(self, request_iterator: Iterator[Any], timeout: Optional[float] = None,
                 metadata: Optional[MetadataType] = None, credentials: Optional[CallCredentials] = None,
                 wait_for_ready: Optional[bool] = None,
                 compression: Optional[Compression] = None) -> Rendezvous:
        return self._start(request_iterator, timeout, metadata, credentials, wait_for_ready,
                           compression, False)


register_with_grpcio(UnaryUnaryMultiCallable, "UnaryUnaryMultiCallable")
register_with_grpcio(UnaryStreamMultiCallable, "UnaryStreamMultiCallable")
register_with_grpcio(StreamUnaryMultiCallable, "StreamUnaryMultiCallable")
register_with_grpcio(StreamStreamMultiCallable, "StreamStreamMultiCallable")
