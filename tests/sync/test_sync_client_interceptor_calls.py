"""What a blocking client interceptor (grpc's ``intercept_channel``) does to a call, against real
servers, with our client and with grpcio's (which validates each test: grpcio's
``grpc/_interceptor.py`` is the reference): metadata added on every shape and every way of
calling, the method or timeout changed, answers without calling continuation, retries, and
failures (the server's, the channel's, the interceptor's own) as outcomes and as raised.

Order, stacking, stream wrapping and the intercepted channel itself are in
test_sync_client_interceptors.py. Every wait is bounded (call timeouts, future timeouts).
"""

from __future__ import annotations

import collections
import socket
import time

import grpc
import pytest

from sync.client_interceptor_env import (  # noqa: F401  (env: the fixture)
    NOT_FOUND, OK, SHAPES, UNAVAILABLE,
    AddMetadata, AllShapes, WrapResponses, _call_shape, _path, _replaced, env)


# -- interceptors -----------------------------------------------------------------------------

class _OldDetails(collections.namedtuple("_OldDetails", ("method", "timeout", "metadata",
                                                         "credentials")),
                  grpc.ClientCallDetails):
    """Details as interceptors written before wait_for_ready and compression build them."""


class Raise(AllShapes):
    def _intercept(self, continuation, details, request):
        raise ZeroDivisionError("from the interceptor")


class RetryOnce(grpc.UnaryUnaryClientInterceptor):
    """Calls continuation again when the first attempt ended UNAVAILABLE or NOT_FOUND."""

    def __init__(self):
        self.codes = []

    def intercept_unary_unary(self, continuation, details, request):
        outcome = continuation(details, request)
        self.codes.append(outcome.code())
        if outcome.code() in (UNAVAILABLE, NOT_FOUND):
            outcome = continuation(details, request)
            self.codes.append(outcome.code())
        return outcome


class Inspect(grpc.UnaryUnaryClientInterceptor, grpc.StreamUnaryClientInterceptor):
    """Keeps what continuation returned (and what asking it gave) before returning it."""

    def __init__(self):
        self.outcomes = []
        self.observed = []

    def _intercept(self, continuation, details, request):
        outcome = continuation(details, request)
        self.outcomes.append(outcome)
        self.observed.append((outcome.code(), outcome.exception(), outcome.done()))
        return outcome

    intercept_unary_unary = _intercept
    intercept_stream_unary = _intercept


class Cached(grpc.Call, grpc.Future):
    """A finished call made up by an interceptor that answers without the server."""

    def __init__(self, response):
        self._response = response

    def initial_metadata(self): return ()
    def trailing_metadata(self): return (("cached", "yes"),)
    def code(self): return OK
    def details(self): return ""
    def is_active(self): return False
    def time_remaining(self): return None
    def cancel(self): return False
    def add_callback(self, callback): return False
    def cancelled(self): return False
    def running(self): return False
    def done(self): return True
    def result(self, timeout=None): return self._response
    def exception(self, timeout=None): return None
    def traceback(self, timeout=None): return None
    def add_done_callback(self, fn): fn(self)


class ShortCircuit(AllShapes):
    def _intercept(self, continuation, details, request):
        if details.method.endswith("/Stream") or details.method.endswith("/Chat"):
            return iter([b"cached-1", b"cached-2"])
        return Cached(b"cached")


_METADATA_METHODS = {"unary_unary": "Metadata", "unary_stream": "MetadataStream",
                     "stream_unary": "MetadataJoin", "stream_stream": "MetadataChat"}


# -- metadata, on every shape and every way of calling ----------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
def test_an_interceptor_adds_metadata_on_every_shape(env, shape):
    adding = AddMetadata("x-added")
    channel = env.intercept(adding)
    responses = _call_shape(channel, shape, _METADATA_METHODS[shape],
                            metadata=[("x-caller", "c")])
    expected = repr([("x-added", "1"), ("x-caller", "c")]).encode()
    assert responses[-1].endswith(expected)
    [details] = adding.seen
    assert isinstance(details, grpc.ClientCallDetails)
    assert details.method == _path(_METADATA_METHODS[shape])
    assert details.timeout == 5 and list(details.metadata) == [("x-caller", "c")]
    assert details.credentials is None and details.wait_for_ready is None
    assert details.compression is None


def test_metadata_interceptor_through_with_call_and_future(env):
    channel = env.intercept(AddMetadata("x-added"))
    expected = repr([("x-added", "1")]).encode()

    response, call = channel.unary_unary(_path("Metadata")).with_call(b"", timeout=5)
    assert response == expected
    assert call.code() is OK and isinstance(call, grpc.Call) and isinstance(call, grpc.Future)
    assert call.result() == expected and call.done()
    future = channel.unary_unary(_path("Metadata")).future(b"", timeout=5)
    assert future.result(timeout=5) == expected and future.code() is OK

    response, call = channel.stream_unary(_path("MetadataJoin")).with_call(iter([b"a"]), timeout=5)
    assert response == b"a|" + expected and call.code() is OK
    future = channel.stream_unary(_path("MetadataJoin")).future(iter([b"b"]), timeout=5)
    assert future.result(timeout=5) == b"b|" + expected


def test_with_call_gives_the_calls_metadata_through_the_outcome(env):
    channel = env.intercept(AddMetadata("x-added"))
    _, call = channel.unary_unary(_path("Echo")).with_call(b"x", timeout=5)
    assert ("initial", "i") in [tuple(m) for m in call.initial_metadata()]
    assert ("trailing", "t") in [tuple(m) for m in call.trailing_metadata()]
    assert not call.is_active() and call.exception() is None and call.traceback() is None
    assert not call.cancelled() and not call.running()
    seen = []
    call.add_done_callback(seen.append)
    assert seen == [call]


def test_details_lacking_newer_fields_take_the_callers(env):
    class Old(grpc.UnaryUnaryClientInterceptor):
        def intercept_unary_unary(self, continuation, details, request):
            metadata = list(details.metadata or ()) + [("x-old", "1")]
            return continuation(_OldDetails(details.method, details.timeout, metadata,
                                            details.credentials), request)

    channel = env.intercept(Old())
    assert channel.unary_unary(_path("Metadata"))(b"", timeout=5, wait_for_ready=True) == (
        repr([("x-old", "1")]).encode())


# -- changing the call ------------------------------------------------------------------------

def test_an_interceptor_changes_the_method(env):
    class Redirect(AllShapes):
        def _intercept(self, continuation, details, request):
            method = details.method.replace("Missing", "Echo")
            return continuation(_replaced(details, method=method), request)

    channel = env.intercept(Redirect())
    assert channel.unary_unary(_path("Missing"))(b"there", timeout=5) == b"there"
    assert channel.unary_unary(_path("Missing")).future(b"f", timeout=5).result(5) == b"f"


def test_an_interceptor_sets_the_timeout(env):
    class Deadline(grpc.UnaryUnaryClientInterceptor):
        def intercept_unary_unary(self, continuation, details, request):
            assert details.timeout is None
            return continuation(_replaced(details, timeout=0.3), request)

    channel = env.intercept(Deadline())
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as info:
        channel.unary_unary(_path("Hold"))(b"x")
    assert info.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert 0.25 < time.monotonic() - started < 3


@pytest.mark.parametrize("shape", SHAPES)
def test_an_interceptor_answers_without_calling_continuation(env, shape):
    channel = env.intercept(ShortCircuit())
    name = {"unary_unary": "NoSuch", "unary_stream": "Stream", "stream_unary": "NoSuch",
            "stream_stream": "Chat"}[shape]
    responses = _call_shape(channel, shape, name)  # none of these exists on the server
    assert responses == ([b"cached"] if shape.endswith("unary") else [b"cached-1", b"cached-2"])


def test_a_short_circuited_call_through_with_call_and_future(env):
    channel = env.intercept(ShortCircuit())
    response, call = channel.unary_unary(_path("NoSuch")).with_call(b"", timeout=5)
    assert response == b"cached" and isinstance(call, Cached)
    assert call.trailing_metadata() == (("cached", "yes"),)
    future = channel.stream_unary(_path("NoSuch")).future(iter([b""]), timeout=5)
    assert isinstance(future, Cached) and future.result() == b"cached"


# -- retries ----------------------------------------------------------------------------------

@pytest.mark.parametrize("status", ["UNAVAILABLE", "NOT_FOUND"])
def test_retrying_calls_continuation_again(env, status):
    retry = RetryOnce()
    channel = env.intercept(retry)
    response, call = channel.unary_unary(_path("Flaky")).with_call(status.encode(), timeout=5)
    assert response == status.encode() and call.code() is OK
    assert retry.codes == [getattr(grpc.StatusCode, status), OK]
    assert env.service.attempts[status.encode()] == 2


def test_retrying_a_server_that_is_not_there_fails_after_two_attempts(client):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    retry = RetryOnce()
    with client.intercept_channel(client.insecure_channel(f"127.0.0.1:{port}"), retry) as channel:
        with pytest.raises(grpc.RpcError) as info:
            channel.unary_unary(_path("Echo"))(b"x", timeout=5)
    assert info.value.code() is UNAVAILABLE
    assert retry.codes == [UNAVAILABLE, UNAVAILABLE]


# -- failures ---------------------------------------------------------------------------------

def test_a_server_error_reaches_the_interceptor_as_the_outcome_and_the_caller_raised(env):
    inspect = Inspect()
    channel = env.intercept(inspect)
    with pytest.raises(grpc.RpcError) as info:
        channel.unary_unary(_path("Fail"))(b"thing", timeout=5)
    assert info.value.code() is NOT_FOUND and info.value.details() == "no such thing: thing"
    [outcome] = inspect.outcomes
    assert outcome is info.value  # the RpcError itself is continuation's outcome
    assert inspect.observed == [(NOT_FOUND, outcome, True)]
    with pytest.raises(grpc.RpcError):
        outcome.result()
    assert ("why", "because") in [tuple(m) for m in outcome.trailing_metadata()]

    with pytest.raises(grpc.RpcError) as info:
        channel.unary_unary(_path("Fail")).with_call(b"again", timeout=5)
    assert info.value.code() is NOT_FOUND


def test_a_server_error_through_future_and_streams(env, server_kind):
    channel = env.intercept(Inspect(), WrapResponses(b"w:"))
    future = channel.unary_unary(_path("Fail")).future(b"f", timeout=5)
    assert isinstance(future.exception(timeout=5), grpc.RpcError)
    assert future.code() is NOT_FOUND
    with pytest.raises(grpc.RpcError):
        future.result(timeout=5)
    # a response stream that fails: the wrapped iterator raises the RPC's error
    if server_kind == "grpc-aio":
        # grpc.aio (grpcio 1.85, with grpcio's client too) loses the status of an abort() right
        # after a yield in a def handler ~4 times in 10: the abort's batch meets the yielded
        # message's batch still in flight (ExecuteBatchError GRPC_CALL_ERROR_TOO_MANY_OPERATIONS
        # logged), no status is sent, and the call ends at its deadline instead of NOT_FOUND.
        pytest.skip("grpc.aio drops the status of an abort() right after a yield (a race)")
    call = channel.unary_stream(_path("FailStream"))(b"s", timeout=5)
    assert next(call) == b"w:first"
    with pytest.raises(grpc.RpcError) as info:
        next(call)
    assert info.value.code() is NOT_FOUND and call.code() is NOT_FOUND
    assert call.details() == "no more"


def test_an_exception_from_the_channel_becomes_a_failure_outcome(env):
    class BadTimeout(grpc.UnaryUnaryClientInterceptor):
        def __init__(self):
            self.outcome = None

        def intercept_unary_unary(self, continuation, details, request):
            self.outcome = continuation(_replaced(details, timeout="soon"), request)
            return self.outcome

    bad = BadTimeout()
    channel = env.intercept(bad)
    with pytest.raises(Exception) as info:
        channel.unary_unary(_path("Echo"))(b"x", timeout=5)
    assert not isinstance(info.value, grpc.RpcError)  # the channel's own exception, as raised
    outcome = bad.outcome
    assert isinstance(outcome, grpc.RpcError) and isinstance(outcome, grpc.Call)
    assert outcome.exception() is info.value and outcome.traceback() is not None
    assert outcome.code() is grpc.StatusCode.INTERNAL
    assert outcome.details() == "Exception raised while intercepting the RPC"
    assert outcome.done() and not outcome.is_active() and outcome.trailing_metadata() is None


def test_an_interceptor_raising(env):
    channel = env.intercept(Raise())
    # blocking unary responses: raised to the caller as it is
    with pytest.raises(ZeroDivisionError):
        channel.unary_unary(_path("Echo"))(b"x", timeout=5)
    with pytest.raises(ZeroDivisionError):
        channel.unary_unary(_path("Echo")).with_call(b"x", timeout=5)
    with pytest.raises(ZeroDivisionError):
        channel.stream_unary(_path("Join"))(iter([b"x"]), timeout=5)
    # future() and response streams: a failed outcome in place of the call
    future = channel.unary_unary(_path("Echo")).future(b"x", timeout=5)
    assert isinstance(future.exception(), ZeroDivisionError)
    assert future.code() is grpc.StatusCode.INTERNAL and future.done()
    with pytest.raises(ZeroDivisionError):
        future.result()
    seen = []
    future.add_done_callback(seen.append)
    assert seen == [future]
    for call in (channel.unary_stream(_path("Count"))(b"2", timeout=5),
                 channel.stream_stream(_path("Upper"))(iter([b"a"]), timeout=5)):
        assert isinstance(call, grpc.RpcError) and call.code() is grpc.StatusCode.INTERNAL
        with pytest.raises(ZeroDivisionError):
            next(call)
