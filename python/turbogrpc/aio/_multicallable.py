"""Multicallables: what ``channel.unary_unary(...)`` returns and generated stubs call.

``__call__`` is the client hot path: find the loop state, normalise metadata, build the
call (which submits its first command at once). No Task is created for unary calls.
A channel with client interceptors of a kind hands out the Intercepting* subclass for that
kind instead, chosen once in ``channel.unary_unary()`` etc.: the plain classes never look
for interceptors.
"""

import types

from .._errors import UsageError
from .._grpcio import register_with_grpcio
from ._call import UnaryUnaryCall
from ._compression import compression_value
from ._intercepted_call import (
    InterceptedStreamStreamCall, InterceptedStreamUnaryCall, InterceptedUnaryStreamCall,
    InterceptedUnaryUnaryCall,
)
from ._message_reader import message_reader
from ._metadata import as_pairs
from ._security import check_call_credentials, fetch_call_metadata
from ._stream_call import StreamStreamCall, StreamUnaryCall, UnaryStreamCall

__all__ = [
    "UnaryUnaryMultiCallable", "UnaryStreamMultiCallable",
    "StreamUnaryMultiCallable", "StreamStreamMultiCallable", "intercepting_multicallable",
]


def _check_call_options(timeout):
    if timeout is not None and not isinstance(timeout, (int, float)):
        raise UsageError(f"timeout must be a number of seconds or None, got {timeout!r}")
    if timeout is not None and timeout != timeout:
        raise UsageError("timeout is NaN: give a number of seconds, or None for no deadline")


class _MultiCallable:
    __slots__ = ("_channel", "_method", "_serializer", "_deserializer")
    # Subscriptable in annotations, as grpc.aio's (UnaryUnaryMultiCallable[Req, Resp]).
    __class_getitem__ = classmethod(types.GenericAlias)

    def __init__(self, channel, method, request_serializer, response_deserializer):
        self._channel = channel
        self._method = method
        self._serializer = request_serializer
        self._deserializer = message_reader(response_deserializer)

    def _invoke(self, call_class, request, timeout, metadata, credentials, wait_for_ready,
                compression):
        # The common cases (no timeout, a plain float) skip the checks; NaN != NaN sends it there.
        if timeout is not None and (type(timeout) is not float or timeout != timeout):
            _check_call_options(timeout)
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
            self._deserializer, timeout, as_pairs(metadata), bool(wait_for_ready),
            channel._compression if compression is None else compression_value(compression),
        )

    def _invoke_with_credentials(self, call_class, state, method, request, timeout, metadata,
                                 credentials, wait_for_ready, compression):
        # The call starts held in the engine (its deadline running) until the plugins answer.
        channel = self._channel
        call_credentials = check_call_credentials(channel, credentials)
        call = call_class(
            state, channel, method, request, self._serializer,
            self._deserializer, timeout, as_pairs(metadata), bool(wait_for_ready),
            compression, awaits_metadata=True,
        )
        if call._call_id and call._code is None:
            fetch_call_metadata(call, channel, method, call_credentials)
        return call

    def __repr__(self):
        return f"<{type(self).__name__} {self._method}>"


class UnaryUnaryMultiCallable(_MultiCallable):
    """Starts unary-unary calls.

    Example::

        say_hello = channel.unary_unary("/helloworld.Greeter/SayHello",
                                        request_serializer=HelloRequest.SerializeToString,
                                        response_deserializer=HelloReply.FromString)
        reply = await say_hello(HelloRequest(name="you"), timeout=1)
    """

    __slots__ = ()

    def __call__(self, request, *, timeout=None, metadata=None, credentials=None,
                 wait_for_ready=None, compression=None):
        return self._invoke(UnaryUnaryCall, request, timeout, metadata, credentials,
                            wait_for_ready, compression)


class UnaryStreamMultiCallable(_MultiCallable):
    """Starts unary-stream calls.

    Example::

        async for feature in channel.unary_stream("/routeguide.RouteGuide/ListFeatures")(raw):
            ...
    """

    __slots__ = ()

    def __call__(self, request, *, timeout=None, metadata=None, credentials=None,
                 wait_for_ready=None, compression=None):
        return self._invoke(UnaryStreamCall, request, timeout, metadata, credentials,
                            wait_for_ready, compression)


class StreamUnaryMultiCallable(_MultiCallable):
    """Starts stream-unary calls.

    Example::

        summary = await channel.stream_unary("/routeguide.RouteGuide/RecordRoute")(points)
    """

    __slots__ = ()

    def __call__(self, request_iterator=None, timeout=None, metadata=None, credentials=None,
                 wait_for_ready=None, compression=None):
        return self._invoke(StreamUnaryCall, request_iterator, timeout, metadata, credentials,
                            wait_for_ready, compression)


class StreamStreamMultiCallable(_MultiCallable):
    """Starts stream-stream calls.

    Example::

        call = channel.stream_stream("/routeguide.RouteGuide/RouteChat")()
        await call.write(b"...")
    """

    __slots__ = ()

    def __call__(self, request_iterator=None, timeout=None, metadata=None, credentials=None,
                 wait_for_ready=None, compression=None):
        return self._invoke(StreamStreamCall, request_iterator, timeout, metadata, credentials,
                            wait_for_ready, compression)


# -- with client interceptors ------------------------------------------------------------

_new_object = object.__new__


class _Intercepting:
    """What the four intercepting multicallables add to theirs: the interceptors (each one's
    intercept_<kind> method, bound once) and the path as ClientCallDetails gives it. The call
    objects (_intercepted_call.py) run the chain and start the RPC the last continuation
    asks for."""

    __slots__ = ()

    def _setup(self, interceptors):
        self._intercepts = tuple(getattr(each, self._intercept_name) for each in interceptors)
        self._method_bytes = self._method.encode("utf-8")  # ClientCallDetails.method

    @staticmethod
    def _checked_timeout(timeout):
        """A timeout an interceptor passed on, checked as a caller's is; float seconds."""
        _check_call_options(timeout)
        return float(timeout)


class InterceptingUnaryUnaryMultiCallable(_Intercepting, UnaryUnaryMultiCallable):
    """A UnaryUnaryMultiCallable whose calls run through the channel's interceptors."""

    __slots__ = ("_intercepts", "_method_bytes")
    _intercept_name = "intercept_unary_unary"

    def __call__(self, request, *, timeout=None, metadata=None, credentials=None,
                 wait_for_ready=None, compression=None):
        channel = self._channel
        call = _new_object(InterceptedUnaryUnaryCall)
        call._run_chain(
            self, channel._loop_state(), request, timeout, metadata, credentials, wait_for_ready,
            channel._compression if compression is None else compression_value(compression))
        return call


class InterceptingUnaryStreamMultiCallable(_Intercepting, UnaryStreamMultiCallable):
    """A UnaryStreamMultiCallable whose calls run through the channel's interceptors."""

    __slots__ = ("_intercepts", "_method_bytes")
    _intercept_name = "intercept_unary_stream"

    def __call__(self, request, *, timeout=None, metadata=None, credentials=None,
                 wait_for_ready=None, compression=None):
        channel = self._channel
        call = _new_object(InterceptedUnaryStreamCall)
        call._run_chain(
            self, channel._loop_state(), request, timeout, metadata, credentials, wait_for_ready,
            channel._compression if compression is None else compression_value(compression))
        return call


class InterceptingStreamUnaryMultiCallable(_Intercepting, StreamUnaryMultiCallable):
    """A StreamUnaryMultiCallable whose calls run through the channel's interceptors."""

    __slots__ = ("_intercepts", "_method_bytes")
    _intercept_name = "intercept_stream_unary"

    def __call__(self, request_iterator=None, timeout=None, metadata=None, credentials=None,
                 wait_for_ready=None, compression=None):
        channel = self._channel
        call = _new_object(InterceptedStreamUnaryCall)
        call._run_chain(
            self, channel._loop_state(), request_iterator, timeout, metadata, credentials,
            wait_for_ready,
            channel._compression if compression is None else compression_value(compression))
        return call


class InterceptingStreamStreamMultiCallable(_Intercepting, StreamStreamMultiCallable):
    """A StreamStreamMultiCallable whose calls run through the channel's interceptors."""

    __slots__ = ("_intercepts", "_method_bytes")
    _intercept_name = "intercept_stream_stream"

    def __call__(self, request_iterator=None, timeout=None, metadata=None, credentials=None,
                 wait_for_ready=None, compression=None):
        channel = self._channel
        call = _new_object(InterceptedStreamStreamCall)
        call._run_chain(
            self, channel._loop_state(), request_iterator, timeout, metadata, credentials,
            wait_for_ready,
            channel._compression if compression is None else compression_value(compression))
        return call


_PLAIN = (UnaryUnaryMultiCallable, UnaryStreamMultiCallable, StreamUnaryMultiCallable,
          StreamStreamMultiCallable)
_INTERCEPTING = (InterceptingUnaryUnaryMultiCallable, InterceptingUnaryStreamMultiCallable,
                 InterceptingStreamUnaryMultiCallable, InterceptingStreamStreamMultiCallable)


def intercepting_multicallable(kind, interceptors, channel, method, request_serializer,
                               response_deserializer):
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
