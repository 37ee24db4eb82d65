"""turbogrpc: asyncio-native gRPC with a C++ transport engine, a drop-in for grpc.aio.

Example::

    from turbogrpc import aio

    async with aio.insecure_channel("localhost:50051") as channel:
        stub = helloworld_pb2_grpc.GreeterStub(channel)
        reply = await stub.SayHello(helloworld_pb2.HelloRequest(name="you"))
"""

from ._core._credentials import (
    AuthMetadataContext,
    AuthMetadataPlugin,
    AuthMetadataPluginCallback,
    CallCredentials,
    ChannelCredentials,
    LocalConnectionType,
    ServerCertificateConfiguration,
    ServerCredentials,
    access_token_call_credentials,
    composite_call_credentials,
    composite_channel_credentials,
    dynamic_ssl_server_credentials,
    insecure_server_credentials,
    local_channel_credentials,
    local_server_credentials,
    metadata_call_credentials,
    ssl_channel_credentials,
    ssl_server_certificate_configuration,
    ssl_server_credentials,
)
from ._core._errors import UsageError
from ._core._method_handlers import (
    GenericRpcHandler,
    HandlerCallDetails,
    RpcMethodHandler,
    ServiceRpcHandler,
    method_handlers_generic_handler,
    stream_stream_rpc_method_handler,
    stream_unary_rpc_method_handler,
    unary_stream_rpc_method_handler,
    unary_unary_rpc_method_handler,
)
from ._core._status import StatusCode
from ._core._compression import Compression
from ._core._connectivity import ChannelConnectivity
from ._core._errors import RpcError
from ._sync import (
    Call,
    Channel,
    Future,
    FutureCancelledError,
    FutureTimeoutError,
    RpcContext,
    StreamStreamMultiCallable,
    StreamUnaryMultiCallable,
    UnaryStreamMultiCallable,
    UnaryUnaryMultiCallable,
    channel_ready_future,
    insecure_channel,
    secure_channel,
)
from ._sync import (
    ClientCallDetails,
    StreamStreamClientInterceptor,
    StreamUnaryClientInterceptor,
    UnaryStreamClientInterceptor,
    UnaryUnaryClientInterceptor,
    intercept_channel,
)
from ._sync import Server, ServerInterceptor, ServicerContext, server

__version__ = "0.1.0"

from . import aio, experimental  # noqa: E402  (aio needs the names above)

__all__ = [
    "AuthMetadataContext", "AuthMetadataPlugin", "AuthMetadataPluginCallback", "CallCredentials",
    "ChannelCredentials", "LocalConnectionType", "ServerCertificateConfiguration",
    "ServerCredentials", "StatusCode", "UsageError", "__version__",
    "access_token_call_credentials", "aio", "composite_call_credentials",
    "composite_channel_credentials",
    "dynamic_ssl_server_credentials", "experimental", "insecure_server_credentials",
    "local_channel_credentials", "local_server_credentials", "metadata_call_credentials",
    "ssl_channel_credentials", "ssl_server_certificate_configuration", "ssl_server_credentials",
    "GenericRpcHandler", "HandlerCallDetails", "RpcMethodHandler", "ServiceRpcHandler",
    "method_handlers_generic_handler", "stream_stream_rpc_method_handler",
    "stream_unary_rpc_method_handler", "unary_stream_rpc_method_handler",
    "unary_unary_rpc_method_handler",
    # the blocking API (grpc's module-level names)
    "Call", "Channel", "ChannelConnectivity", "Compression", "Future", "FutureCancelledError",
    "FutureTimeoutError", "RpcContext", "RpcError", "StreamStreamMultiCallable",
    "StreamUnaryMultiCallable", "UnaryStreamMultiCallable", "UnaryUnaryMultiCallable",
    "channel_ready_future", "insecure_channel", "secure_channel",
    # blocking client interceptors
    "ClientCallDetails", "StreamStreamClientInterceptor", "StreamUnaryClientInterceptor",
    "UnaryStreamClientInterceptor", "UnaryUnaryClientInterceptor", "intercept_channel",
    # the blocking server
    "Server", "ServerInterceptor", "ServicerContext", "server",
]
