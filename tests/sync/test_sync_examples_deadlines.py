"""grpc's timeout and cancellation examples with the module injected (see
test_sync_examples.py): a call with ``timeout=`` to a slow handler ends DEADLINE_EXCEEDED in
about that time while the handler watches ``time_remaining()`` and ``is_active()``; a future's
``cancel()`` (``cancelled()``, ``result()`` raising ``grpc.FutureCancelledError``) and a response
stream's ``cancel()`` (the iteration ends with an RpcError of code CANCELLED), the handler seeing
each end through ``is_active()`` and ``add_callback``. Every wait is bounded: handlers give up
after HANDLER_LIMIT seconds, the client waits at most a few seconds."""

from __future__ import annotations

import threading
import time

import pytest

from sync.test_sync_examples import (MODULE_PAIRS, helloworld_pb2, helloworld_pb2_grpc,
                                     route_guide_pb2, route_guide_pb2_grpc, running, start_server)

pytestmark = MODULE_PAIRS

HANDLER_LIMIT = 5.0  # a handler waiting for its call to end gives up after this
TIMEOUT = 0.5


class Seen:
    """What the slow handlers saw."""

    def __init__(self):
        self.started = threading.Event()
        self.ended = threading.Event()  # the handler saw is_active() False (or gave up)
        self.callback = threading.Event()  # add_callback's callback ran
        self.remaining = []  # time_remaining() at the start and at the end
        self.active = None  # is_active() at the end
        self.all_sent = threading.Event()  # the response stream's three messages went out


def wait_while_active(context, seen):
    seen.remaining.append(context.time_remaining())
    seen.started.set()
    give_up = time.monotonic() + HANDLER_LIMIT
    while context.is_active() and time.monotonic() < give_up:
        time.sleep(0.01)
    seen.remaining.append(context.time_remaining())
    seen.active = context.is_active()
    seen.ended.set()


def serve_slow(grpc, seen):
    class SlowGreeter(helloworld_pb2_grpc.GreeterServicer):
        def SayHello(self, request, context):
            context.add_callback(seen.callback.set)
            wait_while_active(context, seen)
            return helloworld_pb2.HelloReply(message=f"Hello (late), {request.name}!")

    class SlowRouteGuide(route_guide_pb2_grpc.RouteGuideServicer):
        def ListFeatures(self, request, context):
            context.add_callback(seen.callback.set)
            # Watched from a thread of its own: grpcio does not resume a response generator
            # once a send failed, so code after a yield may never run.
            watcher = threading.Thread(target=wait_while_active, args=(context, seen))
            watcher.start()
            for i in range(3):
                yield route_guide_pb2.Feature(name=str(i))
            seen.all_sent.set()
            watcher.join(HANDLER_LIMIT + 1)  # nothing more until the call ends

    return start_server(grpc, greeter=SlowGreeter(), route_guide=SlowRouteGuide())


def assert_handler_saw_the_end(seen):
    assert seen.callback.wait(5), "add_callback's callback never ran"
    assert seen.ended.wait(5)
    assert seen.active is False
    assert seen.remaining[1] <= seen.remaining[0]


# -- timeout ---------------------------------------------------------------------------------

def test_timeout(client_grpc, server_grpc):
    seen = Seen()
    with running(serve_slow, server_grpc, seen) as target:
        grpc = client_grpc
        with grpc.insecure_channel(target) as channel:
            stub = helloworld_pb2_grpc.GreeterStub(channel)
            start = time.monotonic()
            try:
                stub.SayHello(helloworld_pb2.HelloRequest(name="slow"), timeout=TIMEOUT)
            except grpc.RpcError as rpc_error:
                assert rpc_error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
                assert rpc_error.details() == "Deadline Exceeded"
            else:
                pytest.fail("no RpcError")
            elapsed = time.monotonic() - start
            assert TIMEOUT * 0.8 <= elapsed < TIMEOUT + 2.5
            assert_handler_saw_the_end(seen)
            assert 0 < seen.remaining[0] <= TIMEOUT + 0.1  # (grpc-timeout is rounded up)
            assert seen.remaining[1] < 0.2  # the deadline had come (give or take the transit)


def test_timeout_on_a_response_stream(client_grpc, server_grpc):
    seen = Seen()
    with running(serve_slow, server_grpc, seen) as target:
        grpc = client_grpc
        with grpc.insecure_channel(target) as channel:
            stub = route_guide_pb2_grpc.RouteGuideStub(channel)
            received = []
            start = time.monotonic()
            with pytest.raises(grpc.RpcError) as info:
                for feature in stub.ListFeatures(route_guide_pb2.Rectangle(), timeout=TIMEOUT):
                    received.append(feature.name)
            elapsed = time.monotonic() - start
            assert received == ["0", "1", "2"]
            assert info.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
            assert TIMEOUT * 0.8 <= elapsed < TIMEOUT + 2.5
            assert_handler_saw_the_end(seen)


# -- cancellation ----------------------------------------------------------------------------

def test_cancel_a_future(client_grpc, server_grpc):
    seen = Seen()
    with running(serve_slow, server_grpc, seen) as target:
        grpc = client_grpc
        with grpc.insecure_channel(target) as channel:
            stub = helloworld_pb2_grpc.GreeterStub(channel)
            done = []
            called_back = threading.Event()
            future = stub.SayHello.future(helloworld_pb2.HelloRequest(name="cancel me"),
                                          timeout=10)
            future.add_done_callback(lambda f: (done.append(f), called_back.set()))
            assert seen.started.wait(5)
            assert not future.done()
            assert future.cancel() is True
            assert future.cancelled() and future.done() and not future.running()
            with pytest.raises(grpc.FutureCancelledError):
                future.result(timeout=5)
            with pytest.raises(grpc.FutureCancelledError):
                future.exception(timeout=5)
            assert future.code() is grpc.StatusCode.CANCELLED
            assert future.cancel() is False  # already ended
            assert called_back.wait(5)  # (grpcio calls back from its own thread, a bit later)
            assert done == [future]
            assert_handler_saw_the_end(seen)
            assert seen.remaining[1] > 5  # ended by the cancel, long before its deadline


def test_cancel_a_response_stream(client_grpc, server_grpc):
    seen = Seen()
    with running(serve_slow, server_grpc, seen) as target:
        grpc = client_grpc
        with grpc.insecure_channel(target) as channel:
            stub = route_guide_pb2_grpc.RouteGuideStub(channel)
            responses = stub.ListFeatures(route_guide_pb2.Rectangle(), timeout=10)
            received = []
            try:
                for feature in responses:
                    received.append(feature.name)
                    if len(received) == 2:
                        responses.cancel()
            except grpc.RpcError as rpc_error:
                assert rpc_error.code() is grpc.StatusCode.CANCELLED
            else:
                pytest.fail("the iteration ended without an RpcError")
            assert received == ["0", "1"]  # no response after cancel()
            assert responses.code() is grpc.StatusCode.CANCELLED
            assert responses.cancelled()
            assert_handler_saw_the_end(seen)


def test_cancel_drops_responses_already_received(client_grpc, server_grpc):
    """grpcio's response iterator raises CANCELLED on the next next() after cancel(), even
    when a further response has already arrived: the loop body does not run again."""
    seen = Seen()
    with running(serve_slow, server_grpc, seen) as target:
        grpc = client_grpc
        with grpc.insecure_channel(target) as channel:
            stub = route_guide_pb2_grpc.RouteGuideStub(channel)
            responses = stub.ListFeatures(route_guide_pb2.Rectangle(), timeout=10)
            assert seen.all_sent.wait(5)
            time.sleep(0.2)  # the three responses reach the client
            assert [next(responses).name, next(responses).name] == ["0", "1"]
            assert responses.cancel() is True
            with pytest.raises(grpc.RpcError) as info:
                next(responses)
            assert info.value.code() is grpc.StatusCode.CANCELLED
            assert info.value.details() == "Locally cancelled by application!"
            assert_handler_saw_the_end(seen)
