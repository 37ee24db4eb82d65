"""A server's table of method handlers, built the same way for both APIs.

Handlers are grpcio's duck-typed objects: generic handlers with ``service(details)``
returning an RpcMethodHandler-like object (``request_streaming``, ``response_streaming``,
``request_deserializer``, ``response_serializer`` and the four behaviours). Each method
handler is classified once (``MethodEntry``); registered methods and the dictionary handlers
ahead of the first real generic handler become one {path: MethodEntry} table, looked up per
call before any generic handler is asked (``method_table``, ``find_method``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from ._errors import UsageAttributeError
from ._message_reader import message_reader
from ._method_handlers import DictionaryGenericHandler, count_as_grpcios
from ._method_handlers import HandlerCallDetails as _HandlerCallDetailsClass
from ._typing import DeserializingFunction, MetadatumType, SerializingFunction

__all__ = ["MethodEntry", "HandlerCallDetails", "CallDetails", "LazyCallDetails",
           "RpcMethodHandler", "GenericRpcHandler", "dict_handler_table", "method_table",
           "find_method", "HandlerRegistry", "HandlerTables", "InterceptorChainBase"]


class HandlerCallDetails(Protocol):
    """grpc.HandlerCallDetails: the call a generic handler or a server interceptor is asked
    about (the server's are a namedtuple, below, and the interceptor chain's own class)."""

    @property
    def method(self) -> str: ...

    @property
    def invocation_metadata(self) -> Sequence[MetadatumType]: ...


# What generic handlers are asked with outside an interceptor chain: a namedtuple named as
# grpc's class (the name the protocol above has here, hence the ignore).
CallDetails = NamedTuple(  # type: ignore[name-match]
    "HandlerCallDetails",
    [("method", str), ("invocation_metadata", Sequence[MetadatumType])],
)
# A grpc.HandlerCallDetails (and ours) by isinstance, as grpcio's namedtuple is.
_HandlerCallDetailsClass.register(CallDetails)
count_as_grpcios(CallDetails, "HandlerCallDetails")


class _HasMetadata(Protocol):
    """A server call as LazyCallDetails reads it: its client's metadata, built on demand."""

    def invocation_metadata(self) -> Sequence[MetadatumType]: ...


class LazyCallDetails:
    """grpc's HandlerCallDetails as server interceptors get it: ``method`` and
    ``invocation_metadata``.

    Built as grpc's is, ``type(details)(method, invocation_metadata)`` (an interceptor may make
    one to ask its continuation for another method). The server passes the call's context
    instead of the metadata, which is then built when first read: most interceptors only look
    at the method.
    """

    __slots__ = ("method", "_metadata", "_ctx")

    def __init__(self, method: str, invocation_metadata: Sequence[MetadatumType] | None,
                 ctx: _HasMetadata | None = None) -> None:
        self.method = method
        self._metadata = invocation_metadata
        self._ctx = ctx

    @property
    def invocation_metadata(self) -> Sequence[MetadatumType]:
        metadata = self._metadata
        if metadata is None:
            ctx = self._ctx
            metadata = self._metadata = () if ctx is None else ctx.invocation_metadata()
        return metadata

    def __repr__(self) -> str:
        return (f"HandlerCallDetails(method={self.method!r}, "
                f"invocation_metadata={self.invocation_metadata!r})")


class RpcMethodHandler(Protocol):
    """What the server reads of a method handler: grpc.RpcMethodHandler's fields (grpcio's
    handlers, or any object that has them)."""

    @property
    def request_streaming(self) -> bool: ...

    @property
    def response_streaming(self) -> bool: ...

    @property
    def request_deserializer(self) -> DeserializingFunction | None: ...

    @property
    def response_serializer(self) -> SerializingFunction | None: ...

    # The behaviours: the one of the handler's shape is set, called (request, context).
    @property
    def unary_unary(self) -> Callable[..., Any] | None: ...

    @property
    def unary_stream(self) -> Callable[..., Any] | None: ...

    @property
    def stream_unary(self) -> Callable[..., Any] | None: ...

    @property
    def stream_stream(self) -> Callable[..., Any] | None: ...


class GenericRpcHandler(Protocol):
    """grpc.GenericRpcHandler: finds the handler of a call, or None if it has none."""

    def service(self, handler_call_details: HandlerCallDetails) -> RpcMethodHandler | None: ...


class MethodEntry:
    """One method handler, classified once: shape, sync/async, inline-able."""

    __slots__ = ("handler", "request_streaming", "response_streaming", "behavior", "is_async",
                 "serializer", "deserializer", "inline")

    def __init__(self, handler: RpcMethodHandler) -> None:
        self.handler = handler  # what it was built from (interceptors get it back, see
        # aio/_server_interceptor.py)
        self.request_streaming = bool(handler.request_streaming)
        self.response_streaming = bool(handler.response_streaming)
        if self.request_streaming:
            behavior = handler.stream_stream if self.response_streaming else handler.stream_unary
        else:
            behavior = handler.unary_stream if self.response_streaming else handler.unary_unary
        if behavior is None:
            raise TypeError(f"method handler {handler!r} has no behaviour for its shape")
        self.behavior: Callable[..., Any] = behavior
        self.is_async: bool = inspect.iscoroutinefunction(behavior) or inspect.isasyncgenfunction(
            behavior
        )
        self.serializer = handler.response_serializer
        self.deserializer = message_reader(handler.request_deserializer)
        # async unary-unary handlers run their first step inline, straight from the event.
        self.inline: bool = (
            not self.request_streaming and not self.response_streaming
            and inspect.iscoroutinefunction(behavior)
        )


def dict_handler_table(handler: object) -> dict[str, RpcMethodHandler] | None:
    """The {path: handler} table of grpc.method_handlers_generic_handler's result, or None.

    Its ``service()`` is a plain lookup in that table, so the server may look paths up
    directly (and let the engine pre-read unary requests). Anything else is called.
    """
    kind = type(handler)
    if kind is DictionaryGenericHandler or (
            kind.__name__ == "DictionaryGenericHandler" and kind.__module__ == "grpc._utilities"):
        table = getattr(handler, "_method_handlers", None)
        if isinstance(table, dict):
            return table
    return None


def method_table(generic: Sequence[GenericRpcHandler],
                 registered: Mapping[str, RpcMethodHandler]
                 ) -> tuple[dict[str, MethodEntry], list[GenericRpcHandler]]:
    """({path: MethodEntry}, the generic handlers still to ask per call, in order) for a
    server's generic handlers (in the order they were added) and its registered methods."""
    # Dictionary handlers ahead of the first "real" generic handler are plain lookups,
    # so they go into one table; from the first real one on, order matters: ask them.
    table: dict[str, RpcMethodHandler] = {}
    searched = list(generic)
    while searched:
        paths = dict_handler_table(searched[0])
        if paths is None:
            break
        for path, handler in paths.items():
            table.setdefault(path, handler)
        searched.pop(0)
    table.update(registered)
    return {path: MethodEntry(handler) for path, handler in table.items()}, searched


def find_method(searched: Sequence[GenericRpcHandler],
                details: HandlerCallDetails) -> MethodEntry | None:
    """The entry of the first of ``searched`` that has a handler for the call, or None."""
    for generic in searched:
        handler = generic.service(details)
        if handler is not None:
            return MethodEntry(handler)
    return None


class HandlerRegistry:
    """A server's handlers as its API adds them: generic handlers in the order added, and
    registered methods ({path: handler}, which win over generic handlers for their path).

    Every change rebuilds ``methods`` ({path: MethodEntry}, looked up per call) and ``searched``
    (the generic handlers still to ask, in order); each is replaced whole, so a server thread
    reading them while another thread adds handlers sees the old table or the new one.
    """

    __slots__ = ("_generic", "_registered", "methods", "searched")

    def __init__(self) -> None:
        self._generic: list[GenericRpcHandler] = []
        self._registered: dict[str, RpcMethodHandler] = {}
        self.methods: dict[str, MethodEntry] = {}
        self.searched: list[GenericRpcHandler] = []

    def add_generic(self, generic_rpc_handlers: Sequence[GenericRpcHandler]) -> None:
        """Adds grpc-style generic handlers (objects with ``service(details)``); raises
        UsageAttributeError (an AttributeError, as grpcio's sync server raises, and a
        UsageError) naming one that has no ``service``."""
        generic_rpc_handlers = tuple(generic_rpc_handlers)
        for handler in generic_rpc_handlers:
            if dict_handler_table(handler) is None and not hasattr(handler, "service"):
                raise UsageAttributeError(
                    f"{handler!r} is not a generic RPC handler (no service())")
        self._generic.extend(generic_rpc_handlers)
        self._rebuild()

    def add_registered(self, service_name: str,
                       method_handlers: Mapping[str, RpcMethodHandler]) -> None:
        """Adds handlers by method name, as "/service_name/name"."""
        for name, handler in method_handlers.items():
            self._registered[f"/{service_name}/{name}"] = handler
        self._rebuild()

    def _rebuild(self) -> None:
        self.methods, self.searched = method_table(self._generic, self._registered)

    def find(self, method: str, metadata: Sequence[MetadatumType]) -> MethodEntry | None:
        """The entry of the first generic handler serving ``method``, or None (the caller
        looked in ``methods`` first). Raises what a generic handler raised."""
        if not self.searched:
            return None
        return find_method(self.searched, CallDetails(method, metadata))

    def unary_request_paths(self) -> list[str]:
        """The paths whose request the engine may read before the call reaches Python."""
        return [path for path, entry in self.methods.items() if not entry.request_streaming]


class HandlerTables:
    """What the end of a server interceptor chain looks handlers up in: the server's method
    table and generic handlers (``set_methods``, on every change), and the entries of the
    handlers in that table, so a handler an interceptor passes through unchanged is not
    classified again (``entry_for``)."""

    __slots__ = ("methods", "searched", "_entries")

    def __init__(self) -> None:
        self.methods: Mapping[str, MethodEntry] = {}
        self.searched: tuple[GenericRpcHandler, ...] = ()
        self._entries: dict[int, MethodEntry] = {}  # id(handler) -> its entry

    def set_methods(self, methods: Mapping[str, MethodEntry],
                    searched: Sequence[GenericRpcHandler]) -> None:
        self.methods = methods
        self.searched = tuple(searched)
        self._entries = {id(entry.handler): entry for entry in methods.values()}

    def lookup(self, handler_call_details: HandlerCallDetails) -> RpcMethodHandler | None:
        """The server's handler for ``details.method``: registered methods first, then each
        generic handler in order; None when nobody serves it."""
        entry = self.methods.get(handler_call_details.method)
        if entry is not None:
            return entry.handler
        for generic in self.searched:
            handler = generic.service(handler_call_details)
            if handler is not None:
                return handler
        return None

    def entry_for(self, handler: RpcMethodHandler) -> MethodEntry:
        """``handler``'s entry: the table's own when it came through unchanged, else a new one
        (which raises TypeError for what is no method handler)."""
        entry = self._entries.get(id(handler))
        if entry is None or entry.handler is not handler:
            entry = MethodEntry(handler)
        return entry


class InterceptorChainBase:
    """A server's interceptors, linked once, for either API: ``_first(details)`` runs the first
    interceptor, whose ``continuation`` runs the next one, and so on; after the last comes
    ``end(tables)``, the server's own lookup in ``_tables`` (kept current by ``set_methods``).
    Each API's chain runs ``_first`` per call its own way (awaited, or called)."""

    __slots__ = ("_first", "_tables")

    def __init__(self, interceptors: Sequence[Any],
                 end: Callable[[HandlerTables], Callable[..., Any]]) -> None:
        self._tables = HandlerTables()
        step = end(self._tables)
        for interceptor in reversed(interceptors):
            # What the interceptor gets as ``continuation``: calling it starts the next one.
            step = functools.partial(interceptor.intercept_service, step)
        self._first: Callable[..., Any] = step

    def set_methods(self, methods: Mapping[str, MethodEntry],
                    searched: Sequence[GenericRpcHandler]) -> None:
        """The server's method table ({path: MethodEntry}) and generic handlers to ask."""
        self._tables.set_methods(methods, searched)
