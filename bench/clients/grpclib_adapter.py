"""Scenario 2's client on grpclib, through its generated stub (bench_grpc.BenchStub)."""

import bench_grpc
import bench_pb2
from grpclib.client import Channel
from grpclib.exceptions import GRPCError


class GrpclibClient:
    def __init__(self):
        self._channel = None
        self._stub = None

    async def connect(self, target):
        host, _, port = target.rpartition(":")
        self._channel = Channel(host, int(port))
        self._stub = bench_grpc.BenchStub(self._channel)
        await self._stub.Unary(bench_pb2.Payload())  # connect before the clock starts

    def unary(self, request):
        return self._stub.Unary(request)

    def error_name(self, error):
        if isinstance(error, GRPCError):
            return error.status.name
        return type(error).__name__

    async def close(self):
        self._channel.close()
