"""The blocking client (grpcio's API) against real servers: grpcio's blocking server and our
asyncio server. Every test also runs with grpcio's own client, which validates the test.

Every wait is bounded (call timeouts, future timeouts).
"""

from __future__ import annotations

import gc
import queue
import threading
import time

import grpc
import pytest


def test_blocking_unary_returns_the_response(env):
    assert env.uu("Echo")(b"hello", timeout=5) == b"hello"


def test_with_call_gives_the_call_with_metadata_and_status(env):
    response, call = env.uu("Echo").with_call(b"x", timeout=5, metadata=[("x-a", "1")])
    assert response == b"x"
    assert call.code() is grpc.StatusCode.OK
    assert call.details() in ("", None)
    assert ("initial", "i") in [tuple(m) for m in call.initial_metadata()]
    trailing = {m.key: m.value for m in call.trailing_metadata()}
    assert trailing["trailing"] == "t" and trailing["echo-bin"] == b"\x00\x01"
    assert not call.is_active()
    assert isinstance(call, grpc.Call) and isinstance(call, grpc.Future)


def test_metadata_reaches_the_server(env):
    seen = env.uu("Metadata")(b"", timeout=5, metadata=(("x-one", "1"), ("x-two", "2")))
    assert seen == repr([("x-one", "1"), ("x-two", "2")]).encode()


def test_a_failed_call_raises_an_rpc_error_that_is_a_finished_call(env):
    with pytest.raises(grpc.RpcError) as info:
        env.uu("Fail")(b"thing", timeout=5)
    error = info.value
    assert isinstance(error, grpc.Call) and isinstance(error, grpc.Future)
    assert error.code() is grpc.StatusCode.NOT_FOUND
    assert error.details() == "no such thing: thing"
    assert ("why", "because") in [tuple(m) for m in error.trailing_metadata()]
    assert error.done() and not error.running() and not error.cancelled()
    assert error.exception() is error
    assert error.traceback() is not None
    assert str(error).startswith("<_InactiveRpcError of RPC that terminated with:\n\tstatus = StatusCode.NOT_FOUND")
    with pytest.raises(grpc.RpcError):
        error.result()


def test_a_deadline_ends_a_blocking_call_deadline_exceeded(env):
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as info:
        env.uu("Hold")(b"x", timeout=0.3)
    assert info.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert 0.25 < time.monotonic() - started < 3


def test_future_result_callbacks_and_state(env):
    future = env.uu("Echo").future(b"later", timeout=5)
    done = threading.Event()
    seen = []
    future.add_done_callback(lambda f: (seen.append(f.result()), done.set()))
    assert future.result(timeout=5) == b"later"
    assert done.wait(5) and seen == [b"later"]
    assert future.done() and not future.running() and not future.cancelled()
    assert future.exception() is None and future.traceback() is None
    assert future.code() is grpc.StatusCode.OK
    late = []
    future.add_done_callback(late.append)  # already done: called at once
    assert late == [future]


def test_a_future_of_a_failed_call(env):
    future = env.uu("Fail").future(b"f", timeout=5)
    error = future.exception(timeout=5)
    assert error is future and isinstance(error, grpc.RpcError)
    assert future.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError):
        future.result()


def test_future_result_timeout_and_cancel(env):
    future = env.uu("Hold").future(b"x", timeout=10)
    with pytest.raises(grpc.FutureTimeoutError):
        future.result(timeout=0.1)
    assert future.running()
    called = threading.Event()
    future.add_done_callback(lambda f: called.set())
    assert future.cancel()
    assert not future.cancel()
    assert future.cancelled() and future.done()
    assert called.wait(5)
    with pytest.raises(grpc.FutureCancelledError):
        future.result()
    assert future.code() is grpc.StatusCode.CANCELLED
    if env.server_sees_cancellation:
        assert env.service.cancelled.wait(5), "the server never saw the cancellation"


def test_response_stream_iterates_and_reports_status(env):
    call = env.us("Count")(b"5", timeout=5)
    assert [m for m in call] == [b"0", b"1", b"2", b"3", b"4"]
    assert call.code() is grpc.StatusCode.OK
    with pytest.raises(StopIteration):
        next(call)


def test_cancelling_a_response_stream_ends_iteration_with_cancelled(env):
    call = env.us("Endless")(b"", timeout=10)
    assert next(call) == b"0"
    assert call.cancel()
    with pytest.raises(grpc.RpcError) as info:
        for _ in range(100000):
            next(call)
    assert info.value.code() is grpc.StatusCode.CANCELLED
    assert call.code() is grpc.StatusCode.CANCELLED
    if env.server_sees_cancellation:
        assert env.service.cancelled.wait(5)


def test_a_dropped_response_stream_is_cancelled(env):
    if not env.server_sees_cancellation:
        pytest.skip("only the server can tell, and grpc.aio's def handlers never learn of it")
    call = env.us("Endless")(b"", timeout=10)
    assert next(call) == b"0"
    del call
    gc.collect()
    assert env.service.cancelled.wait(5), "dropping the iterator did not cancel the RPC"


def test_request_stream_from_an_iterator(env):
    assert env.su("Join")(iter([b"a", b"b", b"c"]), timeout=5) == b"a|b|c"
    response, call = env.su("Join").with_call(iter([b"x"]), timeout=5)
    assert response == b"x" and call.code() is grpc.StatusCode.OK
    assert env.su("Join").future(iter([b"f"]), timeout=5).result(5) == b"f"


def test_the_request_iterator_is_consumed_off_the_callers_thread(env):
    callers = set()

    def requests():
        for i in range(3):
            callers.add(threading.get_ident())
            yield str(i).encode()

    assert env.su("Join")(requests(), timeout=5) == b"0|1|2"
    assert threading.get_ident() not in callers


def test_a_raising_request_iterator_ends_the_call_unknown(env):
    def requests():
        yield b"one"
        raise ValueError("broken iterator")

    with pytest.raises(grpc.RpcError) as info:
        env.su("Join")(requests(), timeout=5)
    assert info.value.code() is grpc.StatusCode.UNKNOWN
    assert info.value.details() == "Exception iterating requests!"


def test_a_request_iterator_does_not_run_far_ahead_of_a_slow_server(env):
    """A million 1 KiB requests on offer, the server reading one per 5 ms: within a second
    the iterator is asked for what flow control and the write window let through (a few MiB),
    not the whole million."""
    produced = 0

    def requests():
        nonlocal produced
        while True:
            produced += 1
            yield b"r" * 1024

    future = env.su("SlowJoin").future(requests(), timeout=1)
    with pytest.raises(grpc.RpcError):
        future.result(5)
    assert future.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert produced < 20000, produced  # ~20 MiB; flow control allows some MiB, never all


def test_bidirectional_ping_pong(env):
    outbox = queue.Queue()

    def requests():
        while True:
            item = outbox.get(timeout=5)
            if item is None:
                return
            yield item

    outbox.put(b"ping")
    call = env.ss("Upper")(requests(), timeout=5)
    replies = []
    for reply in call:
        replies.append(reply)
        outbox.put(b"again" if len(replies) < 3 else None)
    assert replies == [b"PING", b"AGAIN", b"AGAIN"]
    assert call.code() is grpc.StatusCode.OK


def test_initial_metadata_before_the_end(env):
    call = env.us("Count")(b"2", timeout=5)
    assert call.initial_metadata() == () or isinstance(call.initial_metadata(), tuple)
    assert list(call) == [b"0", b"1"]


def test_many_threads_share_one_channel(env):
    errors = []

    def worker(n):
        try:
            for i in range(50):
                body = f"{n}-{i}".encode()
                assert env.uu("Echo")(body, timeout=5) == body
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors[:3]


def test_closing_the_channel_cancels_running_calls_and_refuses_new_ones(env):
    future = env.uu("Hold").future(b"x", timeout=10)
    time.sleep(0.1)
    env.channel.close()
    assert future.exception(5) is not None or future.cancelled()
    assert future.code() is grpc.StatusCode.CANCELLED
    assert future.details() == "Channel closed!"
    with pytest.raises(ValueError):
        env.uu("Echo")(b"x", timeout=1)
