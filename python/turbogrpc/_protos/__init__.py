"""The protos of turbogrpc's built-in services (health, reflection): their descriptors, in a
pool of their own, and the message classes made from them. For turbogrpc.health and
turbogrpc.reflection only.

The descriptors come from ``_descriptors.py`` (serialized FileDescriptorProtos generated from
the .proto files here by tests/tools/gen_builtin_protos.py, checked fresh by a test), so
importing needs protobuf only: no protoc, no grpcio, no check that the runtime is as new as
some protoc. The pool is a private one, not protobuf's default pool: grpcio-health-checking and
grpcio-reflection put the same symbols there under other file names, and both sets must be
importable in one process. The reflection service still describes these files (it looks in
this pool after the default one).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Protocol

from google.protobuf import descriptor_pool, message_factory

from ._descriptors import FILES

__all__ = ["POOL", "messages", "serialize"]

POOL = descriptor_pool.DescriptorPool()
for _serialized in FILES.values():
    POOL.AddSerializedFile(_serialized)


class SerializableMessage(Protocol):
    """A protobuf message, as far as serialize() is concerned."""

    def SerializeToString(self) -> bytes: ...


def _message_class(descriptor: Any) -> Any:
    get_class = getattr(message_factory, "GetMessageClass", None)  # protobuf >= 4.21
    if get_class is not None:
        return get_class(descriptor)
    return message_factory.MessageFactory(POOL).GetPrototype(descriptor)  # pragma: no cover


def messages(file_name: str) -> SimpleNamespace:
    """The message classes of one built-in file, by short name, plus its DESCRIPTOR."""
    file = POOL.FindFileByName(file_name)
    classes = {name: _message_class(d) for name, d in file.message_types_by_name.items()}
    return SimpleNamespace(DESCRIPTOR=file, **classes)


def serialize(message: SerializableMessage) -> bytes:
    """Any protobuf message to bytes (a class's own SerializeToString accepts only its own
    instances; this lets a servicer answer with another library's class of the same type)."""
    return message.SerializeToString()
