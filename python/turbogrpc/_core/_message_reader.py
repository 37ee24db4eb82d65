"""How a received message becomes what the application sees.

The engine hands small messages over as ``bytes`` and large ones (64 KiB and up) as a read-only
``memoryview`` of its own buffer, so parsing a 4 MiB message does not first copy it into fresh
memory. Applications are promised ``bytes`` (as with grpc.aio), so a view is passed on only to
deserializers known to take one: the ``FromString`` of protobuf message classes, which is what
generated code registers. Every other deserializer, and the raw-bytes API, gets ``bytes``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional, Union

if TYPE_CHECKING:
    from ._typing import DeserializingFunction

__all__ = ["message_reader", "as_bytes", "MessageReader", "RawMessage"]

# A received message as the engine delivers it: bytes, or a read-only view of its buffer.
RawMessage = Union[bytes, memoryview]
# What message_reader() returns: turns a RawMessage into what the application sees.
MessageReader = Callable[[RawMessage], Any]


def as_bytes(raw: RawMessage) -> bytes:
    """``raw`` as bytes (views are copied once, here)."""
    return raw if raw.__class__ is bytes else bytes(raw)


def _takes_views(deserializer: DeserializingFunction) -> bool:
    if getattr(deserializer, "__name__", None) != "FromString":
        return False
    owner = getattr(deserializer, "__self__", None)
    protobuf = sys.modules.get("google.protobuf.message")
    return (protobuf is not None and isinstance(owner, type)
            and issubclass(owner, protobuf.Message))


def message_reader(deserializer: Optional[DeserializingFunction]) -> MessageReader:
    """A one-argument callable taking what the engine delivered: ``deserializer`` itself when it
    takes views, else ``deserializer`` fed bytes, or ``as_bytes`` when there is none."""
    if deserializer is None:
        return as_bytes
    if _takes_views(deserializer):
        return deserializer  # type: ignore[return-value]  # a protobuf FromString: takes views

    def read_bytes(raw: RawMessage) -> Any:
        return deserializer(raw if raw.__class__ is bytes else bytes(raw))

    return read_bytes
