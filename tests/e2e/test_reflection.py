"""gRPC server reflection end to end (grpc.reflection.v1alpha, which every implementation has):
list_services, file_by_filename, file_containing_symbol, file_containing_extension,
all_extension_numbers_of_type, and the errors, answered in the stream.

Two servicers, each served by both servers and called by both clients: ours
(turbogrpc.reflection) and grpcio-reflection's asyncio one — which must keep working on our
server, and which validates these tests in TURBOGRPC_TESTS_GRPC_ONLY=1 mode. The descriptors
come from protobuf's default pool: the generated e2e_echo_pb2 and two proto2 files with
extensions added below. v1 and what only ours does: test_reflection_ours.py.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import e2e_echo_pb2
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, text_format
from google.protobuf import timestamp_pb2  # noqa: F401 - reflection_base.proto imports it
from grpc_reflection.v1alpha import reflection as grpcio_reflection
from grpc_reflection.v1alpha import reflection_pb2 as v1alpha_pb2

from e2e.helpers import GRPC_ONLY, code_name

IMPLS = ["grpcio"] if GRPC_ONLY else ["ours", "grpcio"]
ECHO_SERVICE = e2e_echo_pb2.DESCRIPTOR.services_by_name["Echo"].full_name  # turbogrpc.e2e.Echo
V1ALPHA = "grpc.reflection.v1alpha.ServerReflection"
LISTED = [ECHO_SERVICE, V1ALPHA, "grpc.health.v1.Health"]
READ_TIMEOUT = 5.0
NOT_FOUND, INVALID_ARGUMENT = (5, "not found"), (3, "invalid argument")

# Two proto2 files in the default pool: an extendable message (importing a well-known type)
# and a file extending it, at top level and inside a message (importing the same well-known
# type too: a diamond, each file sent once).
BASE_FILE = "turbogrpc_tests/reflection_base.proto"
EXT_FILE = "turbogrpc_tests/reflection_ext.proto"
EXTENDABLE = "turbogrpc.reflection_test.Extendable"
_TEST_FILES = {
    BASE_FILE: """
        name: "turbogrpc_tests/reflection_base.proto"
        package: "turbogrpc.reflection_test"
        syntax: "proto2"
        dependency: "google/protobuf/timestamp.proto"
        message_type {
          name: "Extendable"
          field { name: "when" number: 1 label: LABEL_OPTIONAL type: TYPE_MESSAGE
                  type_name: ".google.protobuf.Timestamp" }
          extension_range { start: 100 end: 200 }
        }""",
    EXT_FILE: """
        name: "turbogrpc_tests/reflection_ext.proto"
        package: "turbogrpc.reflection_test"
        syntax: "proto2"
        dependency: "turbogrpc_tests/reflection_base.proto"
        dependency: "google/protobuf/timestamp.proto"
        extension { name: "ext_a" number: 100 label: LABEL_OPTIONAL type: TYPE_INT32
                    extendee: ".turbogrpc.reflection_test.Extendable" }
        extension { name: "ext_b" number: 150 label: LABEL_OPTIONAL type: TYPE_STRING
                    extendee: ".turbogrpc.reflection_test.Extendable" }
        message_type {
          name: "Holder"
          extension { name: "nested" number: 120 label: LABEL_OPTIONAL type: TYPE_MESSAGE
                      type_name: ".turbogrpc.reflection_test.Holder"
                      extendee: ".turbogrpc.reflection_test.Extendable" }
        }""",
}


def _add_test_files():
    pool = descriptor_pool.Default()
    for name, text in _TEST_FILES.items():
        try:
            pool.FindFileByName(name)
        except KeyError:
            proto = text_format.Parse(text, descriptor_pb2.FileDescriptorProto())
            pool.AddSerializedFile(proto.SerializeToString())


_add_test_files()


def reflection_impl(name: str) -> SimpleNamespace:
    """`register(service_names)`: the callable Pairing.serve takes."""
    if name == "ours":
        from turbogrpc import reflection  # noqa: PLC0415 - not importable in grpc-only mode

        enable = reflection.enable_server_reflection
    else:
        enable = grpcio_reflection.enable_server_reflection
    return SimpleNamespace(name=name,
                           register=lambda names: (lambda server: enable(names, server)))


@pytest.fixture(params=IMPLS)
def impl(request) -> SimpleNamespace:
    return reflection_impl(request.param)


async def ask(channel, requests, pb=v1alpha_pb2, service=V1ALPHA):
    """Sends `requests` on one ServerReflectionInfo stream, one at a time, and returns the
    answers; checks the stream then ends OK."""
    call = channel.stream_stream(
        f"/{service}/ServerReflectionInfo",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=pb.ServerReflectionResponse.FromString)()
    answers = []
    for request in requests:
        await call.write(request)
        answers.append(await asyncio.wait_for(call.read(), READ_TIMEOUT))
    await call.done_writing()
    assert code_name(await asyncio.wait_for(call.code(), READ_TIMEOUT)) == "OK"
    return answers


def file_names(answer) -> list[str]:
    assert answer.WhichOneof("message_response") == "file_descriptor_response", answer
    return [descriptor_pb2.FileDescriptorProto.FromString(b).name
            for b in answer.file_descriptor_response.file_descriptor_proto]


def error_of(answer) -> tuple[int, str]:
    assert answer.WhichOneof("message_response") == "error_response", answer
    return answer.error_response.error_code, answer.error_response.error_message


async def test_list_services(pairing, impl):
    async with pairing.env(impl.register(LISTED)) as env:
        request = v1alpha_pb2.ServerReflectionRequest(list_services="*")
        [answer] = await ask(env.channel, [request])
        assert [s.name for s in answer.list_services_response.service] == sorted(LISTED)
        assert answer.original_request == request


async def test_file_containing_symbol(pairing, impl):
    async with pairing.env(impl.register(LISTED)) as env:
        # (methods too, for ours only: test_reflection_ours.py)
        symbols = [ECHO_SERVICE, "turbogrpc.e2e.EchoRequest", "turbogrpc.e2e.EchoReply.blob"]
        requests = [v1alpha_pb2.ServerReflectionRequest(file_containing_symbol=s)
                    for s in symbols]
        answers = await ask(env.channel, requests)
        for request, answer in zip(requests, answers):
            assert file_names(answer) == ["e2e_echo.proto"]
            assert answer.original_request == request
        proto = descriptor_pb2.FileDescriptorProto.FromString(
            answers[0].file_descriptor_response.file_descriptor_proto[0])
        expected = descriptor_pb2.FileDescriptorProto()
        e2e_echo_pb2.DESCRIPTOR.CopyToProto(expected)
        assert proto == expected
        assert [m.name for m in proto.service[0].method] == [
            "Unary", "ServerStream", "ClientStream", "Bidi"]


async def test_file_by_filename_with_its_imports(pairing, impl):
    async with pairing.env(impl.register(LISTED)) as env:
        answers = await ask(env.channel, [
            v1alpha_pb2.ServerReflectionRequest(file_by_filename="e2e_echo.proto"),
            v1alpha_pb2.ServerReflectionRequest(file_by_filename=EXT_FILE),
            v1alpha_pb2.ServerReflectionRequest(file_by_filename="google/protobuf/timestamp.proto"),
        ])
        assert file_names(answers[0]) == ["e2e_echo.proto"]
        # The file first, then everything it imports, transitively.
        assert file_names(answers[1]) == [EXT_FILE, BASE_FILE, "google/protobuf/timestamp.proto"]
        assert file_names(answers[2]) == ["google/protobuf/timestamp.proto"]


async def test_extensions(pairing, impl):
    async with pairing.env(impl.register(LISTED)) as env:
        def extension(number):
            return v1alpha_pb2.ServerReflectionRequest(
                file_containing_extension=v1alpha_pb2.ExtensionRequest(
                    containing_type=EXTENDABLE, extension_number=number))

        numbers, top, nested, symbol = await ask(env.channel, [
            v1alpha_pb2.ServerReflectionRequest(all_extension_numbers_of_type=EXTENDABLE),
            extension(150), extension(120),
            v1alpha_pb2.ServerReflectionRequest(
                file_containing_symbol="turbogrpc.reflection_test.Holder.nested"),
        ])
        assert numbers.all_extension_numbers_response.base_type_name == EXTENDABLE
        assert list(numbers.all_extension_numbers_response.extension_number) == [100, 120, 150]
        for answer in (top, nested, symbol):
            assert file_names(answer) == [EXT_FILE, BASE_FILE, "google/protobuf/timestamp.proto"]


async def test_errors_are_answers_and_the_stream_goes_on(pairing, impl):
    async with pairing.env(impl.register(LISTED)) as env:
        bad = [
            v1alpha_pb2.ServerReflectionRequest(file_by_filename="no/such.proto"),
            v1alpha_pb2.ServerReflectionRequest(file_containing_symbol="no.such.Symbol"),
            v1alpha_pb2.ServerReflectionRequest(file_containing_symbol=""),
            v1alpha_pb2.ServerReflectionRequest(
                file_containing_extension=v1alpha_pb2.ExtensionRequest(
                    containing_type=EXTENDABLE, extension_number=101)),
            v1alpha_pb2.ServerReflectionRequest(
                file_containing_extension=v1alpha_pb2.ExtensionRequest(
                    containing_type="no.such.Type", extension_number=100)),
            v1alpha_pb2.ServerReflectionRequest(all_extension_numbers_of_type="no.such.Type"),
        ]
        empty = v1alpha_pb2.ServerReflectionRequest(host="somewhere")  # asks nothing
        after = v1alpha_pb2.ServerReflectionRequest(list_services="")
        answers = await ask(env.channel, [*bad, empty, after])
        for request, answer in zip(bad, answers):
            assert error_of(answer) == NOT_FOUND
            assert answer.original_request == request
        assert error_of(answers[len(bad)]) == INVALID_ARGUMENT
        assert answers[len(bad)].original_request == empty
        assert len(answers[-1].list_services_response.service) == len(LISTED)


async def test_many_requests_in_flight_answered_in_order(pairing, impl):
    async with pairing.env(impl.register(LISTED)) as env:
        call = env.channel.stream_stream(
            f"/{V1ALPHA}/ServerReflectionInfo",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=v1alpha_pb2.ServerReflectionResponse.FromString)()
        symbols = [ECHO_SERVICE, "no.such", BASE_FILE] * 20
        for s in symbols:
            await call.write(v1alpha_pb2.ServerReflectionRequest(file_containing_symbol=s))
        await call.done_writing()
        answers = [a async for a in call]
        assert [a.original_request.file_containing_symbol for a in answers] == symbols
        assert all(a.WhichOneof("message_response") == "error_response"
                   for a in answers if a.original_request.file_containing_symbol != ECHO_SERVICE)
        assert code_name(await call.code()) == "OK"


async def test_reflection_does_not_answer_other_services(pairing, impl):
    async with pairing.env(impl.register(LISTED)) as env:
        call = env.channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/Nope")()
        await call.done_writing()
        assert code_name(await asyncio.wait_for(call.code(), READ_TIMEOUT)) == "UNIMPLEMENTED"
