"""Wires bench/handlers.py to grpclib: its generated base class (bench_grpc.BenchBase), whose
methods get a Stream to receive and send on.

grpclib has no message size limit to raise, and no setting for HTTP/2 MAX_CONCURRENT_STREAMS
(h2 advertises 100 per connection): scenario 5 therefore spreads its streams over enough
connections for every stack (see bench/scenarios.py)."""

import ssl

import handlers
import bench_grpc
from grpclib.const import Cardinality, Handler
from grpclib.encoding.proto import ProtoCodec
from grpclib.server import Server


class _BytesOrProtoCodec(ProtoCodec):
    """grpclib has one codec per server: this one passes `bytes`-typed messages through
    untouched (the BenchBytes service) and leaves the rest to protobuf."""

    def encode(self, message, message_type):
        return message if message_type is bytes else super().encode(message, message_type)

    def decode(self, data, message_type):
        return data if message_type is bytes else super().decode(data, message_type)


class _BytesService:
    def __mapping__(self):
        return {f"/{handlers.BYTES_SERVICE}/Unary":
                Handler(self.unary, Cardinality.UNARY_UNARY, bytes, bytes)}

    async def unary(self, stream):
        await stream.send_message(await handlers.unary_bytes(await stream.recv_message()))


async def _received(stream):
    # grpclib's Stream is not async-iterable; recv_message() returns None at the end.
    while (message := await stream.recv_message()) is not None:
        yield message


class _Service(bench_grpc.BenchBase):
    async def Unary(self, stream):
        await stream.send_message(await handlers.unary(await stream.recv_message()))

    async def ServerStream(self, stream):
        async for reply in handlers.server_stream(await stream.recv_message()):
            await stream.send_message(reply)

    async def PingPong(self, stream):
        async for reply in handlers.ping_pong(_received(stream)):
            await stream.send_message(reply)


def _ssl_context(cert_path, key_path):
    # grpclib takes the stdlib's context as it is: it must offer h2 by ALPN itself.
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    context.set_alpn_protocols(["h2"])
    return context


class GrpclibServer:
    def __init__(self):
        self._server = None

    async def start(self, host, port, limits, tls=None):
        """Serves on host:port (0: any free port); tls is None or (cert_path, key_path)."""
        self._server = Server([_Service(), _BytesService()], codec=_BytesOrProtoCodec())
        await self._server.start(host, port, ssl=None if tls is None else _ssl_context(*tls))
        return self._server._server.sockets[0].getsockname()[1]

    async def stop(self):
        self._server.close()
        await self._server.wait_closed()
