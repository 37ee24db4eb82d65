"""Our blocking server (``turbogrpc.server``) for the blocking-server tests: ``running()`` starts
one on loopback, the ``start`` fixture pairs it with a channel of the test's client (grpcio's or
ours, the ``client`` fixture), and the handler helpers keep the tests short."""

from __future__ import annotations

import contextlib
from concurrent import futures

import grpc
import pytest

import turbogrpc

SERVICE = "test.Blocking"


@contextlib.contextmanager
def running(handlers=(), *, workers=8, **kwargs):
    """Our blocking server with `handlers` on loopback; yields (server, port)."""
    pool = futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="test-handler")
    server = turbogrpc.server(pool, handlers=handlers, **kwargs)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield server, port
    finally:
        server.stop(None)
        pool.shutdown(wait=False)


class Env:
    def __init__(self, server, channel):
        self.server = server
        self.channel = channel

    def uu(self, name, **kwargs):
        return self.channel.unary_unary(f"/{SERVICE}/{name}", **kwargs)

    def us(self, name):
        return self.channel.unary_stream(f"/{SERVICE}/{name}")

    def su(self, name):
        return self.channel.stream_unary(f"/{SERVICE}/{name}")

    def ss(self, name):
        return self.channel.stream_stream(f"/{SERVICE}/{name}")


@pytest.fixture
def start(client):
    """start({name: method handler}, **server kwargs) -> Env: our server, `client`'s channel."""
    with contextlib.ExitStack() as stack:
        def start(methods, **kwargs):
            handlers = (turbogrpc.method_handlers_generic_handler(SERVICE, methods),)
            server, port = stack.enter_context(running(handlers, **kwargs))
            channel = stack.enter_context(client.insecure_channel(f"127.0.0.1:{port}"))
            return Env(server, channel)

        yield start


def uu(behavior, **kwargs):
    return turbogrpc.unary_unary_rpc_method_handler(behavior, **kwargs)


def us(behavior):
    return turbogrpc.unary_stream_rpc_method_handler(behavior)


def su(behavior):
    return turbogrpc.stream_unary_rpc_method_handler(behavior)


def ss(behavior):
    return turbogrpc.stream_stream_rpc_method_handler(behavior)


def rpc_error(call, *args, **kwargs):
    with pytest.raises(grpc.RpcError) as info:
        call(*args, **kwargs)
    return info.value
