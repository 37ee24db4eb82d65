"""Servers for the blocking-API tests, each started for real on loopback in this process:

- "grpc": grpcio's own blocking server (``grpc.server`` with a thread pool), the reference;
- "ours-aio": ``turbogrpc.aio``'s server on an event loop in a background thread, serving the
  same ``def`` handlers from its thread pool;
- "ours-sync": ``turbogrpc.server``, our blocking server (a thread pool, as grpcio's);
- "grpc-aio": grpcio's own ``grpc.aio`` server, run as "ours-aio" is (``def`` handlers on its
  migration thread pool), so our blocking client meets grpcio's asyncio server too.

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
SERVER_KINDS = ("grpc", "ours-aio", "ours-sync", "grpc-aio")


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
        is_active = _is_active(context)
        deadline = time.monotonic() + 10
        while not self.release.is_set() and is_active() and time.monotonic() < deadline:
            time.sleep(0.01)
        return request

    def count(self, request, context):
        for i in range(int(request.decode())):
            yield str(i).encode()

    def endless(self, request, context):
        context.add_callback(self.cancelled.set)
        is_active = _is_active(context)
        deadline = time.monotonic() + 10
        i = 0
        while is_active() and time.monotonic() < deadline:
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


def _is_active(context):
    """``context.is_active``, or "always" for grpc.aio's context of ``def`` handlers, which has
    none. Measured with grpcio 1.85 (its own client too): that context (``_SyncServicerContext``)
    has no ``is_active``, ``done`` or ``cancelled``, and its ``add_callback`` callbacks run only
    after a unary-response handler returns normally (never on a cancel, never for a response
    stream): a ``def`` handler there cannot see its RPC end, so it runs to its own bound."""
    return getattr(context, "is_active", lambda: True)


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
    if kind in ("ours-aio", "grpc-aio"):
        aio = importlib.import_module("turbogrpc.aio" if kind == "ours-aio" else "grpc.aio")
        with _aio_server(aio, service, port) as bound:
            yield bound
        return
    raise ValueError(kind)


@contextlib.contextmanager
def _aio_server(aio, service: Service, port: int):
    """Runs `aio`'s server (turbogrpc.aio or grpc.aio) on an event loop in a background thread;
    the ``def`` handlers run on the pool given as ``migration_thread_pool`` (both modules' name
    for it)."""
    loop = asyncio.new_event_loop()
    started = futures.Future()
    stop = None

    async def main():
        nonlocal stop
        pool = futures.ThreadPoolExecutor(max_workers=16)
        server = aio.server(migration_thread_pool=pool)
        server.add_generic_rpc_handlers((service.handlers(),))
        bound = server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        stop = asyncio.Event()
        started.set_result(bound)
        await stop.wait()
        await server.stop(None)
        await _drain(pool)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        yield started.result(10)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(_DRAIN_SECONDS + 10)
        loop.close()


_DRAIN_SECONDS = 5


async def _drain(pool: futures.ThreadPoolExecutor):
    """Waits (at most _DRAIN_SECONDS) for the handlers still running on `pool` after the
    server's stop, keeping the loop running: grpc.aio's ``def`` handlers wait on it for each
    request they read and each response they yield (``run_coroutine_threadsafe(...).result()``).
    A response-streaming handler whose RPC was cancelled waits there forever (grpc.aio passes
    its responses through a queue of one that nobody reads any more): cancelling the loop's
    leftover tasks ends that wait with CancelledError in the handler's thread. Without this
    such a thread stays blocked and the interpreter's exit hangs joining it."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_quiet_about_drained_handlers)
    shutdown = loop.run_in_executor(None, pool.shutdown)
    deadline = loop.time() + _DRAIN_SECONDS
    while not shutdown.done() and loop.time() < deadline:
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()
        await asyncio.wait([shutdown], timeout=0.05)
    if shutdown.done():
        await loop.shutdown_default_executor()


def _quiet_about_drained_handlers(loop, context):
    """The loop's exception handler once draining: a handler's thread ended by _drain's cancel
    fails grpc.aio's future for it, which nobody awaits any more (the RPC is over): asyncio's
    "Future exception was never retrieved" for that CancelledError is expected, not reported."""
    if not isinstance(context.get("exception"), asyncio.CancelledError):
        loop.default_exception_handler(context)
