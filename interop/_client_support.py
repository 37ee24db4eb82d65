"""What every interop client case uses: the stubs (built without grpcio), checks, constants.

A case is ``async def case(env)``; it raises CaseFailed with a message saying what differed.
"""

import asyncio

from turbogrpc import aio

__all__ = ["CaseFailed", "Env", "TestServiceStub", "check", "expect_code", "expect_zeros",
           "finish_quietly", "CALL_TIMEOUT"]

CALL_TIMEOUT = 30.0  # generous, so a hang ends as a failure rather than a stuck CI job
_SERVICE_PATH = "/grpc.testing.TestService/"
UNIMPLEMENTED_SERVICE_METHOD = "/grpc.testing.UnimplementedService/UnimplementedCall"


class CaseFailed(Exception):
    """An interop assertion failed; the message says what was expected and what came."""


def check(condition, message):
    if not condition:
        raise CaseFailed(message)


def expect_zeros(payload, size, what):
    """The payload body is ``size`` zero bytes."""
    body = payload.body
    check(len(body) == size, f"{what}: payload of {len(body)} bytes, expected {size}")
    check(body == bytes(size), f"{what}: payload of {size} bytes is not all zeros")


async def expect_code(call, code, what, details=None):
    """Waits for ``call`` to end and checks its status (and details when given)."""
    got = await call.code()
    got_details = await call.details()
    check(got == code, f"{what}: status {got} ({got_details!r}), expected {code}")
    if details is not None:
        check(got_details == details, f"{what}: details {got_details!r}, expected {details!r}")


async def finish_quietly(awaitable):
    """Awaits a call step whose own failure the case checks later through the status."""
    try:
        await awaitable
    except (aio.AioRpcError, asyncio.InvalidStateError, asyncio.CancelledError):
        pass


class TestServiceStub:
    """grpc.testing.TestService's methods as turbogrpc multicallables (attribute per method)."""

    def __init__(self, channel, messages_pb2, empty_pb2):
        m, e = messages_pb2, empty_pb2
        self.EmptyCall = self._method(channel.unary_unary, "EmptyCall", e.Empty, e.Empty)
        self.UnaryCall = self._method(channel.unary_unary, "UnaryCall", m.SimpleRequest,
                                      m.SimpleResponse)
        self.StreamingOutputCall = self._method(
            channel.unary_stream, "StreamingOutputCall", m.StreamingOutputCallRequest,
            m.StreamingOutputCallResponse)
        self.StreamingInputCall = self._method(
            channel.stream_unary, "StreamingInputCall", m.StreamingInputCallRequest,
            m.StreamingInputCallResponse)
        self.FullDuplexCall = self._method(
            channel.stream_stream, "FullDuplexCall", m.StreamingOutputCallRequest,
            m.StreamingOutputCallResponse)
        self.HalfDuplexCall = self._method(
            channel.stream_stream, "HalfDuplexCall", m.StreamingOutputCallRequest,
            m.StreamingOutputCallResponse)
        self.UnimplementedCall = self._method(channel.unary_unary, "UnimplementedCall",
                                              e.Empty, e.Empty)
        # The service the server does not have at all.
        self.UnimplementedServiceCall = channel.unary_unary(
            UNIMPLEMENTED_SERVICE_METHOD, request_serializer=e.Empty.SerializeToString,
            response_deserializer=e.Empty.FromString)

    @staticmethod
    def _method(factory, name, request_class, response_class):
        return factory(_SERVICE_PATH + name, request_serializer=request_class.SerializeToString,
                       response_deserializer=response_class.FromString)


class Env:
    """What a case gets: the stub and the message modules (plus small request builders)."""

    def __init__(self, stub, messages_pb2, empty_pb2):
        self.stub = stub
        self.messages = messages_pb2
        self.empty = empty_pb2

    def payload(self, size):
        return self.messages.Payload(type=self.messages.COMPRESSABLE, body=bytes(size))

    def simple_request(self, response_size, payload_size, **fields):
        return self.messages.SimpleRequest(
            response_type=self.messages.COMPRESSABLE, response_size=response_size,
            payload=self.payload(payload_size), **fields)

    def streaming_output_request(self, sizes, payload_size=None, **fields):
        request = self.messages.StreamingOutputCallRequest(
            response_type=self.messages.COMPRESSABLE, **fields)
        for size in sizes:
            request.response_parameters.add(size=size)
        if payload_size is not None:
            request.payload.CopyFrom(self.payload(payload_size))
        return request
