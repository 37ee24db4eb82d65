"""Blocking client interceptors (grpc's ``intercept_channel``) against real servers, with our
client and with grpcio's (which validates each test: grpcio's ``grpc/_interceptor.py`` is the
reference). Every wait is bounded (call timeouts, future timeouts, event waits).

The service is the blocking tests' (servers.py) plus methods that report the metadata they
received on every shape, and one that fails the first time it sees a key.
"""

from __future__ import annotations

import collections
import socket
import subprocess
import sys
import textwrap
import threading
import time

import grpc
import pytest

import turbogrpc
from sync.servers import SERVICE, Service, serve

OK, NOT_FOUND, UNAVAILABLE = (grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND,
                              grpc.StatusCode.UNAVAILABLE)
SHAPES = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")


# -- the service ------------------------------------------------------------------------------

def _seen(context):
    return repr(sorted((k, v) for k, v in context.invocation_metadata() if k.startswith("x-")))


class InterceptedService(Service):
    def __init__(self):
        super().__init__()
        self.attempts = collections.Counter()

    def metadata_stream(self, request, context):
        yield _seen(context).encode()

    def metadata_join(self, request_iterator, context):
        return b"|".join(list(request_iterator) + [_seen(context).encode()])

    def metadata_chat(self, request_iterator, context):
        for request in request_iterator:
            yield request
        yield _seen(context).encode()

    def fail_stream(self, request, context):
        yield b"first"
        context.abort(grpc.StatusCode.NOT_FOUND, "no more")

    def flaky(self, request, context):
        """Fails with the status named by the request the first time, then echoes."""
        with self.lock:
            self.attempts[request] += 1
            first = self.attempts[request] == 1
        if first:
            context.abort(getattr(grpc.StatusCode, request.decode()), "try again")
        return request

    def handlers(self):
        base = super().handlers()
        extra = grpc.method_handlers_generic_handler(SERVICE, {
            "MetadataStream": grpc.unary_stream_rpc_method_handler(self.metadata_stream),
            "MetadataJoin": grpc.stream_unary_rpc_method_handler(self.metadata_join),
            "MetadataChat": grpc.stream_stream_rpc_method_handler(self.metadata_chat),
            "FailStream": grpc.unary_stream_rpc_method_handler(self.fail_stream),
            "Flaky": grpc.unary_unary_rpc_method_handler(self.flaky),
        })

        class Both(grpc.GenericRpcHandler):
            def service(self, handler_call_details):
                return extra.service(handler_call_details) or base.service(handler_call_details)

        return Both()


class Env:
    def __init__(self, client, channel, service):
        self.client = client
        self.channel = channel
        self.service = service

    def intercept(self, *interceptors):
        return self.client.intercept_channel(self.channel, *interceptors)


@pytest.fixture
def env(client, server_kind):
    service = InterceptedService()
    with serve(server_kind, service) as port:
        with client.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Env(client, channel, service)
        service.release.set()


def _path(name):
    return f"/{SERVICE}/{name}"


# -- interceptors -----------------------------------------------------------------------------

class _Details(collections.namedtuple("_Details", ("method", "timeout", "metadata", "credentials",
                                                   "wait_for_ready", "compression")),
               grpc.ClientCallDetails):
    """What interceptors written for grpcio pass on (grpc's own example builds these)."""


class _OldDetails(collections.namedtuple("_OldDetails", ("method", "timeout", "metadata",
                                                         "credentials")),
                  grpc.ClientCallDetails):
    """Details as interceptors written before wait_for_ready and compression build them."""


def _replaced(details, **changes):
    fields = {name: getattr(details, name) for name in _Details._fields}
    fields.update(changes)
    return _Details(**fields)


class AllShapes(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Routes all four shapes to ``_intercept``."""

    def _intercept(self, continuation, details, request):
        return continuation(details, request)

    def intercept_unary_unary(self, continuation, details, request):
        return self._intercept(continuation, details, request)

    def intercept_unary_stream(self, continuation, details, request):
        return self._intercept(continuation, details, request)

    def intercept_stream_unary(self, continuation, details, request_iterator):
        return self._intercept(continuation, details, request_iterator)

    def intercept_stream_stream(self, continuation, details, request_iterator):
        return self._intercept(continuation, details, request_iterator)


class AddMetadata(AllShapes):
    def __init__(self, key, value="1"):
        self.pair = (key, value)
        self.seen = []

    def _intercept(self, continuation, details, request):
        self.seen.append(details)
        metadata = list(details.metadata or ()) + [self.pair]
        return continuation(_replaced(details, metadata=metadata), request)


class Record(AllShapes):
    def __init__(self, name, log):
        self.name, self.log = name, log

    def _intercept(self, continuation, details, request):
        self.log.append(f"{self.name}>")
        outcome = continuation(details, request)
        self.log.append(f"<{self.name}")
        return outcome


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


class Prefixed:
    """A response stream wrapped by an interceptor: prefixes each response, and is still the
    call (status and metadata come from the call it wraps)."""

    def __init__(self, call, prefix):
        self._call, self._prefix = call, prefix

    def __iter__(self):
        return self

    def __next__(self):
        return self._prefix + next(self._call)

    def __getattr__(self, name):
        return getattr(self._call, name)


class WrapResponses(grpc.UnaryStreamClientInterceptor, grpc.StreamStreamClientInterceptor):
    def __init__(self, prefix):
        self.prefix = prefix

    def intercept_unary_stream(self, continuation, details, request):
        return Prefixed(continuation(details, request), self.prefix)

    def intercept_stream_stream(self, continuation, details, request_iterator):
        return Prefixed(continuation(details, request_iterator), self.prefix)


def _call_shape(channel, shape, name, **options):
    """One call of each shape on ``channel``, to the method ``name`` of that shape: its
    responses as a list of bytes."""
    options.setdefault("timeout", 5)
    if shape == "unary_unary":
        return [channel.unary_unary(_path(name))(b"2", **options)]
    if shape == "unary_stream":
        return list(channel.unary_stream(_path(name))(b"2", **options))
    if shape == "stream_unary":
        return [channel.stream_unary(_path(name))(iter([b"a", b"b"]), **options)]
    return list(channel.stream_stream(_path(name))(iter([b"a", b"b"]), **options))


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


# -- order, stacking, shapes an interceptor leaves alone --------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
def test_interceptors_run_first_outermost(env, shape):
    log = []
    channel = env.intercept(Record("a", log), Record("b", log), Record("c", log))
    name = {"unary_unary": "Echo", "unary_stream": "Count", "stream_unary": "Join",
            "stream_stream": "Upper"}[shape]
    _call_shape(channel, shape, name)
    assert log == ["a>", "b>", "c>", "<c", "<b", "<a"]


def test_stacking_intercept_channel_is_giving_all_at_once(env):
    log = []
    inner = env.intercept(Record("inner", log), AddMetadata("x-inner"))
    outer = env.client.intercept_channel(inner, Record("outer", log), AddMetadata("x-outer"))
    assert outer.unary_unary(_path("Metadata"))(b"", timeout=5) == (
        repr([("x-inner", "1"), ("x-outer", "1")]).encode())
    assert log == ["outer>", "inner>", "<inner", "<outer"]
    assert list(outer.unary_stream(_path("Count"))(b"2", timeout=5)) == [b"0", b"1"]


def test_an_interceptor_is_skipped_for_shapes_it_does_not_implement(env):
    log = []

    class UnaryOnly(grpc.UnaryUnaryClientInterceptor):
        def intercept_unary_unary(self, continuation, details, request):
            log.append(details.method)
            return continuation(details, request)

    channel = env.intercept(UnaryOnly())
    assert list(channel.unary_stream(_path("Count"))(b"2", timeout=5)) == [b"0", b"1"]
    assert channel.stream_unary(_path("Join"))(iter([b"a"]), timeout=5) == b"a"
    assert list(channel.stream_stream(_path("Upper"))(iter([b"a"]), timeout=5)) == [b"A"]
    assert log == []
    assert channel.unary_unary(_path("Echo"))(b"e", timeout=5) == b"e"
    assert log == [_path("Echo")]


def test_intercepted_channels_and_multicallables_are_grpcs(env):
    channel = env.intercept(AddMetadata("x-a"))
    assert isinstance(channel, grpc.Channel) and isinstance(channel, env.client.Channel)
    for shape in SHAPES:
        multicallable = getattr(channel, shape)(_path("Echo"))
        camel = "".join(part.title() for part in shape.split("_"))
        assert isinstance(multicallable, getattr(grpc, f"{camel}MultiCallable"))
        assert isinstance(multicallable, getattr(env.client, f"{camel}MultiCallable"))


def test_anything_but_an_interceptor_is_a_type_error(env):
    with pytest.raises(TypeError):
        env.intercept(AddMetadata("x-a"), object())


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


def test_a_server_error_through_future_and_streams(env):
    channel = env.intercept(Inspect(), WrapResponses(b"w:"))
    future = channel.unary_unary(_path("Fail")).future(b"f", timeout=5)
    assert isinstance(future.exception(timeout=5), grpc.RpcError)
    assert future.code() is NOT_FOUND
    with pytest.raises(grpc.RpcError):
        future.result(timeout=5)
    # a response stream that fails: the wrapped iterator raises the RPC's error
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


# -- response streams -------------------------------------------------------------------------

def test_a_response_stream_interceptor_wraps_the_iterator(env):
    channel = env.intercept(WrapResponses(b"w:"))
    call = channel.unary_stream(_path("Count"))(b"3", timeout=5)
    assert list(call) == [b"w:0", b"w:1", b"w:2"]
    assert call.code() is OK  # the wrapped call's, through the wrapper
    call = channel.stream_stream(_path("Upper"))(iter([b"a", b"b"]), timeout=5)
    assert list(call) == [b"w:A", b"w:B"]


def test_a_response_stream_interceptor_may_return_a_generator(env):
    class Counting(grpc.UnaryStreamClientInterceptor):
        def intercept_unary_stream(self, continuation, details, request):
            def responses():
                count = 0
                for response in continuation(details, request):
                    count += 1
                    yield response
                yield f"count={count}".encode()
            return responses()

    channel = env.intercept(Counting())
    assert list(channel.unary_stream(_path("Count"))(b"2", timeout=5)) == [b"0", b"1", b"count=2"]


def test_a_request_stream_interceptor_wraps_the_requests(env):
    class Upper(grpc.StreamUnaryClientInterceptor):
        def intercept_stream_unary(self, continuation, details, request_iterator):
            return continuation(details, (request.upper() for request in request_iterator))

    channel = env.intercept(Upper())
    assert channel.stream_unary(_path("Join"))(iter([b"a", b"b"]), timeout=5) == b"A|B"


# -- the channel ------------------------------------------------------------------------------

def test_subscribe_and_close_reach_the_channel_below(env):
    channel = env.intercept(AddMetadata("x-a"), Record("r", []))
    states = []
    ready = threading.Event()

    def callback(state):
        states.append(state)
        if state is grpc.ChannelConnectivity.READY:
            ready.set()

    channel.subscribe(callback, try_to_connect=True)
    assert ready.wait(5), states
    channel.unsubscribe(callback)
    with channel as entered:
        assert entered is channel
        assert channel.unary_unary(_path("Echo"))(b"x", timeout=5) == b"x"
    with pytest.raises(ValueError):  # the channel below is closed too
        env.channel.unary_unary(_path("Echo"))(b"x", timeout=1)


def test_interceptor_classes_are_grpcs_own():
    for name in ("ClientCallDetails", "UnaryUnaryClientInterceptor", "UnaryStreamClientInterceptor",
                 "StreamUnaryClientInterceptor", "StreamStreamClientInterceptor"):
        assert getattr(turbogrpc, name) is getattr(grpc, name), name
    assert set(turbogrpc.__all__) >= {"intercept_channel", "ClientCallDetails"}


def test_the_intercepted_channel_overrides_every_public_channel_method():
    from turbogrpc._sync._intercepted_channel import InterceptedChannel

    inherited_on_purpose = {"__enter__", "__exit__"}  # they call close(): this layer's
    public = {name for name in vars(turbogrpc.Channel)
              if callable(getattr(turbogrpc.Channel, name))
              and (not name.startswith("_") or name in inherited_on_purpose)}
    missing = public - set(vars(InterceptedChannel)) - inherited_on_purpose
    assert not missing, f"InterceptedChannel would run Channel's own {sorted(missing)}"


# -- without grpcio ---------------------------------------------------------------------------

WITHOUT_GRPCIO = textwrap.dedent("""
    import asyncio, collections, sys, threading
    sys.modules["grpc"] = None  # `import grpc` raises ImportError from here on
    import turbogrpc
    from turbogrpc import aio

    assert turbogrpc.UnaryUnaryClientInterceptor.__module__ == "turbogrpc._sync._client_interceptor"
    try:
        turbogrpc.UnaryStreamClientInterceptor()
    except TypeError:
        pass  # abstract
    else:
        raise AssertionError("the interface is not abstract")


    class Handler:  # grpcio's RpcMethodHandler, duck-typed
        request_streaming = False
        request_deserializer = response_serializer = None
        unary_unary = unary_stream = stream_unary = stream_stream = None

        def __init__(self, response_streaming, behaviour):
            self.response_streaming = response_streaming
            if response_streaming:
                self.unary_stream = behaviour
            else:
                self.unary_unary = behaviour


    async def metadata(request, context):
        return repr([m for m in context.invocation_metadata() if m[0].startswith("x-")]).encode()

    async def two(request, context):
        yield b"1"
        yield b"2"

    class Service:
        def service(self, details):
            return {"/t.S/Metadata": Handler(False, metadata), "/t.S/Two": Handler(True, two)}.get(
                details.method)


    class Details(collections.namedtuple("Details", ("method", "timeout", "metadata",
                                                     "credentials")),
                  turbogrpc.ClientCallDetails):
        pass


    class AddMetadata(turbogrpc.UnaryUnaryClientInterceptor,
                      turbogrpc.UnaryStreamClientInterceptor):
        def intercept_unary_unary(self, continuation, details, request):
            outcome = continuation(Details(details.method, details.timeout,
                                           [("x-added", "1")], None), request)
            assert outcome.code() is turbogrpc.StatusCode.OK
            return outcome

        def intercept_unary_stream(self, continuation, details, request):
            return (b"w" + response for response in continuation(details, request))


    loop = asyncio.new_event_loop()
    started = threading.Event()
    box = {}

    async def serve():
        server = aio.server(handlers=[Service()])
        box["port"] = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        box["stop"] = asyncio.Event()
        started.set()
        await box["stop"].wait()
        await server.stop(None)

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),))
    thread.start()
    assert started.wait(10)
    try:
        target = f"127.0.0.1:{box['port']}"
        channel = turbogrpc.intercept_channel(turbogrpc.insecure_channel(target), AddMetadata())
        with channel:
            assert channel.unary_unary("/t.S/Metadata")(b"", timeout=5) == b"[('x-added', '1')]"
            assert list(channel.unary_stream("/t.S/Two")(b"", timeout=5)) == [b"w1", b"w2"]
            outcome = channel.unary_unary("/t.S/Metadata").future(b"", timeout="soon")
            assert outcome.code() is turbogrpc.StatusCode.INTERNAL
            assert isinstance(outcome.exception(), turbogrpc.UsageError)
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(10)
    print("intercepted without grpcio")
""")


def test_without_grpcio_the_interceptor_classes_stand_alone():
    done = subprocess.run([sys.executable, "-W", "error", "-c", WITHOUT_GRPCIO],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "intercepted without grpcio" in done.stdout
