"""The asyncio-native servicer of gRPC server reflection, v1 and v1alpha, and its registration.

Answers as grpcio-reflection does: descriptors from protobuf's default pool (or the pool
given), each file with all it imports, NOT_FOUND / INVALID_ARGUMENT as an ErrorResponse in the
stream (the call itself stays OK). One difference: a method or a oneof is a symbol too (as for
grpc-go and grpc C++; grpcio answers NOT_FOUND under protobuf's upb backend). After that pool it looks in the pool of turbogrpc's own
built-in protos, so health and reflection describe themselves even when nothing else defines
them. One behaviour serves both versions: the answer's class follows the request's.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Optional, Union

from google.protobuf import descriptor_pb2, descriptor_pool

from .. import StatusCode
from .._protos import POOL as _BUILTIN_POOL
from .._protos import messages
from .._protos._rpc import add_service, method_handler

if TYPE_CHECKING:
    from ..aio._context import ServicerContext
    from ..aio._server import Server

__all__ = ["ReflectionServicer", "SERVICE_NAME", "SERVICE_NAME_V1ALPHA",
           "enable_server_reflection", "v1", "v1alpha"]

v1 = messages("grpc/reflection/v1/reflection.proto")
v1alpha = messages("grpc/reflection/v1alpha/reflection.proto")
SERVICE_NAME = "grpc.reflection.v1.ServerReflection"
SERVICE_NAME_V1ALPHA = "grpc.reflection.v1alpha.ServerReflection"

# Descriptors, pools and messages are protobuf's (Any here); `pb` is v1 or v1alpha.
_MESSAGES_OF: dict[Any, SimpleNamespace] = {
    v1.ServerReflectionRequest: v1, v1alpha.ServerReflectionRequest: v1alpha}


class _NotFound(Exception):
    pass


class ReflectionServicer:
    """gRPC's reflection service, answered on the event loop.

    Example::

        from turbogrpc import reflection

        reflection.enable_server_reflection(
            ["helloworld.Greeter", reflection.SERVICE_NAME], server)

    `service_names` are what ``list_services`` answers (sorted); files and symbols come from
    `pool` (protobuf's default pool when None: every imported ``_pb2`` module is there).
    """

    def __init__(self, service_names: Iterable[str],
                 pool: Optional[descriptor_pool.DescriptorPool] = None) -> None:
        self._service_names = tuple(sorted(service_names))
        self._pools = (descriptor_pool.Default() if pool is None else pool, _BUILTIN_POOL)
        # FileDescriptor -> its FileDescriptorProto, serialized
        self._serialized: dict[Any, bytes] = {}

    async def ServerReflectionInfo(self, request_iterator: AsyncIterable[Any],
                                   context: ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        """One response per request, in order, until the client ends its stream."""
        async for request in request_iterator:
            yield self.answer(request)

    def answer(self, request: Any) -> Any:
        """The response to one ServerReflectionRequest (v1 or v1alpha: the answer matches)."""
        pb = _MESSAGES_OF.get(type(request))
        if pb is None:  # another library's class of the same message: answer in v1
            pb, request = v1, v1.ServerReflectionRequest.FromString(request.SerializeToString())
        kind = request.WhichOneof("message_request")
        try:
            if kind == "file_by_filename":
                return self._files(pb, request, self._find("FindFileByName",
                                                          request.file_by_filename))
            if kind == "file_containing_symbol":
                return self._files(pb, request,
                                   self._file_containing_symbol(request.file_containing_symbol))
            if kind == "file_containing_extension":
                wanted = request.file_containing_extension
                return self._files(pb, request, self._find_extension(
                    wanted.containing_type, wanted.extension_number).file)
            if kind == "all_extension_numbers_of_type":
                return self._extension_numbers(pb, request,
                                               request.all_extension_numbers_of_type)
            if kind == "list_services":
                return pb.ServerReflectionResponse(
                    list_services_response=pb.ListServiceResponse(
                        service=[pb.ServiceResponse(name=n) for n in self._service_names]),
                    original_request=request)
        except _NotFound:
            return _error(pb, request, StatusCode.NOT_FOUND)
        return _error(pb, request, StatusCode.INVALID_ARGUMENT)

    # -- lookups --------------------------------------------------------------------------

    def _find(self, method: str, name: str) -> Any:
        for pool in self._pools:
            try:
                return getattr(pool, method)(name)
            except KeyError:
                continue
        raise _NotFound

    def _file_containing_symbol(self, name: str) -> Any:
        try:
            return self._find("FindFileContainingSymbol", name)
        except _NotFound:
            pass
        # protobuf's upb pool finds no methods or oneofs by name (its C++ pool does, and
        # grpc-go's and grpc C++'s reflection answer them; grpcurl asks for methods).
        parent, _, member = name.rpartition(".")
        for pool in self._pools:
            for find, members in (("FindServiceByName", "methods_by_name"),
                                  ("FindMessageTypeByName", "oneofs_by_name")):
                try:
                    owner = getattr(pool, find)(parent)
                except KeyError:
                    continue
                if member in getattr(owner, members):
                    return owner.file
        raise _NotFound

    def _find_message(self, full_name: str) -> tuple[Any, Any]:
        for pool in self._pools:
            try:
                return pool, pool.FindMessageTypeByName(full_name)
            except KeyError:
                continue
        raise _NotFound

    def _find_extension(self, containing_type: str, number: int) -> Any:
        pool, message = self._find_message(containing_type)
        try:
            return pool.FindExtensionByNumber(message, number)
        except KeyError:
            raise _NotFound from None

    def _extension_numbers(self, pb: SimpleNamespace, request: Any,
                           containing_type: str) -> Any:
        pool, message = self._find_message(containing_type)
        numbers = sorted(extension.number for extension in pool.FindAllExtensions(message))
        return pb.ServerReflectionResponse(
            all_extension_numbers_response=pb.ExtensionNumberResponse(
                base_type_name=message.full_name, extension_number=numbers),
            original_request=request)

    def _files(self, pb: SimpleNamespace, request: Any, file: Any) -> Any:
        """`file` and everything it imports, transitively, `file` first."""
        seen: set[str]
        order: list[Any]
        seen, order, stack = set(), [], [file]
        while stack:
            current = stack.pop()
            if current.name in seen:
                continue
            seen.add(current.name)
            order.append(current)
            stack.extend(reversed(current.dependencies))
        return pb.ServerReflectionResponse(
            file_descriptor_response=pb.FileDescriptorResponse(
                file_descriptor_proto=[self._serialize(f) for f in order]),
            original_request=request)

    def _serialize(self, file: Any) -> bytes:
        data = self._serialized.get(file)
        if data is None:
            proto = descriptor_pb2.FileDescriptorProto()
            file.CopyToProto(proto)
            data = self._serialized[file] = proto.SerializeToString()
        return data


def _error(pb: SimpleNamespace, request: Any, code: StatusCode) -> Any:
    number, text = code.value
    return pb.ServerReflectionResponse(
        error_response=pb.ErrorResponse(error_code=number, error_message=text),
        original_request=request)


def enable_server_reflection(service_names: Iterable[str], server: Union[Server, Any],
                             pool: Optional[descriptor_pool.DescriptorPool] = None) -> None:
    """Serves reflection, grpc.reflection.v1 and v1alpha, on `server` (turbogrpc.aio's or
    grpc.aio's). `service_names` are the services it lists: include ``SERVICE_NAME`` to list
    reflection itself."""
    servicer = ReflectionServicer(service_names, pool=pool)
    for service_name, pb in ((SERVICE_NAME, v1), (SERVICE_NAME_V1ALPHA, v1alpha)):
        add_service(server, service_name, {
            "ServerReflectionInfo": method_handler(
                servicer.ServerReflectionInfo, pb.ServerReflectionRequest,
                request_streaming=True, response_streaming=True),
        })
