"""The grpc.testing.TestService behaviours the interop test descriptions require.

Registered through turbogrpc's own API (duck-typed method handlers), so nothing here imports
grpcio. ``add_test_service(server, messages_pb2, empty_pb2)`` registers every method except
UnimplementedCall, which therefore ends UNIMPLEMENTED as the descriptions demand.
"""

import asyncio
import collections

from turbogrpc import aio

__all__ = ["add_test_service", "SERVICE"]

SERVICE = "grpc.testing.TestService"
ECHO_INITIAL = "x-grpc-test-echo-initial"
ECHO_TRAILING = "x-grpc-test-echo-trailing-bin"

# The shape turbogrpc's server expects of a method handler (the same as grpcio's).
MethodHandler = collections.namedtuple("MethodHandler", (
    "request_streaming", "response_streaming", "request_deserializer", "response_serializer",
    "unary_unary", "unary_stream", "stream_unary", "stream_stream",
))


def _handler(kind, behaviour, request_class, response_class):
    request_streaming = kind in ("stream_unary", "stream_stream")
    response_streaming = kind in ("unary_stream", "stream_stream")
    behaviours = dict.fromkeys(("unary_unary", "unary_stream", "stream_unary", "stream_stream"))
    behaviours[kind] = behaviour
    return MethodHandler(request_streaming, response_streaming, request_class.FromString,
                         response_class.SerializeToString, **behaviours)


async def _echo_metadata(context):
    """Echoes the test's metadata keys: initial into initial, trailing-bin into trailing."""
    initial, trailing = [], []
    for key, value in context.invocation_metadata():
        if key == ECHO_INITIAL:
            initial.append((key, value))
        elif key == ECHO_TRAILING:
            trailing.append((key, value))
    if initial:
        await context.send_initial_metadata(initial)
    if trailing:
        context.set_trailing_metadata(trailing)


async def _check_compression(expect_field, context):
    """INVALID_ARGUMENT when the request's compressed flag differs from what it expects.

    Only when the client set the field: peers that never heard of it send it unset.
    """
    expected = expect_field.value
    compressed = context.last_request_compressed()
    if expected and not compressed:
        await context.abort(aio.StatusCode.INVALID_ARGUMENT,
                            "Expected compressed request but got uncompressed one")
    if compressed and not expected:
        await context.abort(aio.StatusCode.INVALID_ARGUMENT,
                            "Expected uncompressed request but got compressed one")


async def _abort_with_echo_status(request, context):
    status = request.response_status
    if request.HasField("response_status") and status.code != 0:
        await context.abort(status.code, status.message)


class TestService:
    """The behaviours; one instance serves every call."""

    def __init__(self, messages_pb2, empty_pb2):
        self._messages = messages_pb2
        self._empty = empty_pb2

    def _payload(self, size):
        return self._messages.Payload(type=self._messages.COMPRESSABLE, body=bytes(size))

    def _stream_response(self, size):
        return self._messages.StreamingOutputCallResponse(payload=self._payload(size))

    async def empty_call(self, request, context):
        await _echo_metadata(context)
        return self._empty.Empty()

    async def unary_call(self, request, context):
        # The compression choice comes first: it must precede the response headers.
        if request.HasField("response_compressed"):
            if request.response_compressed.value:
                context.set_compression(aio.Compression.Gzip)
            else:
                context.disable_next_message_compression()
        await _echo_metadata(context)
        if request.HasField("expect_compressed"):
            await _check_compression(request.expect_compressed, context)
        await _abort_with_echo_status(request, context)
        return self._messages.SimpleResponse(payload=self._payload(request.response_size))

    async def streaming_output_call(self, request, context):
        # Compression is chosen for the whole call before the response headers go out;
        # single messages then opt out (see _send_one).
        if any(parameters.HasField("compressed") for parameters in request.response_parameters):
            context.set_compression(aio.Compression.Gzip)
        await _echo_metadata(context)
        for parameters in request.response_parameters:
            await self._send_one(parameters, context)
        await _abort_with_echo_status(request, context)

    async def _send_one(self, parameters, context):
        if parameters.interval_us > 0:
            await asyncio.sleep(parameters.interval_us / 1e6)
        if parameters.HasField("compressed") and not parameters.compressed.value:
            # compressed=true needs gzip set for the call before the headers: only
            # StreamingOutputCall can (duplex calls send their headers before any request).
            context.disable_next_message_compression()
        await context.write(self._stream_response(parameters.size))

    async def streaming_input_call(self, request_iterator, context):
        await _echo_metadata(context)
        total = 0
        async for request in request_iterator:
            if request.HasField("expect_compressed"):
                await _check_compression(request.expect_compressed, context)
            total += len(request.payload.body)
        return self._messages.StreamingInputCallResponse(aggregated_payload_size=total)

    async def full_duplex_call(self, request_iterator, context):
        await _echo_metadata(context)
        async for request in request_iterator:
            await _abort_with_echo_status(request, context)
            for parameters in request.response_parameters:
                await self._send_one(parameters, context)

    async def half_duplex_call(self, request_iterator, context):
        await _echo_metadata(context)
        requests = [request async for request in request_iterator]
        for request in requests:
            await _abort_with_echo_status(request, context)
            for parameters in request.response_parameters:
                await self._send_one(parameters, context)


def add_test_service(server, messages_pb2, empty_pb2):
    """Registers TestService's implemented methods on a turbogrpc server."""
    service = TestService(messages_pb2, empty_pb2)
    m, e = messages_pb2, empty_pb2
    server.add_registered_method_handlers(SERVICE, {
        "EmptyCall": _handler("unary_unary", service.empty_call, e.Empty, e.Empty),
        "UnaryCall": _handler("unary_unary", service.unary_call, m.SimpleRequest,
                              m.SimpleResponse),
        # No HTTP caching on our side: answered like UnaryCall.
        "CacheableUnaryCall": _handler("unary_unary", service.unary_call, m.SimpleRequest,
                                       m.SimpleResponse),
        "StreamingOutputCall": _handler("unary_stream", service.streaming_output_call,
                                        m.StreamingOutputCallRequest,
                                        m.StreamingOutputCallResponse),
        "StreamingInputCall": _handler("stream_unary", service.streaming_input_call,
                                       m.StreamingInputCallRequest,
                                       m.StreamingInputCallResponse),
        "FullDuplexCall": _handler("stream_stream", service.full_duplex_call,
                                   m.StreamingOutputCallRequest,
                                   m.StreamingOutputCallResponse),
        "HalfDuplexCall": _handler("stream_stream", service.half_duplex_call,
                                   m.StreamingOutputCallRequest,
                                   m.StreamingOutputCallResponse),
    })
