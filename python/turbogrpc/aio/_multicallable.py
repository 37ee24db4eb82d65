"""Multicallables: what ``channel.unary_unary(...)`` returns and generated stubs call.

``__call__`` is the client hot path: find the loop state, normalise metadata, build the
call (which submits its first command at once). No Task is created for unary calls.
"""

from .._errors import UsageError
from ._call import UnaryUnaryCall
from ._compression import compression_value
from ._message_reader import message_reader
from ._metadata import as_pairs
from ._security import check_call_credentials, fetch_call_metadata
from ._stream_call import StreamStreamCall, StreamUnaryCall, UnaryStreamCall

__all__ = [
    "UnaryUnaryMultiCallable", "UnaryStreamMultiCallable",
    "StreamUnaryMultiCallable", "StreamStreamMultiCallable",
]


def _check_call_options(timeout):
    if timeout is not None and not isinstance(timeout, (int, float)):
        raise UsageError(f"timeout must be a number of seconds or None, got {timeout!r}")
    if timeout is not None and timeout != timeout:
        raise UsageError("timeout is NaN: give a number of seconds, or None for no deadline")


class _MultiCallable:
    __slots__ = ("_channel", "_method", "_serializer", "_deserializer")

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
                call_class, state, request, timeout, metadata, credentials, wait_for_ready,
                compression)
        return call_class(
            state, channel, self._method, request, self._serializer,
            self._deserializer, timeout, as_pairs(metadata), bool(wait_for_ready),
            channel._compression if compression is None else compression_value(compression),
        )

    def _invoke_with_credentials(self, call_class, state, request, timeout, metadata,
                                 credentials, wait_for_ready, compression):
        # The call starts held in the engine (its deadline running) until the plugins answer.
        channel = self._channel
        call_credentials = check_call_credentials(channel, credentials)
        call = call_class(
            state, channel, self._method, request, self._serializer,
            self._deserializer, timeout, as_pairs(metadata), bool(wait_for_ready),
            channel._compression if compression is None else compression_value(compression),
            awaits_metadata=True,
        )
        if call._call_id and call._code is None:
            fetch_call_metadata(call, channel, self._method, call_credentials)
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
