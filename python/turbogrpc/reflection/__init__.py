"""turbogrpc.reflection: gRPC server reflection (grpc.reflection.v1 and v1alpha), asyncio-native.

Example::

    from turbogrpc import aio, reflection

    server = aio.server()
    helloworld_pb2_grpc.add_GreeterServicer_to_server(Greeter(), server)
    reflection.enable_server_reflection(
        [helloworld_pb2.DESCRIPTOR.services_by_name["Greeter"].full_name,
         reflection.SERVICE_NAME],
        server)

Then ``grpcurl -plaintext 127.0.0.1:50051 list`` / ``describe`` / calls work without .proto
files. Descriptors come from protobuf's default pool (every imported ``_pb2`` module), as with
grpcio-reflection, whose answers and errors this servicer mirrors. Runs on turbogrpc.aio's
server and on grpc.aio's; needs protobuf, not grpcio. ``v1`` and ``v1alpha`` hold each
version's message classes (for clients).
"""

from ._servicer import (
    SERVICE_NAME,
    SERVICE_NAME_V1ALPHA,
    ReflectionServicer,
    enable_server_reflection,
    v1,
    v1alpha,
)

__all__ = ["ReflectionServicer", "SERVICE_NAME", "SERVICE_NAME_V1ALPHA",
           "enable_server_reflection", "v1", "v1alpha"]
