"""Scenario 2's client on a grpc.aio-style stack: grpc.aio itself or turbogrpc.aio, both
calling through the same grpcio-tools stub (bench_pb2_grpc.BenchStub)."""

import bench_pb2_grpc

_LIMIT = 64 * 1024 * 1024  # the same limits the servers get (bench/servers/serve.py)


def _pass_through(aio):
    """One unary-unary client interceptor that only calls on: what S2-interceptor measures."""

    class PassThrough(aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, client_call_details, request):
            return await continuation(client_call_details, request)

    return PassThrough()


class AioClient:
    def __init__(self, aio, interceptor=False):
        """aio: grpc.aio or turbogrpc.aio; interceptor: call through one pass-through client
        interceptor."""
        self._aio = aio
        self._interceptors = [_pass_through(aio)] if interceptor else None
        self._channel = None
        self._stub = None

    async def connect(self, target):
        options = [("grpc.max_receive_message_length", _LIMIT),
                   ("grpc.max_send_message_length", _LIMIT)]
        self._channel = self._aio.insecure_channel(target, options=options,
                                                   interceptors=self._interceptors)
        self._stub = bench_pb2_grpc.BenchStub(self._channel)
        await self._stub.Unary(_probe())  # connect before the clock starts

    def unary(self, request):
        return self._stub.Unary(request)

    def error_name(self, error):
        code = getattr(error, "code", None)
        return code().name if callable(code) else type(error).__name__

    async def close(self):
        await self._channel.close()


def _probe():
    import bench_pb2
    return bench_pb2.Payload()
