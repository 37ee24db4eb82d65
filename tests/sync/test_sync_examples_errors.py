"""grpc's error examples with the module injected (see test_sync_examples.py): a plain error
(``context.abort(code, details)``, or ``set_code``/``set_details``) read back with ``code()`` and
``details()``, and the rich status of grpcio-status: the server aborts with
``rpc_status.to_status(google.rpc.status_pb2.Status(...))`` carrying a packed QuotaFailure, the
client gets it back with ``rpc_status.from_call(rpc_error)`` and unpacks it, on a unary call and
on a response stream."""

from __future__ import annotations


import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from sync.test_sync_examples import (MODULE_PAIRS, helloworld_pb2, helloworld_pb2_grpc,
                                     route_guide_pb2, route_guide_pb2_grpc, running, start_server)

pytestmark = MODULE_PAIRS


# -- a plain error ---------------------------------------------------------------------------

def serve_plain_errors(grpc):
    class Greeter(helloworld_pb2_grpc.GreeterServicer):
        def SayHello(self, request, context):
            if not request.name:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "name must not be empty")
            if request.name == "set":
                context.set_code(grpc.StatusCode.FAILED_PRECONDITION)
                context.set_details("set, not aborted")
                return helloworld_pb2.HelloReply()
            return helloworld_pb2.HelloReply(message=f"Hello, {request.name}!")

    return start_server(grpc, greeter=Greeter())


def test_plain_error(client_grpc, server_grpc):
    with running(serve_plain_errors, server_grpc) as target:
        grpc = client_grpc
        with grpc.insecure_channel(target) as channel:
            stub = helloworld_pb2_grpc.GreeterStub(channel)
            try:
                stub.SayHello(helloworld_pb2.HelloRequest(name=""), timeout=5)
            except grpc.RpcError as rpc_error:
                error = rpc_error
            else:
                pytest.fail("no RpcError")
            assert isinstance(error, grpc.Call)
            assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert error.details() == "name must not be empty"

            future = stub.SayHello.future(helloworld_pb2.HelloRequest(name="set"), timeout=5)
            error = future.exception(timeout=5)
            assert isinstance(error, grpc.RpcError)
            assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
            assert error.details() == "set, not aborted"
            assert future.code() is grpc.StatusCode.FAILED_PRECONDITION
            with pytest.raises(grpc.RpcError):
                future.result(timeout=5)

            # The channel still works after errors.
            assert stub.SayHello(helloworld_pb2.HelloRequest(name="ok"), timeout=5).message == \
                "Hello, ok!"


# -- rich status (grpcio-status) -------------------------------------------------------------

def create_greet_limit_exceed_error_status(name):
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.QuotaFailure(violations=[
        error_details_pb2.QuotaFailure.Violation(subject=f"name: {name}",
                                                 description="Limit one greeting per person"),
    ]))
    return status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message="Request limit exceeded.",
                             details=[detail])


def serve_rich_errors(grpc):
    class LimitedGreeter(helloworld_pb2_grpc.GreeterServicer):
        def __init__(self):
            self.greeted = set()

        def SayHello(self, request, context):
            if request.name in self.greeted:
                context.abort_with_status(rpc_status.to_status(
                    create_greet_limit_exceed_error_status(request.name)))
            self.greeted.add(request.name)
            return helloworld_pb2.HelloReply(message=f"Hello, {request.name}!")

    class RouteGuide(route_guide_pb2_grpc.RouteGuideServicer):
        def ListFeatures(self, request, context):
            yield route_guide_pb2.Feature(name="the only one")
            bad_request = error_details_pb2.BadRequest(field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field="hi",
                                                            description="rectangle too large")])
            detail = any_pb2.Any()
            detail.Pack(bad_request)
            context.abort_with_status(rpc_status.to_status(status_pb2.Status(
                code=code_pb2.OUT_OF_RANGE, message="stopped after one", details=[detail])))

    return start_server(grpc, greeter=LimitedGreeter(), route_guide=RouteGuide())


def test_rich_status(client_grpc, server_grpc):
    with running(serve_rich_errors, server_grpc) as target:
        grpc = client_grpc
        with grpc.insecure_channel(target) as channel:
            stub = helloworld_pb2_grpc.GreeterStub(channel)
            assert stub.SayHello(helloworld_pb2.HelloRequest(name="Alice"), timeout=5).message == \
                "Hello, Alice!"
            try:
                stub.SayHello(helloworld_pb2.HelloRequest(name="Alice"), timeout=5)
            except grpc.RpcError as rpc_error:
                assert rpc_error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
                assert rpc_error.details() == "Request limit exceeded."
                status = rpc_status.from_call(rpc_error)
            else:
                pytest.fail("no RpcError")
            assert status is not None
            assert (status.code, status.message) == (code_pb2.RESOURCE_EXHAUSTED,
                                                     "Request limit exceeded.")
            violations = []
            for detail in status.details:
                assert detail.Is(error_details_pb2.QuotaFailure.DESCRIPTOR)
                info = error_details_pb2.QuotaFailure()
                assert detail.Unpack(info)
                violations.extend((v.subject, v.description) for v in info.violations)
            assert violations == [("name: Alice", "Limit one greeting per person")]

            guide = route_guide_pb2_grpc.RouteGuideStub(channel)
            received = []
            with pytest.raises(grpc.RpcError) as info:
                for feature in guide.ListFeatures(route_guide_pb2.Rectangle(), timeout=5):
                    received.append(feature.name)
            assert received == ["the only one"]
            assert info.value.code() is grpc.StatusCode.OUT_OF_RANGE
            status = rpc_status.from_call(info.value)
            assert status is not None and status.message == "stopped after one"
            bad_request = error_details_pb2.BadRequest()
            assert len(status.details) == 1 and status.details[0].Unpack(bad_request)
            assert [(v.field, v.description) for v in bad_request.field_violations] == [
                ("hi", "rectangle too large")]
