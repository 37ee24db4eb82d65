"""grpc's compression example with the module injected (see test_sync_examples.py): gzip chosen
for the channel (``insecure_channel(..., compression=grpc.Compression.Gzip)``), for one call
(``compression=``), for the server (``grpc.server(..., compression=)``) and by the handler
(``context.set_compression``, ``context.disable_next_message_compression``).

Neither server shows ``grpc-encoding`` to handlers (invocation_metadata drops it), so the tests
look at the wire instead: the client dials a TCP relay that counts the bytes each way. Messages
are 1 MB of repetitive text, which gzip shrinks to about 1 kB: compressed one way, that way
carries under a tenth of the message; uncompressed, more than all of it. Every reply must still
arrive intact.
"""

from __future__ import annotations

import contextlib
import socket
import threading

import grpc as grpcio
import pytest

from sync.test_sync_examples import (MODULE_PAIRS, helloworld_pb2, helloworld_pb2_grpc,
                                     route_guide_pb2, route_guide_pb2_grpc, running, start_server)

pytestmark = MODULE_PAIRS

NAME = "compress me " * 83_334  # ~1 MB
SIZE = len(NAME)
SMALL = SIZE // 10


class CountingRelay:
    """A TCP relay on 127.0.0.1 to `target` that counts the bytes going up (client to server)
    and down; a thread per direction of each connection."""

    def __init__(self, target):
        host, port = target.rsplit(":", 1)
        self._target = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.target = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self.up = self.down = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sockets = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self):
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(self._target, timeout=5)
            server.settimeout(None)
            with self._lock:
                self._sockets += [client, server]
            for source, sink, direction in ((client, server, "up"), (server, client, "down")):
                thread = threading.Thread(target=self._pump, args=(source, sink, direction),
                                          daemon=True)
                thread.start()
                self._threads.append(thread)

    def _pump(self, source, sink, direction):
        while True:
            try:
                data = source.recv(65536)
                if data:
                    with self._lock:
                        setattr(self, direction, getattr(self, direction) + len(data))
                    sink.sendall(data)
                    continue
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return

    def close(self):
        self._stopping.set()
        self._threads[0].join(5)
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes its pump
        for thread in self._threads[1:]:
            thread.join(5)
        for sock in sockets:
            sock.close()


@contextlib.contextmanager
def relay(target):
    counting = CountingRelay(target)
    try:
        yield counting
    finally:
        counting.close()


def serve_compression(grpc, server_compression=None, handler_compression=None,
                      disable_first=False):
    class Greeter(helloworld_pb2_grpc.GreeterServicer):
        def SayHello(self, request, context):
            if handler_compression is not None:
                context.set_compression(handler_compression)
            if disable_first:
                context.disable_next_message_compression()
            return helloworld_pb2.HelloReply(message=request.name)

    class RouteGuide(route_guide_pb2_grpc.RouteGuideServicer):
        def ListFeatures(self, request, context):
            for i in range(3):
                if i == 0 and disable_first:
                    context.disable_next_message_compression()
                yield route_guide_pb2.Feature(name=NAME)

    return start_server(grpc, greeter=Greeter(), route_guide=RouteGuide(), compression=server_compression)


def say_hello(grpc, target, channel_compression=None, **call_kwargs):
    """The example's client: one SayHello of NAME; checks the echo arrived intact."""
    with grpc.insecure_channel(target, compression=channel_compression) as channel:
        stub = helloworld_pb2_grpc.GreeterStub(channel)
        response = stub.SayHello(helloworld_pb2.HelloRequest(name=NAME), timeout=5, **call_kwargs)
    assert response.message == NAME


def test_no_compression_by_default(client_grpc, server_grpc):
    # The baseline, and a check of the relay: a megabyte each way.
    with running(serve_compression, server_grpc) as target, relay(target) as wire:
        say_hello(client_grpc, wire.target)
    assert wire.up > SIZE and wire.down > SIZE


def test_channel_compression(client_grpc, server_grpc):
    with running(serve_compression, server_grpc) as target, relay(target) as wire:
        say_hello(client_grpc, wire.target, channel_compression=client_grpc.Compression.Gzip)
    assert wire.up < SMALL  # requests compressed
    assert wire.down > SIZE  # the server was not asked to compress


def test_call_compression(client_grpc, server_grpc):
    with running(serve_compression, server_grpc) as target, relay(target) as wire:
        say_hello(client_grpc, wire.target, compression=client_grpc.Compression.Gzip)
    assert wire.up < SMALL and wire.down > SIZE


def test_server_compression(client_grpc, server_grpc):
    with running(serve_compression, server_grpc,
                 server_compression=server_grpc.Compression.Gzip) as target, \
            relay(target) as wire:
        say_hello(client_grpc, wire.target)
    assert wire.up > SIZE and wire.down < SMALL


def test_handler_set_compression(client_grpc, server_grpc):
    with running(serve_compression, server_grpc,
                 handler_compression=server_grpc.Compression.Gzip) as target, \
            relay(target) as wire:
        say_hello(client_grpc, wire.target)
    assert wire.up > SIZE and wire.down < SMALL


def test_disable_next_message_compression(client_grpc, server_grpc):
    with running(serve_compression, server_grpc, server_compression=server_grpc.Compression.Gzip,
                 disable_first=True) as target:
        with relay(target) as wire:
            say_hello(client_grpc, wire.target)
        assert wire.down > SIZE  # the one response went uncompressed

        # A stream of three: only the first goes uncompressed.
        with relay(target) as wire, client_grpc.insecure_channel(wire.target) as channel:
            stub = route_guide_pb2_grpc.RouteGuideStub(channel)
            names = [f.name for f in stub.ListFeatures(route_guide_pb2.Rectangle(), timeout=5)]
        assert names == [NAME] * 3
        assert SIZE < wire.down < SIZE + SMALL


# grpcio tests `if compression:` where it means `is not None`, and NoCompression is 0: it takes
# a per-call NoCompression, or set_compression(NoCompression), for "nothing chosen" and keeps
# compressing. turbogrpc honours them; the grpcio side is the one expected to fail.
GRPCIO_IGNORES_NO_COMPRESSION = "grpcio treats Compression.NoCompression (0) as not given"


def test_call_overrides_channel_compression(client_grpc, server_grpc, request):
    if client_grpc is grpcio:
        request.applymarker(pytest.mark.xfail(strict=True, reason=GRPCIO_IGNORES_NO_COMPRESSION))
    with running(serve_compression, server_grpc) as target, relay(target) as wire:
        say_hello(client_grpc, wire.target, channel_compression=client_grpc.Compression.Gzip,
                  compression=client_grpc.Compression.NoCompression)
    assert wire.up > SIZE


def test_handler_overrides_server_compression(client_grpc, server_grpc, request):
    if server_grpc is grpcio:
        request.applymarker(pytest.mark.xfail(strict=True, reason=GRPCIO_IGNORES_NO_COMPRESSION))
    with running(serve_compression, server_grpc, server_compression=server_grpc.Compression.Gzip,
                 handler_compression=server_grpc.Compression.NoCompression) as target, \
            relay(target) as wire:
        say_hello(client_grpc, wire.target)
    assert wire.down > SIZE
