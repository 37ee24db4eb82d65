"""Servers for the blocking-API tests, each started for real on loopback in this process:

- "grpc": grpcio's own blocking server (``grpc.server`` with a thread pool), the reference;
- "ours-aio": ``turbogrpc.aio``'s server on an event loop in a background thread, serving the
  same ``def`` handlers from its thread pool;
- "ours-sync": ``turbogrpc.server``, our blocking server (a thread pool, as grpcio's).

Handlers are grpc's blocking handler signature (``def handler(request, context)``), so every
test runs the same service on each server.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import threading
import time
from concurrent import futures

import grpc

SERVICE = "test.Sync"
SERVER_KINDS = ("grpc", "ours-aio", "ours-sync")


class Service:
    """The test service; `events` records what the server saw (cancellations, requests)."""

    def __init__(self):
        self.cancelled = threading.Event()
        self.release = threading.Event()
        self.requests_seen = 0
        self.lock = threading.Lock()

    def echo(self, request, context):
        context.send_initial_metadata([("initial", "i")])
        context.set_trailing_metadata([("trailing", "t"), ("echo-bin", b"\x00\x01")])
        return request

    def metadata(self, request, context):
        return repr(sorted((k, v) for k, v in context.invocation_metadata()
                           if k.startswith("x-"))).encode()

    def fail(self, request, context):
        context.set_trailing_metadata([("why", "because")])
        context.abort(grpc.StatusCode.NOT_FOUND, "no such thing: " + request.decode())

    def hold(self, request, context):
        """Waits until released or cancelled (at most 10 s)."""
        context.add_callback(self.cancelled.set)
        deadline = time.monotonic() + 10
        while not self.release.is_set() and context.is_active() and time.monotonic() < deadline:
            time.sleep(0.01)
        return request

    def count(self, request, context):
        for i in range(int(request.decode())):
            yield str(i).encode()

    def endless(self, request, context):
        context.add_callback(self.cancelled.set)
        deadline = time.monotonic() + 10
        i = 0
        while context.is_active() and time.monotonic() < deadline:
            yield str(i).encode()
            i += 1
            time.sleep(0.001)

    def join(self, request_iterator, context):
        parts = []
        for request in request_iterator:
            with self.lock:
                self.requests_seen += 1
            parts.append(request)
        return b"|".join(parts)

    def slow_join(self, request_iterator, context):
        parts = []
        for request in request_iterator:
            with self.lock:
                self.requests_seen += 1
            parts.append(request)
            time.sleep(0.005)
        return str(len(parts)).encode()

    def upper(self, request_iterator, context):
        for request in request_iterator:
            yield request.upper()

    def handlers(self):
        return grpc.method_handlers_generic_handler(SERVICE, {
            "Echo": grpc.unary_unary_rpc_method_handler(self.echo),
            "Metadata": grpc.unary_unary_rpc_method_handler(self.metadata),
            "Fail": grpc.unary_unary_rpc_method_handler(self.fail),
            "Hold": grpc.unary_unary_rpc_method_handler(self.hold),
            "Count": grpc.unary_stream_rpc_method_handler(self.count),
            "Endless": grpc.unary_stream_rpc_method_handler(self.endless),
            "Join": grpc.stream_unary_rpc_method_handler(self.join),
            "SlowJoin": grpc.stream_unary_rpc_method_handler(self.slow_join),
            "Upper": grpc.stream_stream_rpc_method_handler(self.upper),
        })


@contextlib.contextmanager
def serve(kind: str, service: Service, port: int = 0):
    """Starts a `kind` server for `service`; yields its port."""
    if kind in ("grpc", "ours-sync"):
        module = grpc if kind == "grpc" else importlib.import_module("turbogrpc")
        pool = futures.ThreadPoolExecutor(max_workers=16)
        server = module.server(pool)
        server.add_generic_rpc_handlers((service.handlers(),))
        port = server.add_insecure_port(f"127.0.0.1:{port}")
        server.start()
        try:
            yield port
        finally:
            server.stop(None).wait(5)
            pool.shutdown(wait=False)
        return
    if kind == "ours-aio":
        with _aio_server(service, port) as bound:
            yield bound
        return
    raise ValueError(kind)


@contextlib.contextmanager
def _aio_server(service: Service, port: int):
    from turbogrpc import aio

    loop = asyncio.new_event_loop()
    started = futures.Future()
    stop = None

    async def main():
        nonlocal stop
        server = aio.server(futures.ThreadPoolExecutor(max_workers=16))
        server.add_generic_rpc_handlers((service.handlers(),))
        bound = server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        stop = asyncio.Event()
        started.set_result(bound)
        await stop.wait()
        await server.stop(None)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        yield started.result(10)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
