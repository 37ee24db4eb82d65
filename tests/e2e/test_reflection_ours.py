"""turbogrpc.reflection beyond what grpcio-reflection does: grpc.reflection.v1 next to v1alpha,
methods and oneofs as symbols, the built-in protos (health, reflection) always described, a
pool of one's own. Our servicer on both servers, called by both clients (ours_only)."""

from __future__ import annotations

import e2e_echo_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, text_format
from google.protobuf import struct_pb2  # noqa: F401 - google.protobuf.Value (a oneof) in the pool
from grpc_reflection.v1alpha import reflection_pb2 as grpcio_v1alpha_pb2

from e2e.helpers import GRPC_ONLY, ours_only
from e2e.test_reflection import ECHO_SERVICE, NOT_FOUND, ask, error_of, file_names

if not GRPC_ONLY:
    from turbogrpc import reflection
    from turbogrpc.reflection import v1, v1alpha

LISTED = [ECHO_SERVICE, "grpc.reflection.v1.ServerReflection"]


def register(names, pool=None):
    return lambda server: reflection.enable_server_reflection(names, server, pool=pool)


def private_pool():
    """A pool holding one file of its own, and nothing of the default pool."""
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(text_format.Parse(
        'name: "private.proto" package: "private" syntax: "proto3" '
        'message_type { name: "Thing" field { name: "id" number: 1 label: LABEL_OPTIONAL '
        'type: TYPE_INT64 } }', descriptor_pb2.FileDescriptorProto()).SerializeToString())
    return pool


@ours_only
async def test_v1_and_v1alpha_answer_alike(pairing):
    async with pairing.env(register(LISTED)) as env:
        questions = [
            dict(list_services=""),
            dict(file_containing_symbol=ECHO_SERVICE),
            dict(file_by_filename="e2e_echo.proto"),
            dict(file_containing_symbol="no.such.Symbol"),
            dict(),
        ]
        answers_v1 = await ask(env.channel, [v1.ServerReflectionRequest(**q) for q in questions],
                               pb=v1, service=reflection.SERVICE_NAME)
        answers_v1alpha = await ask(
            env.channel, [v1alpha.ServerReflectionRequest(**q) for q in questions],
            pb=v1alpha, service=reflection.SERVICE_NAME_V1ALPHA)
        assert all(isinstance(a, v1.ServerReflectionResponse) for a in answers_v1)
        # Same field numbers in both versions: the same bytes on the wire.
        assert [a.SerializeToString() for a in answers_v1] == [
            a.SerializeToString() for a in answers_v1alpha]
        assert [s.name for s in answers_v1[0].list_services_response.service] == sorted(LISTED)
        assert file_names(answers_v1[1]) == ["e2e_echo.proto"]
        assert error_of(answers_v1[3]) == NOT_FOUND
        assert error_of(answers_v1[4]) == (3, "invalid argument")


@ours_only
async def test_methods_and_oneofs_are_symbols(pairing):
    async with pairing.env(register(LISTED)) as env:
        symbols = [f"{ECHO_SERVICE}.Bidi", f"{ECHO_SERVICE}.Unary", "google.protobuf.Value.kind",
                   f"{ECHO_SERVICE}.NoSuchMethod", "google.protobuf.Value.no_such_oneof"]
        answers = await ask(env.channel, [v1.ServerReflectionRequest(file_containing_symbol=s)
                                          for s in symbols], pb=v1, service=reflection.SERVICE_NAME)
        assert file_names(answers[0]) == ["e2e_echo.proto"]
        assert file_names(answers[1]) == ["e2e_echo.proto"]
        assert file_names(answers[2]) == ["google/protobuf/struct.proto"]
        assert error_of(answers[3]) == NOT_FOUND
        assert error_of(answers[4]) == NOT_FOUND


@ours_only
async def test_a_pool_of_ones_own_plus_the_built_in_protos(pairing):
    async with pairing.env(register(["private.Thing"], pool=private_pool())) as env:
        answers = await ask(env.channel, [
            v1.ServerReflectionRequest(file_containing_symbol="private.Thing"),
            v1.ServerReflectionRequest(file_containing_symbol=ECHO_SERVICE),  # default pool
            v1.ServerReflectionRequest(file_containing_symbol="grpc.health.v1.Health.Watch"),
            v1.ServerReflectionRequest(file_containing_symbol="grpc.reflection.v1.ServerReflection"),
            v1.ServerReflectionRequest(file_by_filename="grpc/reflection/v1alpha/reflection.proto"),
            v1.ServerReflectionRequest(
                all_extension_numbers_of_type="grpc.health.v1.HealthCheckRequest"),
        ], pb=v1, service=reflection.SERVICE_NAME)
        assert file_names(answers[0]) == ["private.proto"]
        assert error_of(answers[1]) == NOT_FOUND
        assert file_names(answers[2]) == ["grpc/health/v1/health.proto"]
        assert file_names(answers[3]) == ["grpc/reflection/v1/reflection.proto"]
        assert file_names(answers[4]) == ["grpc/reflection/v1alpha/reflection.proto"]
        numbers = answers[5].all_extension_numbers_response
        assert numbers.base_type_name == "grpc.health.v1.HealthCheckRequest"
        assert list(numbers.extension_number) == []
        health_file = descriptor_pb2.FileDescriptorProto.FromString(
            answers[2].file_descriptor_response.file_descriptor_proto[0])
        assert [m.name for m in health_file.service[0].method] == ["Check", "List", "Watch"]


@ours_only
def test_answer_another_librarys_request_and_cache():
    servicer = reflection.ReflectionServicer([ECHO_SERVICE])
    # grpcio-reflection's request class: answered with v1's classes (same wire format).
    request = grpcio_v1alpha_pb2.ServerReflectionRequest(file_containing_symbol=ECHO_SERVICE)
    first = servicer.answer(request)
    assert isinstance(first, v1.ServerReflectionResponse)
    assert file_names(first) == ["e2e_echo.proto"]
    again = servicer.answer(v1.ServerReflectionRequest(file_by_filename="e2e_echo.proto"))
    assert file_names(again) == ["e2e_echo.proto"]
    assert list(servicer._serialized) == [e2e_echo_pb2.DESCRIPTOR]  # serialized once
