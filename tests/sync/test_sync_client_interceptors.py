"""Blocking client interceptors (grpc's ``intercept_channel``) against real servers, with our
client and with grpcio's (which validates each test: grpcio's ``grpc/_interceptor.py`` is the
reference): the order interceptors run in, stacking intercepted channels, shapes an interceptor
leaves alone, wrapping response and request streams, the intercepted channel (isinstance,
subscribe, close, every public method its own), and the interceptor classes without grpcio.

What an interceptor does to a call (metadata, timeouts, retries, failures) is in
test_sync_client_interceptor_calls.py. Every wait is bounded (call timeouts, event waits).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import grpc
import pytest

import turbogrpc
from sync.client_interceptor_env import (  # noqa: F401  (env: the fixture)
    OK, SHAPES, AddMetadata, AllShapes, WrapResponses, _call_shape, _path, env)


# -- interceptors -----------------------------------------------------------------------------

class Record(AllShapes):
    def __init__(self, name, log):
        self.name, self.log = name, log

    def _intercept(self, continuation, details, request):
        self.log.append(f"{self.name}>")
        outcome = continuation(details, request)
        self.log.append(f"<{self.name}")
        return outcome


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
