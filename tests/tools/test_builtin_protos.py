"""The built-in protos shipped as python/turbogrpc/_protos/_descriptors.py: fresh (regenerating
from the .proto files gives the same file), and the same wire contract as grpcio's own
health and reflection modules (message, field, enum and method definitions; file names and
options may differ). Reads the generated file directly: no turbogrpc import needed."""

from __future__ import annotations

import importlib.util

from google.protobuf import descriptor_pb2, text_format
from grpc_health.v1 import health_pb2 as grpcio_health_pb2
from grpc_reflection.v1alpha import reflection_pb2 as grpcio_reflection_pb2

from tools import gen_builtin_protos


def shipped_files() -> dict[str, descriptor_pb2.FileDescriptorProto]:
    spec = importlib.util.spec_from_file_location("_descriptors", gen_builtin_protos.OUTPUT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: descriptor_pb2.FileDescriptorProto.FromString(data)
            for name, data in module.FILES.items()}


def contract(file: descriptor_pb2.FileDescriptorProto) -> str:
    """What the wire sees, as text: package, syntax, messages (fields, nested types, enums),
    enums and services; no file name, options or json_name."""
    wire = descriptor_pb2.FileDescriptorProto(package=file.package, syntax=file.syntax)
    wire.message_type.extend(file.message_type)
    wire.enum_type.extend(file.enum_type)
    wire.service.extend(file.service)
    for message in wire.message_type:
        for m in (message, *message.nested_type):
            for field in m.field:
                field.ClearField("json_name")
    return text_format.MessageToString(wire)


def grpcio_file(module) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(proto)
    return proto


def test_descriptors_are_fresh():
    assert gen_builtin_protos.main(["--check"]) == 0, (
        "python/turbogrpc/_protos/_descriptors.py is stale: run "
        "python3 tests/tools/gen_builtin_protos.py")


def test_the_shipped_files():
    files = shipped_files()
    assert sorted(files) == ["grpc/health/v1/health.proto",
                             "grpc/reflection/v1/reflection.proto",
                             "grpc/reflection/v1alpha/reflection.proto"]
    for name, proto in files.items():
        assert proto.name == name
        assert not proto.dependency, f"{name} imports {list(proto.dependency)}"


def test_health_matches_grpcio():
    ours = shipped_files()["grpc/health/v1/health.proto"]
    assert contract(ours) == contract(grpcio_file(grpcio_health_pb2))


def test_reflection_v1alpha_matches_grpcio():
    ours = shipped_files()["grpc/reflection/v1alpha/reflection.proto"]
    assert contract(ours) == contract(grpcio_file(grpcio_reflection_pb2))


def test_reflection_v1_is_v1alpha_renamed():
    files = shipped_files()
    v1 = contract(files["grpc/reflection/v1/reflection.proto"])
    v1alpha = contract(files["grpc/reflection/v1alpha/reflection.proto"])
    assert 'package: "grpc.reflection.v1"' in v1
    assert v1 == v1alpha.replace("grpc.reflection.v1alpha", "grpc.reflection.v1")
