"""Type names shared by both APIs' annotations (grpc.aio's ``_typing`` names; the two
iterable types name what the asyncio API takes and gives).

Only aliases and type variables live here, so any module may import it without cycles;
``Metadata`` is named under TYPE_CHECKING for the same reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, Union

if TYPE_CHECKING:
    from ._metadata import Metadata

__all__ = [
    "RequestType", "ResponseType", "SerializingFunction", "DeserializingFunction",
    "MetadataKey", "MetadataValue", "MetadatumType", "MetadataType", "ChannelArgumentType",
    "DoneCallbackType", "RequestIterableType", "ResponseIterableType",
]

RequestType = TypeVar("RequestType")
ResponseType = TypeVar("ResponseType")

# A serializer turns a message into bytes; None means the message already is bytes.
SerializingFunction = Callable[[Any], bytes]
DeserializingFunction = Callable[[bytes], Any]

MetadataKey = str
# str for ordinary keys, bytes for keys ending in "-bin".
MetadataValue = Union[str, bytes]
MetadatumType = tuple[MetadataKey, MetadataValue]
# What every ``metadata=`` argument accepts: Metadata or a sequence of (key, value) pairs.
MetadataType = Union["Metadata", Sequence[MetadatumType]]

ChannelArgumentType = Sequence[tuple[str, Any]]

DoneCallbackType = Callable[[Any], None]
RequestIterableType = Union[Iterable[Any], AsyncIterable[Any]]
ResponseIterableType = AsyncIterable[Any]
