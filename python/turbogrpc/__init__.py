"""turbogrpc: asyncio-native gRPC with a C++ transport engine, a drop-in for grpc.aio.

Example::

    from turbogrpc import aio

    async with aio.insecure_channel("localhost:50051") as channel:
        stub = helloworld_pb2_grpc.GreeterStub(channel)
        reply = await stub.SayHello(helloworld_pb2.HelloRequest(name="you"))
"""

from ._errors import UsageError
from ._status import StatusCode

__version__ = "0.1.0"

from . import aio  # noqa: E402  (aio needs the names above)

__all__ = ["StatusCode", "UsageError", "aio", "__version__"]
