"""The blocking API (grpcio's ``grpc`` module) on the same engine as ``turbogrpc.aio``.

Exported from ``turbogrpc`` itself: ``turbogrpc.insecure_channel`` is ``grpc.insecure_channel``.
"""

from ._call import InactiveRpcError, Metadatum, Rendezvous
from ._channel import Channel, insecure_channel, secure_channel
from ._client_interceptor import (
    ClientCallDetails, StreamStreamClientInterceptor, StreamUnaryClientInterceptor,
    UnaryStreamClientInterceptor, UnaryUnaryClientInterceptor,
)
from ._intercepted_channel import intercept_channel
from ._interfaces import Call, Future, FutureCancelledError, FutureTimeoutError, RpcContext
from ._multicallable import (
    StreamStreamMultiCallable, StreamUnaryMultiCallable, UnaryStreamMultiCallable,
    UnaryUnaryMultiCallable,
)
from ._ready_future import channel_ready_future
from ._server import Server, server
from ._server_interceptor import ServerInterceptor
from ._servicer_context import ServicerContext

__all__ = [
    "Call", "Channel", "Future", "FutureCancelledError", "FutureTimeoutError", "InactiveRpcError",
    "Metadatum", "Rendezvous", "RpcContext", "StreamStreamMultiCallable", "StreamUnaryMultiCallable",
    "UnaryStreamMultiCallable", "UnaryUnaryMultiCallable", "channel_ready_future",
    "insecure_channel", "secure_channel",
    # client interceptors
    "ClientCallDetails", "StreamStreamClientInterceptor", "StreamUnaryClientInterceptor",
    "UnaryStreamClientInterceptor", "UnaryUnaryClientInterceptor", "intercept_channel",
    # the server
    "Server", "ServerInterceptor", "ServicerContext", "server",
]
