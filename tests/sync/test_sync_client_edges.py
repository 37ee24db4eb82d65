"""The blocking client's edges, against our blocking server: bad arguments, serializers and
deserializers that raise, call credentials (local credentials: call credentials allowed),
callbacks that raise, the finished call's and the future's remaining answers, and the
dispatcher surviving a receiver that raises. grpcio's client runs the same tests where its
behaviour is the contract."""

from __future__ import annotations

import logging
import threading
from concurrent import futures

import grpc
import pytest

import turbogrpc
from turbogrpc import _engine
from turbogrpc._core import _engine_log
from turbogrpc._sync import _queues

from sync.servers import Service, serve


def _explode(_message):
    raise ValueError("cannot")


def test_bad_timeouts_are_usage_errors():
    with turbogrpc.insecure_channel("127.0.0.1:1") as channel:
        with pytest.raises(turbogrpc.UsageError, match="NaN"):
            channel.unary_unary("/test.Sync/Echo")(b"x", timeout=float("nan"))
        with pytest.raises(turbogrpc.UsageError, match="number of seconds"):
            channel.unary_unary("/test.Sync/Echo")(b"x", timeout="1")


@pytest.mark.parametrize("shape", ["blocking", "future", "unary_stream"])
def test_a_serializer_that_raises_ends_the_call_internal(client, shape):
    with serve("ours-sync", Service()) as port, client.insecure_channel(f"127.0.0.1:{port}") as channel:
        if shape == "unary_stream":
            with pytest.raises(grpc.RpcError) as info:  # grpcio raises at the call, we at next()
                next(channel.unary_stream("/test.Sync/Count", request_serializer=_explode)(b"3", timeout=5))
            error = info.value
        else:
            method = channel.unary_unary("/test.Sync/Echo", request_serializer=_explode)
            with pytest.raises(grpc.RpcError) as info:
                method(b"x", timeout=5) if shape == "blocking" else method.future(b"x", timeout=5).result(5)
            error = info.value
        assert error.code() is grpc.StatusCode.INTERNAL
        assert error.details() == "Exception serializing request!"


def test_a_request_iterator_serializer_that_raises(client):
    with serve("ours-sync", Service()) as port, client.insecure_channel(f"127.0.0.1:{port}") as channel:
        method = channel.stream_unary("/test.Sync/Join", request_serializer=_explode)
        with pytest.raises(grpc.RpcError) as info:
            method(iter([b"a"]), timeout=5)
        assert info.value.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)


@pytest.mark.parametrize("shape", ["blocking", "future", "unary_stream"])
def test_a_deserializer_that_raises_ends_the_call_internal(client, shape):
    with serve("ours-sync", Service()) as port, client.insecure_channel(f"127.0.0.1:{port}") as channel:
        if shape == "unary_stream":
            call = channel.unary_stream("/test.Sync/Count", response_deserializer=_explode)(b"3", timeout=5)
            with pytest.raises(grpc.RpcError) as info:
                call.next() if client is turbogrpc else next(call)
        else:
            method = channel.unary_unary("/test.Sync/Echo", response_deserializer=_explode)
            with pytest.raises(grpc.RpcError) as info:
                method(b"x", timeout=5) if shape == "blocking" else method.future(b"x", timeout=5).result(5)
        assert info.value.code() is grpc.StatusCode.INTERNAL
        assert info.value.details() == "Exception deserializing response!"


class _Plugin(grpc.AuthMetadataPlugin):
    def __init__(self, outcome):
        self.outcome = outcome

    def __call__(self, context, callback):
        if isinstance(self.outcome, Exception):
            raise self.outcome
        if self.outcome == "error":
            callback(None, ValueError("no token today"))
        else:
            callback((("x-token", self.outcome),), None)


class _TokenService(Service):
    def handlers(self):
        def token(request, context):
            return dict(context.invocation_metadata()).get("x-token", "none").encode()

        return grpc.method_handlers_generic_handler("test.Sync", {
            "Token": grpc.unary_unary_rpc_method_handler(token)})


def _local_server_and_channel(client):
    pool = futures.ThreadPoolExecutor(4)
    server = turbogrpc.server(pool)
    server.add_generic_rpc_handlers((_TokenService().handlers(),))
    port = server.add_secure_port("127.0.0.1:0", turbogrpc.local_server_credentials())
    server.start()
    channel = client.secure_channel(f"127.0.0.1:{port}", client.local_channel_credentials())
    return server, pool, channel


def test_call_credentials_on_the_blocking_path(client):
    server, pool, channel = _local_server_and_channel(client)
    try:
        token = channel.unary_unary("/test.Sync/Token")
        ok = client.metadata_call_credentials(_Plugin("t0k3n"))
        assert token(b"", timeout=5, credentials=ok) == b"t0k3n"
        assert token.future(b"", timeout=5, credentials=ok).result(5) == b"t0k3n"
        for outcome in ("error", RuntimeError("plugin broke")):
            with pytest.raises(grpc.RpcError) as info:
                token(b"", timeout=5, credentials=client.metadata_call_credentials(_Plugin(outcome)))
            assert info.value.code() is grpc.StatusCode.UNAVAILABLE
            with pytest.raises(grpc.RpcError):
                token.future(b"", timeout=5,
                             credentials=client.metadata_call_credentials(_Plugin(outcome))).result(5)
    finally:
        channel.close()
        server.stop(None).wait(5)
        pool.shutdown(wait=False)


def test_call_credentials_need_a_secure_channel(env):
    credentials = env.client.access_token_call_credentials("t")
    with pytest.raises((ValueError, grpc.RpcError)):
        env.uu("Echo")(b"x", timeout=5, credentials=credentials)


def test_the_finished_calls_remaining_answers(server_kind):
    """Ours only: grpcio's _InactiveRpcError leaves some of these unimplemented."""
    with serve(server_kind, Service()) as port, turbogrpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        _check_finished_answers(channel)


def _check_finished_answers(channel):
    fail = channel.unary_unary("/test.Sync/Fail")
    with pytest.raises(grpc.RpcError) as info:
        fail(b"x", timeout=5)
    error = info.value
    assert isinstance(error.debug_error_string(), str)
    assert error.traceback() is not None
    assert not error.is_active() and error.time_remaining() is None
    assert not error.cancel() and not error.add_callback(lambda: None)
    seen = []
    error.add_done_callback(seen.append)
    assert seen == [error]

    future = fail.future(b"x", timeout=5)
    assert future.traceback(timeout=5) is not None
    assert isinstance(future.debug_error_string(), str)
    assert future.initial_metadata() is not None


def test_future_timeouts_and_callbacks_of_a_running_call(env):
    future = env.uu("Hold").future(b"x", timeout=10)
    with pytest.raises(grpc.FutureTimeoutError):
        future.exception(timeout=0.05)
    with pytest.raises(grpc.FutureTimeoutError):
        future.traceback(timeout=0.05)
    ended = threading.Event()
    assert future.add_callback(ended.set)
    assert future.time_remaining() is not None and future.is_active()
    future.cancel()
    assert ended.wait(5)
    with pytest.raises(grpc.FutureCancelledError):
        future.exception()


@pytest.mark.allow_error_logs(r"callback raised")
def test_callbacks_that_raise_are_logged_and_the_others_still_run():
    with serve("ours-sync", Service()) as port, turbogrpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        future = channel.unary_unary("/test.Sync/Hold").future(b"x", timeout=10)
        later = threading.Event()
        future.add_callback(_explode)
        future.add_done_callback(_explode)
        future.add_done_callback(lambda f: later.set())
        future.cancel()
        assert later.wait(5)


@pytest.mark.allow_error_logs(r"handling engine event")
def test_a_dispatcher_survives_a_receiver_that_raises():
    """A second Dispatcher (its own thread and queue): a CONNECTIVITY event whose receiver
    raises is logged, the next event still arrives, and stop() ends the thread."""
    dispatcher = _queues.Dispatcher()
    got = threading.Event()

    class Raising:
        def _on_event(self, event):
            raise RuntimeError("receiver bug")

    class Noting:
        def _on_event(self, event):
            got.set()

    channel = turbogrpc.insecure_channel("127.0.0.1:1")
    try:
        channel_id = channel._engine_channel.channel_id
        dispatcher.register(101, Raising())
        dispatcher.register(102, Noting())
        _engine.watch_channel(channel_id, dispatcher.cq, 101, 4)  # answered at once
        _engine.watch_channel(channel_id, dispatcher.cq, 102, 4)
        assert got.wait(5)
        dispatcher.unregister(101)
    finally:
        dispatcher.stop()
        channel.close()
    assert not dispatcher._thread.is_alive()


def test_the_log_relay_stops_at_exit_and_starts_again_for_the_next_channel():
    logger = logging.getLogger("turbogrpc")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        turbogrpc.insecure_channel("127.0.0.1:1").close()
        thread = _engine_log._relay_thread
        assert thread is not None and thread.is_alive()
        _engine_log._stop_at_exit()  # what atexit runs
        assert not thread.is_alive()
        turbogrpc.insecure_channel("127.0.0.1:1").close()
        assert _engine_log._relay_thread is not thread and _engine_log._relay_thread.is_alive()
    finally:
        logger.setLevel(level)
