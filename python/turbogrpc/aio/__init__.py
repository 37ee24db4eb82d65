"""turbogrpc.aio: the asyncio API, mirroring grpc.aio (migrating = changing an import).

Example::

    from turbogrpc import aio

    async def main():
        server = aio.server()
        add_GreeterServicer_to_server(Greeter(), server)
        port = server.add_insecure_port("localhost:0")
        await server.start()
        async with aio.insecure_channel(f"localhost:{port}") as channel:
            reply = await GreeterStub(channel).SayHello(HelloRequest(name="you"))
        await server.stop(None)
"""

from .._core._compression import Compression
from .._core._errors import (
    BaseError, InternalError, RpcError, UnsupportedOptionWarning, UsageError,
)
from .._core._metadata import Metadata
from .._core._options import ChannelArgumentType
from .._core._status import StatusCode
from ._call import Call, RpcContext, UnaryUnaryCall
from ._channel import Channel, ChannelConnectivity, insecure_channel, secure_channel
from ._client_interceptor import (
    ClientCallDetails, ClientInterceptor, StreamStreamClientInterceptor,
    StreamUnaryClientInterceptor, UnaryStreamClientInterceptor, UnaryUnaryClientInterceptor,
)
from ._completion import init_grpc_aio, shutdown_grpc_aio
from ._context import ServicerContext
from ._intercepted_call import (
    InterceptedStreamStreamCall, InterceptedStreamUnaryCall, InterceptedUnaryStreamCall,
    InterceptedUnaryUnaryCall,
)
from ._multicallable import (
    StreamStreamMultiCallable, StreamUnaryMultiCallable, UnaryStreamMultiCallable,
    UnaryUnaryMultiCallable,
)
from ._rpc_error import EOF, AbortError, AioRpcError
from ._server import Server, server
from ._server_interceptor import ServerInterceptor
from ._stream_call import StreamStreamCall, StreamUnaryCall, UnaryStreamCall

__all__ = [
    "ClientCallDetails", "ClientInterceptor", "InterceptedStreamStreamCall",
    "InterceptedStreamUnaryCall", "InterceptedUnaryStreamCall", "InterceptedUnaryUnaryCall",
    "StreamStreamClientInterceptor", "StreamUnaryClientInterceptor",
    "UnaryStreamClientInterceptor", "UnaryUnaryClientInterceptor",
    "AbortError", "AioRpcError", "Call", "Channel", "ChannelConnectivity", "Compression", "EOF",
    "Metadata", "RpcError", "Server", "ServerInterceptor", "ServicerContext", "StatusCode",
    "StreamStreamCall", "StreamStreamMultiCallable", "StreamUnaryCall",
    "StreamUnaryMultiCallable", "UnaryStreamCall", "UnaryStreamMultiCallable",
    "UnaryUnaryCall", "UnaryUnaryMultiCallable", "UsageError", "insecure_channel",
    "secure_channel", "server",
    "BaseError", "ChannelArgumentType", "InternalError", "RpcContext",
    "UnsupportedOptionWarning", "init_grpc_aio", "shutdown_grpc_aio",
]
