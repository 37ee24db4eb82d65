"""Wires bench/handlers.py's blocking twins to a grpcio-style blocking server: grpcio's own
``grpc.server`` or ``turbogrpc.server``, both given ``ThreadPoolExecutor(SYNC_THREADS)`` and both
running the same grpcio-tools servicer (bench_pb2_grpc) unchanged. The S1-sync cell's server."""

from concurrent.futures import ThreadPoolExecutor

import handlers
from ports import add_port
import bench_pb2_grpc

SYNC_THREADS = 16  # the handler pool: what a grpcio user typically passes to grpc.server


class MissingApi(Exception):
    """The stack has no blocking server (turbogrpc before ``turbogrpc.server`` landed)."""


def _unary_bytes(request, context):
    return handlers.unary_bytes_sync(request)


class _Servicer(bench_pb2_grpc.BenchServicer):
    def Unary(self, request, context):
        return handlers.unary_sync(request)

    def ServerStream(self, request, context):
        return handlers.server_stream_sync(request)

    def PingPong(self, request_iterator, context):
        return handlers.ping_pong_sync(request_iterator)


class SyncServer:
    def __init__(self, package):
        """package: grpc or turbogrpc; its ``server`` (the blocking one) serves."""
        factory = getattr(package, "server", None)
        if factory is None:
            raise MissingApi(f"{package.__name__} has no blocking server yet "
                             f"({package.__name__}.server is missing)")
        self._package = package
        self._factory = factory
        self._server = None

    def start(self, host, port, limits, tls=None):
        """Serves on host:port (0: any free port); tls is None or (cert_path, key_path)."""
        options = [
            ("grpc.max_receive_message_length", limits["max_message_bytes"]),
            ("grpc.max_send_message_length", limits["max_message_bytes"]),
            ("grpc.max_concurrent_streams", limits["max_concurrent_streams"]),
        ]
        self._server = self._factory(ThreadPoolExecutor(max_workers=SYNC_THREADS),
                                     options=options)
        bench_pb2_grpc.add_BenchServicer_to_server(_Servicer(), self._server)
        # No serializers: both stacks then hand the handler bytes and send what it returns.
        package = self._package  # its own handler helpers (turbogrpc has grpc's, same names)
        self._server.add_generic_rpc_handlers((package.method_handlers_generic_handler(
            handlers.BYTES_SERVICE,
            {"Unary": package.unary_unary_rpc_method_handler(_unary_bytes)}),))
        bound = add_port(self._server, self._package, f"{host}:{port}", tls)
        self._server.start()
        return bound

    def stop(self):
        done = self._server.stop(0)  # grpcio: a threading.Event, set once stopped
        if done is not None:
            done.wait(10)
