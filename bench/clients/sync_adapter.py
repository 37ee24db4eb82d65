"""Scenario 2-sync's client on a grpcio-style blocking stack: grpcio's own
``grpc.insecure_channel`` or ``turbogrpc.insecure_channel``, both calling through the same
grpcio-tools stub (bench_pb2_grpc.BenchStub), one channel shared by every calling thread."""

import bench_pb2
import bench_pb2_grpc

_LIMIT = 64 * 1024 * 1024  # the same limits the servers get (bench/servers/serve.py)


class SyncClient:
    def __init__(self, package):
        """package: grpc or turbogrpc; its insecure_channel (the blocking one) calls."""
        self._package = package
        self._channel = None
        self._stub = None
        self.unary = None  # the stub's Unary: unary(request) -> reply, blocking

    def connect(self, target):
        options = [("grpc.max_receive_message_length", _LIMIT),
                   ("grpc.max_send_message_length", _LIMIT)]
        self._channel = self._package.insecure_channel(target, options=options)
        self._stub = bench_pb2_grpc.BenchStub(self._channel)
        self.unary = self._stub.Unary
        self.unary(bench_pb2.Payload(), timeout=30)  # connect before the clock starts

    def error_name(self, error):
        code = getattr(error, "code", None)
        return code().name if callable(code) else type(error).__name__

    def close(self):
        self._channel.close()
