"""Connectivity of blocking channels: subscribe/unsubscribe callbacks, channel_ready_future,
and wait_for_ready, with a server that is absent, then started. Both grpcio's blocking client
and ours (the `client` fixture); every wait is bounded.
"""

from __future__ import annotations

import socket
import threading
import time

import grpc
import pytest

from sync.servers import Service, serve

# grpcio's own subscription thread (the `grpc` client runs these tests too) can race its
# channel's close and raise "Cannot monitor channel state: Channel closed!" in that thread;
# that is grpcio's, not ours, and would otherwise fail whichever test runs at that moment.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Exception in thread.*:pytest.PytestUnhandledThreadExceptionWarning")

FAST = [("grpc.initial_reconnect_backoff_ms", 200), ("grpc.min_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 300)]


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _States:
    def __init__(self):
        self.seen: list[grpc.ChannelConnectivity] = []
        self.changed = threading.Condition()

    def __call__(self, state):
        with self.changed:
            self.seen.append(state)
            self.changed.notify_all()

    def wait_for(self, state, timeout=5.0) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: state in self.seen, timeout)


def test_subscribe_reports_the_current_state_then_each_change(client):
    port = _unused_port()
    with client.insecure_channel(f"127.0.0.1:{port}", options=FAST) as channel:
        states = _States()
        channel.subscribe(states, try_to_connect=True)
        assert states.wait_for(grpc.ChannelConnectivity.TRANSIENT_FAILURE)
        assert states.seen[0] is grpc.ChannelConnectivity.IDLE
        channel.unsubscribe(states)
        with serve("grpc", Service(), port):
            ready = client.channel_ready_future(channel)
            ready.result(timeout=10)
            assert ready.done() and not ready.cancelled()
        assert grpc.ChannelConnectivity.READY not in states.seen  # unsubscribed before


def test_channel_ready_future_waits_for_a_server_started_later(client):
    port = _unused_port()
    with client.insecure_channel(f"127.0.0.1:{port}", options=FAST) as channel:
        ready = client.channel_ready_future(channel)
        with pytest.raises(grpc.FutureTimeoutError):
            ready.result(timeout=0.3)
        assert ready.running()
        started = threading.Event()
        stop = threading.Event()

        def server_later():
            time.sleep(1.0)
            with serve("grpc", Service(), port):
                started.set()
                stop.wait(10)

        thread = threading.Thread(target=server_later)
        thread.start()
        try:
            began = time.monotonic()
            ready.result(timeout=10)
            assert started.is_set()
            assert 0.5 < time.monotonic() - began < 10
        finally:
            stop.set()
            thread.join(10)


def test_channel_ready_future_can_be_cancelled(client):
    with client.insecure_channel(f"127.0.0.1:{_unused_port()}", options=FAST) as channel:
        ready = client.channel_ready_future(channel)
        called = threading.Event()
        ready.add_done_callback(lambda f: called.set())
        assert ready.cancel()
        assert ready.cancelled() and ready.done()
        assert called.wait(5)
        with pytest.raises(grpc.FutureCancelledError):
            ready.result(timeout=1)


def test_wait_for_ready_waits_and_fail_fast_fails(client):
    port = _unused_port()
    with client.insecure_channel(f"127.0.0.1:{port}", options=FAST) as channel:
        echo = channel.unary_unary("/test.Sync/Echo")
        began = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            echo(b"x", timeout=5)
        assert info.value.code() is grpc.StatusCode.UNAVAILABLE
        assert time.monotonic() - began < 3

        result = {}

        def server_later():
            time.sleep(0.8)
            with serve("grpc", Service(), port):
                result["done"] = threading.Event()
                result["done"].wait(10)

        thread = threading.Thread(target=server_later)
        thread.start()
        try:
            assert echo(b"patient", timeout=10, wait_for_ready=True) == b"patient"
        finally:
            deadline = time.monotonic() + 5
            while "done" not in result and time.monotonic() < deadline:
                time.sleep(0.01)
            result.get("done", threading.Event()).set()
            thread.join(10)


def test_wait_for_ready_ends_at_the_deadline(client):
    with client.insecure_channel(f"127.0.0.1:{_unused_port()}", options=FAST) as channel:
        began = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            channel.unary_unary("/test.Sync/Echo")(b"x", timeout=0.5, wait_for_ready=True)
        assert info.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        assert 0.4 < time.monotonic() - began < 3
