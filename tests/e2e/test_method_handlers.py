"""grpc's module-level handler helpers from turbogrpc (unary_unary_rpc_method_handler ...,
method_handlers_generic_handler): every shape serves on our server and on grpc.aio's, and a
server written against ``turbogrpc`` alone needs no ``grpc`` import."""

from __future__ import annotations

import grpc
import pytest

import turbogrpc

SERVICE = "test.Helpers"


async def _unary(request, context):
    return request + b"!"


async def _server_stream(request, context):
    for index in range(3):
        yield request + str(index).encode()


async def _client_stream(request_iterator, context):
    return b"+".join([item async for item in request_iterator])


async def _bidi(request_iterator, context):
    async for item in request_iterator:
        yield item.upper()


def _generic_handler():
    return turbogrpc.method_handlers_generic_handler(SERVICE, {
        "U": turbogrpc.unary_unary_rpc_method_handler(_unary),
        "SS": turbogrpc.unary_stream_rpc_method_handler(_server_stream),
        "CS": turbogrpc.stream_unary_rpc_method_handler(_client_stream),
        "B": turbogrpc.stream_stream_rpc_method_handler(_bidi),
    })


async def _requests(*items):
    for item in items:
        yield item


async def test_every_shape_serves_through_turbogrpcs_helpers(pairing):
    async with pairing.env([_generic_handler()]) as env:
        assert await env.uu("U", SERVICE)(b"hi") == b"hi!"
        assert [m async for m in env.us("SS", SERVICE)(b"n")] == [b"n0", b"n1", b"n2"]
        assert await env.su("CS", SERVICE)(_requests(b"a", b"b")) == b"a+b"
        assert [m async for m in env.ss("B", SERVICE)(_requests(b"x", b"y"))] == [b"X", b"Y"]


def test_the_records_have_grpcs_fields_and_count_as_grpcs_classes():
    behavior = object()
    made = {
        turbogrpc.unary_unary_rpc_method_handler: (False, False, "unary_unary"),
        turbogrpc.unary_stream_rpc_method_handler: (False, True, "unary_stream"),
        turbogrpc.stream_unary_rpc_method_handler: (True, False, "stream_unary"),
        turbogrpc.stream_stream_rpc_method_handler: (True, True, "stream_stream"),
    }
    for make, (request_streaming, response_streaming, slot) in made.items():
        handler = make(behavior, bytes.decode, str.encode)
        assert (handler.request_streaming, handler.response_streaming) == (
            request_streaming, response_streaming)
        assert handler.request_deserializer is bytes.decode
        assert handler.response_serializer is str.encode
        for name in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
            assert getattr(handler, name) is (behavior if name == slot else None)
        assert isinstance(handler, turbogrpc.RpcMethodHandler)
        assert isinstance(handler, grpc.RpcMethodHandler)
    generic = _generic_handler()
    assert generic.service_name() == SERVICE
    assert isinstance(generic, (turbogrpc.ServiceRpcHandler, grpc.ServiceRpcHandler))
    assert isinstance(generic, grpc.GenericRpcHandler)

    class Details(turbogrpc.HandlerCallDetails):
        def __init__(self, method):
            self.method = method
            self.invocation_metadata = ()

    assert generic.service(Details(f"/{SERVICE}/U")).unary_unary is _unary
    assert generic.service(Details(f"/{SERVICE}/Nope")) is None
    assert generic.service(Details("/other.Service/U")) is None


def test_abstract_handlers_cannot_be_made_without_their_methods():
    with pytest.raises(TypeError):
        turbogrpc.GenericRpcHandler()
    with pytest.raises(TypeError):
        turbogrpc.ServiceRpcHandler()
