"""Metadata: the ordered multimap of gRPC headers, API-compatible with grpc.aio.Metadata; the
(key, value) pairs a server context hands out; and user metadata turned into what the engine
takes, checked where grpc checks it.

Values are ``str``, or ``bytes`` for keys ending in ``-bin``. Entries are grouped by key in
first-seen order, as grpc.aio does.
"""

from __future__ import annotations

import types
from collections.abc import ItemsView, Iterable, Iterator, KeysView, Sequence, ValuesView
from typing import TYPE_CHECKING, Any, Optional

from ._errors import UsageTypeError
from ._grpcio import grpcio_bases
from ._typing import MetadataValue

if TYPE_CHECKING:
    from typing_extensions import Self

    from ._typing import MetadataKey, MetadatumType

__all__ = ["Metadata", "as_pairs", "checked_pairs"]

# () without grpcio. Any: grpcio's class, whose instances offer items() as ours do.
_GRPC_METADATA: tuple[Any, ...] = grpcio_bases("aio.Metadata")


class Metadata:
    """Ordered multimap of metadata entries.

    Example::

        md = Metadata(("client-id", "42"), ("trace-bin", b"\\x01"))
        md.add("client-id", "43")
        md["client-id"]           # '42' (first value)
        md.get_all("client-id")   # ['42', '43']
        await stub.Method(request, metadata=md)
    """

    __slots__ = ("_entries",)

    # Subscriptable in annotations, as grpc.aio's (a typing Collection): Metadata[str].
    __class_getitem__ = classmethod(types.GenericAlias)  # type: ignore[var-annotated]

    def __init__(self, *args: MetadatumType) -> None:
        self._entries: dict[MetadataKey, list[MetadataValue]] = {}
        for key, value in args:
            self.add(key, value)

    @classmethod
    def from_tuple(cls, raw_metadata: Optional[Iterable[MetadatumType]]) -> Self:
        """Builds Metadata from a sequence of ``(key, value)`` pairs (None gives empty)."""
        if raw_metadata:
            return cls(*raw_metadata)
        return cls()

    def add(self, key: MetadataKey, value: MetadataValue) -> None:
        values = self._entries.get(key)
        if values is None:
            self._entries[key] = [value]
        else:
            values.append(value)

    def __len__(self) -> int:
        return sum(map(len, self._entries.values()))

    def __getitem__(self, key: MetadataKey) -> MetadataValue:
        values = self._entries.get(key)
        if not values:
            raise KeyError(repr(key))
        return values[0]

    def __setitem__(self, key: MetadataKey, value: MetadataValue) -> None:
        # A new list, as grpc.aio does: a list got from get_all() earlier does not change.
        values = self._entries.get(key)
        self._entries[key] = [value, *values[1:]] if values else [value]

    def __delitem__(self, key: MetadataKey) -> None:
        values = self._entries.get(key)
        if not values:
            raise KeyError(repr(key))
        del values[0]
        if not values:
            del self._entries[key]

    def delete_all(self, key: MetadataKey) -> None:
        del self._entries[key]

    def get(self, key: MetadataKey,
            default: Optional[MetadataValue] = None) -> Optional[MetadataValue]:
        values = self._entries.get(key)
        return values[0] if values else default

    def get_all(self, key: MetadataKey) -> list[MetadataValue]:
        return self._entries.get(key, [])

    def set_all(self, key: MetadataKey, values: Iterable[MetadataValue]) -> None:
        self._entries[key] = list(values)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._entries

    def __iter__(self) -> Iterator[MetadatumType]:
        for key, values in self._entries.items():
            for value in values:
                yield (key, value)

    def keys(self) -> KeysView[MetadataKey]:
        return KeysView(self._entries)

    def values(self) -> ValuesView[list[MetadataValue]]:
        return ValuesView(self._entries)

    def items(self) -> ItemsView[MetadataKey, list[MetadataValue]]:
        return ItemsView(self._entries)

    def __eq__(self, other: object) -> bool:
        # Order matters, as in grpc.aio (its entries are an OrderedDict): keys in first-seen
        # order, values in order. grpc.aio's Metadata with the same entries is equal too.
        if isinstance(other, Metadata):
            return list(self._entries.items()) == list(other._entries.items())
        if isinstance(other, tuple):
            return tuple(self) == other
        if isinstance(other, _GRPC_METADATA):
            return list(self._entries.items()) == list(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable: unhashable, as grpc.aio's

    def __add__(self, other: object) -> Metadata:
        if isinstance(other, Metadata):
            return Metadata(*self, *other)
        if isinstance(other, tuple):
            return Metadata(*self, *other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"{type(self).__name__}({tuple(self)!r})"


def as_pairs(metadata: Optional[Iterable[MetadatumType]]) -> Sequence[MetadatumType]:
    """User metadata (Metadata, sequence of pairs or None) as what the engine takes.

    Tuples and lists pass through untouched: the engine validates every key and value and
    says which one is wrong. Only Metadata and other iterables need flattening.
    """
    if metadata is None:
        return ()
    kind = type(metadata)
    if kind is tuple or kind is list:
        return metadata  # type: ignore[return-value]  # a tuple or list (kind), so a Sequence
    if isinstance(metadata, Metadata):
        return tuple(metadata)
    if isinstance(metadata, (str, bytes, dict)) or not hasattr(metadata, "__iter__"):
        raise UsageTypeError(
            f"metadata must be a sequence of (key, value) pairs or Metadata, got {metadata!r}"
        )
    return tuple(metadata)


def checked_pairs(metadata: Optional[Iterable[MetadatumType]],
                  what: str) -> tuple[MetadatumType, ...]:
    """``metadata`` as a tuple of pairs, its types checked now (grpc.aio's rule for trailing
    metadata: str keys, str or bytes values), so the handler's own line raises TypeError
    (a UsageTypeError) instead of the call failing later. ``what`` names it in the error."""
    pairs = as_pairs(metadata)
    if type(pairs) is not tuple:
        pairs = tuple(pairs)
    for pair in pairs:
        if (not isinstance(pair, (tuple, list)) or len(pair) != 2 or not isinstance(pair[0], str)
                or not isinstance(pair[1], (str, bytes))):
            raise UsageTypeError(
                f"Invalid {what} metadata: expected (str key, str or bytes value) pairs, got "
                f"{pair!r} in {metadata!r}")
    return pairs


class _Metadatum(tuple[str, MetadataValue]):
    """A (key, value) pair that also has .key and .value, like grpc's."""

    __slots__ = ()

    @property
    def key(self) -> str:
        return self[0]

    @property
    def value(self) -> MetadataValue:
        return self[1]
