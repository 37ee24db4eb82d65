"""Wires bench/handlers.py to a grpc.aio-style server: grpc.aio itself or turbogrpc.aio, which
run the same grpcio-tools servicer (bench_pb2_grpc) unchanged."""

import grpc

import handlers
from ports import add_port
import bench_pb2_grpc


async def _unary_bytes(request, context):
    return await handlers.unary_bytes(request)


class _Servicer(bench_pb2_grpc.BenchServicer):
    async def Unary(self, request, context):
        return await handlers.unary(request)

    async def ServerStream(self, request, context):
        async for reply in handlers.server_stream(request):
            yield reply

    async def PingPong(self, request_iterator, context):
        async for reply in handlers.ping_pong(request_iterator):
            yield reply


def _pass_through(aio):
    """One server interceptor that only calls on: what S1-interceptor measures."""

    class PassThrough(aio.ServerInterceptor):
        async def intercept_service(self, continuation, handler_call_details):
            return await continuation(handler_call_details)

    return PassThrough()


class AioServer:
    def __init__(self, package, interceptor=False):
        """package: grpc or turbogrpc (its .aio serves; TLS credentials come from the top);
        interceptor: serve through one pass-through server interceptor."""
        self._package = package
        self._interceptors = [_pass_through(package.aio)] if interceptor else None
        self._server = None

    async def start(self, host, port, limits, tls=None):
        """Serves on host:port (0: any free port); tls is None or (cert_path, key_path)."""
        options = [
            ("grpc.max_receive_message_length", limits["max_message_bytes"]),
            ("grpc.max_send_message_length", limits["max_message_bytes"]),
            ("grpc.max_concurrent_streams", limits["max_concurrent_streams"]),
        ]
        self._server = self._package.aio.server(options=options,
                                                interceptors=self._interceptors)
        bench_pb2_grpc.add_BenchServicer_to_server(_Servicer(), self._server)
        # No serializers: both stacks then hand the handler bytes and send what it returns.
        self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            handlers.BYTES_SERVICE, {"Unary": grpc.unary_unary_rpc_method_handler(_unary_bytes)}),))
        bound = add_port(self._server, self._package, f"{host}:{port}", tls)
        await self._server.start()
        return bound

    async def stop(self):
        await self._server.stop(0)
