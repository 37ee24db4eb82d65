"""Our blocking server (``turbogrpc.server``) under pressure, against grpcio's blocking client
and ours: flow control both ways (a slow handler holds its client back; a slow client holds
the response iterator back), ``maximum_concurrent_rpcs``, and ``stop(grace)`` /
``wait_for_termination`` as grpcio's server behaves. Every wait is bounded.
"""

from __future__ import annotations

import threading
import time
from concurrent import futures

import grpc
import pytest

import turbogrpc
from sync.blocking_server import SERVICE, rpc_error, running, start, su, uu, us  # noqa: F401

CHUNK = 64 * 1024


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


# -- flow control ------------------------------------------------------------------------------

def test_a_slow_handler_holds_its_client_back(start):
    """The handler takes one 1 KiB request per 5 ms; the client offers a million. Within the
    deadline the client's iterator is asked only for what flow control lets through."""
    produced = 0
    consumed = []

    def slow(requests, context):
        for _ in requests:
            consumed.append(1)
            time.sleep(0.005)
        return b""

    def requests():
        nonlocal produced
        for _ in range(1_000_000):
            produced += 1
            yield b"r" * 1024

    env = start({"Slow": su(slow)})
    future = env.su("Slow").future(requests(), timeout=1.5)
    assert isinstance(future.exception(10), grpc.RpcError)
    assert future.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert consumed, "the handler never got a request"
    # a few MiB of windows and buffers at most, never the whole million
    assert produced - len(consumed) < 6_000, (produced, len(consumed))


def test_a_slow_client_holds_the_response_iterator_back(start):
    """An endless stream of 64 KiB responses to a client that reads one per 50 ms: the
    iterator runs ahead of the client by the HTTP/2 windows and our write window, not more."""
    produced = 0
    ended = threading.Event()

    def endless(request, context):
        nonlocal produced
        context.add_callback(ended.set)
        while context.is_active():
            produced += 1
            yield b"x" * CHUNK

    env = start({"Endless": us(endless)})
    call = env.us("Endless")(b"", timeout=20)
    read = 0
    for _ in range(10):
        next(call)
        read += 1
        time.sleep(0.05)
    ahead = produced - read
    # client windows (grpcio's may grow to a few MiB) + engine bound + write window: ~100 at most
    assert ahead < 100, ahead
    snapshot = produced
    time.sleep(0.3)
    assert produced - snapshot < 4, "the iterator kept running while the client read nothing"
    call.cancel()
    assert ended.wait(5)


def test_a_fast_bidirectional_stream(start):
    env = start({"Echo": turbogrpc.stream_stream_rpc_method_handler(
        lambda requests, context: (r for r in requests))})
    messages = [b"%d" % i * 100 for i in range(2000)]
    assert list(env.ss("Echo")(iter(messages), timeout=20)) == messages


# -- maximum_concurrent_rpcs -------------------------------------------------------------------

def test_calls_beyond_maximum_concurrent_rpcs_are_refused(start):
    release = threading.Event()
    running_now = []

    def hold(request, context):
        running_now.append(1)
        release.wait(5)
        return b"done"

    env = start({"Hold": uu(hold), "Quick": uu(lambda request, context: b"q")},
                maximum_concurrent_rpcs=2)
    held = [env.uu("Hold").future(b"", timeout=10) for _ in range(2)]
    assert wait_until(lambda: len(running_now) == 2)
    error = rpc_error(env.uu("Quick"), b"", timeout=5)
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.details() == "Concurrent RPC limit exceeded!"
    error = rpc_error(env.uu("Missing"), b"", timeout=5)  # lookup first, as grpcio
    assert error.code() is grpc.StatusCode.UNIMPLEMENTED
    release.set()
    assert [f.result(5) for f in held] == [b"done", b"done"]
    assert wait_until(lambda: _answers(env))


def _answers(env):
    try:
        return env.uu("Quick")(b"", timeout=5) == b"q"
    except grpc.RpcError:
        return False  # the pool's bookkeeping may lag a moment behind the responses


# -- stop and termination ----------------------------------------------------------------------

def test_stop_with_grace_lets_a_call_in_flight_finish_and_refuses_new_ones(client):
    started = threading.Event()

    def slow(request, context):
        started.set()
        time.sleep(0.5)
        return b"finished"

    handlers = (turbogrpc.method_handlers_generic_handler(SERVICE, {"Slow": uu(slow)}),)
    with running(handlers) as (server, port), \
            client.insecure_channel(f"127.0.0.1:{port}") as channel:
        method = channel.unary_unary(f"/{SERVICE}/Slow")
        assert server.wait_for_termination(0.05) is True  # timed out: still serving
        future = method.future(b"", timeout=10)
        assert started.wait(5)
        began = time.monotonic()
        event = server.stop(5)
        assert not event.is_set()
        assert future.result(5) == b"finished"
        assert event.wait(5) and time.monotonic() - began < 3
        assert server.wait_for_termination(5) is False
        assert server.stop(1).is_set()  # idempotent: already stopped
        error = rpc_error(method, b"", timeout=5)
        assert error.code() is grpc.StatusCode.UNAVAILABLE
        with pytest.raises(ValueError):
            server.start()


def test_stop_cancels_what_outlives_the_grace_and_a_shorter_grace_wins(client):
    callback = threading.Event()
    started = threading.Event()

    def stuck(request, context):
        context.add_callback(callback.set)
        started.set()
        deadline = time.monotonic() + 10
        while context.is_active() and time.monotonic() < deadline:
            time.sleep(0.01)
        return b"never"

    handlers = (turbogrpc.method_handlers_generic_handler(SERVICE, {"Stuck": uu(stuck)}),)
    with running(handlers) as (server, port), \
            client.insecure_channel(f"127.0.0.1:{port}") as channel:
        future = channel.unary_unary(f"/{SERVICE}/Stuck").future(b"", timeout=20)
        assert started.wait(5)
        began = time.monotonic()
        first = server.stop(30)
        second = server.stop(0.3)  # shorter: wins
        assert second.wait(5) and first.wait(1)
        assert 0.25 < time.monotonic() - began < 3
        assert callback.wait(5)
        assert isinstance(future.exception(5), grpc.RpcError)
        assert future.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
        assert server.wait_for_termination(1) is False


def test_stop_none_cancels_at_once_and_returns_once_stopped(client):
    started = threading.Event()

    def stuck(request, context):
        started.set()
        deadline = time.monotonic() + 10
        while context.is_active() and time.monotonic() < deadline:
            time.sleep(0.01)
        yield b"never"

    handlers = (turbogrpc.method_handlers_generic_handler(SERVICE, {"Stuck": us(stuck)}),)
    with running(handlers) as (server, port), \
            client.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_stream(f"/{SERVICE}/Stuck")(b"", timeout=20)
        assert started.wait(5)
        began = time.monotonic()
        event = server.stop(None)
        assert event.is_set() and time.monotonic() - began < 2
        with pytest.raises(grpc.RpcError):
            list(call)


def test_stop_of_an_idle_server_is_immediate_and_a_never_started_one_as_grpcio():
    pool = futures.ThreadPoolExecutor(max_workers=1)
    try:
        server = turbogrpc.server(pool)
        server.add_insecure_port("127.0.0.1:0")
        assert server.stop(None).is_set()  # never started: nothing to stop
        assert server.wait_for_termination(0.05) is True  # grpcio: not terminated either
        server.start()
        event = server.stop(10)
        assert event.wait(2)
        assert server.wait_for_termination(1) is False
    finally:
        pool.shutdown()


def test_stop_from_a_handler_and_from_a_callback(client):
    def stopping(request, context):
        threading.Thread(target=server.stop, args=(None,)).start()
        return b"bye"

    handlers = (turbogrpc.method_handlers_generic_handler(SERVICE, {"Stop": uu(stopping)}),)
    with running(handlers) as (server, port), \
            client.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            channel.unary_unary(f"/{SERVICE}/Stop")(b"", timeout=5)
        except grpc.RpcError:
            pass  # the stop may overtake the response
        assert server.wait_for_termination(5) is False


def test_a_dropped_server_stops(client):
    import gc

    pool = futures.ThreadPoolExecutor(max_workers=1)
    server = turbogrpc.server(pool, handlers=(turbogrpc.method_handlers_generic_handler(
        SERVICE, {"Q": uu(lambda request, context: b"q")}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    state = server._state
    try:
        with client.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert channel.unary_unary(f"/{SERVICE}/Q")(b"", timeout=5) == b"q"
        del server
        gc.collect()
        assert state.terminated.wait(5)
    finally:
        pool.shutdown()
