"""Method handlers and client stubs for the built-in services, without grpcio.

Servers duck-type their handlers (grpcio's RpcMethodHandler fields), so these plain records
serve on turbogrpc.aio's server and on grpc.aio's alike. For turbogrpc.health and
turbogrpc.reflection only.
"""

from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional, Union

from . import serialize

if TYPE_CHECKING:
    from ..aio._channel import Channel
    from ..aio._server import Server

__all__ = ["MethodHandler", "add_service", "method_handler", "multicallable"]


class MethodHandler(NamedTuple):
    """The fields of grpcio's RpcMethodHandler, which servers read."""

    request_streaming: bool
    response_streaming: bool
    request_deserializer: Optional[Callable[[bytes], Any]]
    response_serializer: Optional[Callable[[Any], bytes]]
    unary_unary: Optional[Callable[..., Any]]
    unary_stream: Optional[Callable[..., Any]]
    stream_unary: Optional[Callable[..., Any]]
    stream_stream: Optional[Callable[..., Any]]


def method_handler(behavior: Callable[..., Any], request_class: Any, *,
                   request_streaming: bool = False,
                   response_streaming: bool = False) -> MethodHandler:
    """A handler of one shape running `behavior` (async def, or an async generator)."""
    slots: dict[str, Optional[Callable[..., Any]]] = {
        "unary_unary": None, "unary_stream": None, "stream_unary": None, "stream_stream": None}
    shape = ("stream_" if request_streaming else "unary_") + (
        "stream" if response_streaming else "unary")
    slots[shape] = behavior
    return MethodHandler(request_streaming, response_streaming, request_class.FromString,
                         serialize, **slots)


class _GenericHandler:
    """grpcio's GenericRpcHandler interface over a {method name: handler} table."""

    def __init__(self, service_name: str, handlers: dict[str, MethodHandler]) -> None:
        self._service_name = service_name
        self._by_path = {f"/{service_name}/{name}": h for name, h in handlers.items()}

    def service_name(self) -> str:
        return self._service_name

    def service(self, handler_call_details: Any) -> Optional[MethodHandler]:
        return self._by_path.get(handler_call_details.method)


def add_service(server: Union["Server", Any], service_name: str,
                handlers: dict[str, MethodHandler]) -> None:
    """Registers `handlers` ({method name: MethodHandler}) for `service_name` on `server`.

    Registered method handlers where the server has them (turbogrpc.aio and grpc.aio: looked
    up in one table, and they leave the server's other generic handlers as they were),
    a generic handler otherwise.
    """
    add_registered = getattr(server, "add_registered_method_handlers", None)
    if add_registered is not None:
        add_registered(service_name, handlers)
    else:
        server.add_generic_rpc_handlers((_GenericHandler(service_name, handlers),))


def multicallable(channel: Union["Channel", Any], service_name: str, method: str,
                  response_class: Any, *, request_streaming: bool = False,
                  response_streaming: bool = False) -> Any:
    """The channel's multicallable for one method, (de)serializing with protobuf."""
    make = getattr(channel, ("stream_" if request_streaming else "unary_")
                   + ("stream" if response_streaming else "unary"))
    return make(f"/{service_name}/{method}", request_serializer=serialize,
                response_deserializer=response_class.FromString)
