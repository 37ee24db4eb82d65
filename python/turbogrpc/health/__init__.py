"""turbogrpc.health: gRPC's standard health service (grpc.health.v1.Health), asyncio-native.

Example::

    from turbogrpc import aio, health

    server = aio.server()
    servicer = health.HealthServicer()
    health.add_HealthServicer_to_server(servicer, server)
    servicer.set("helloworld.Greeter", health.HealthCheckResponse.SERVING)
    port = server.add_insecure_port("127.0.0.1:50051")
    await server.start()
    ...
    servicer.enter_graceful_shutdown()      # every service NOT_SERVING from now on
    await server.stop(grace=5)

``Check`` answers NOT_FOUND for a service never set ("" stands for the whole server and starts
SERVING), ``Watch`` sends the status now and then each change (SERVICE_UNKNOWN for an unknown
service, the call staying open), ``List`` returns every status. It runs on turbogrpc.aio's
server and on grpc.aio's, needs protobuf but not grpcio, and its message classes are protobuf
messages (``health_pb2`` stands in for grpcio-health-checking's module of that name).
"""

from ._servicer import (
    MAX_LIST_SERVICES,
    OVERALL_HEALTH,
    SERVICE_NAME,
    HealthCheckRequest,
    HealthCheckResponse,
    HealthListRequest,
    HealthListResponse,
    HealthServicer,
    HealthStub,
    add_HealthServicer_to_server,
    health_pb2,
)

__all__ = [
    "HealthCheckRequest", "HealthCheckResponse", "HealthListRequest", "HealthListResponse",
    "HealthServicer", "HealthStub", "MAX_LIST_SERVICES", "OVERALL_HEALTH", "SERVICE_NAME",
    "add_HealthServicer_to_server", "health_pb2",
]
