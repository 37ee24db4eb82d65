"""grpc's blocking examples, written as a user writes them against ``grpc``, run with the module
injected: each example's server and client take the module as their ``grpc`` argument, so the
same code runs on turbogrpc and on grpcio. Every test runs for (client, server) in
{turbogrpc, grpc}²: ours against ours, each against grpcio's, and grpcio against itself (which
validates the test).

This file: helloworld (call, with_call, future), route_guide (the four shapes through the
generated stub) and metadata (invocation, initial and trailing, ``-bin`` keys). Errors with rich
status, compression, and timeout/cancellation are in test_sync_examples_{errors,compression,
deadlines}.py, which share MODULE_PAIRS and running() from here.

The Greeter and the RouteGuide are the grpcio-tools code of tests/protos/sync_route_guide.proto
(generated_protos.py). Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from concurrent import futures

import pytest

import sync_route_guide_pb2 as route_guide_pb2
import sync_route_guide_pb2_grpc as route_guide_pb2_grpc

# The test proto holds the helloworld Greeter next to the RouteGuide.
helloworld_pb2, helloworld_pb2_grpc = route_guide_pb2, route_guide_pb2_grpc

MODULES = ("turbogrpc", "grpc")
MODULE_PAIRS = pytest.mark.parametrize(("client_grpc", "server_grpc"), [
    pytest.param(importlib.import_module(client), importlib.import_module(server),
                 id=f"{client}-client-{server}-server")
    for client in MODULES for server in MODULES
])
pytestmark = MODULE_PAIRS


@contextlib.contextmanager
def running(serve, *args, **kwargs):
    """Runs an example's ``serve(grpc, ...)`` (which returns the started server and its port);
    yields the target to dial; stops the server at the end."""
    server, port = serve(*args, **kwargs)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(None).wait(5)


def start_server(grpc, greeter=None, route_guide=None, **server_kwargs):
    """An example's server start: a pool of 4 threads, the given servicers, 127.0.0.1 on any
    port. Returns (server, port)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), **server_kwargs)
    if greeter is not None:
        helloworld_pb2_grpc.add_GreeterServicer_to_server(greeter, server)
    if route_guide is not None:
        route_guide_pb2_grpc.add_RouteGuideServicer_to_server(route_guide, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


# -- helloworld ------------------------------------------------------------------------------

def serve_greeter(grpc):
    class Greeter(helloworld_pb2_grpc.GreeterServicer):
        def SayHello(self, request, context):
            return helloworld_pb2.HelloReply(message=f"Hello, {request.name}!")

    return start_server(grpc, greeter=Greeter())


def test_helloworld(client_grpc, server_grpc):
    with running(serve_greeter, server_grpc) as target:
        grpc = client_grpc
        with grpc.insecure_channel(target) as channel:
            stub = helloworld_pb2_grpc.GreeterStub(channel)
            response = stub.SayHello(helloworld_pb2.HelloRequest(name="you"), timeout=5)
            assert response.message == "Hello, you!"

            response, call = stub.SayHello.with_call(helloworld_pb2.HelloRequest(name="call"),
                                                     timeout=5)
            assert response.message == "Hello, call!"
            assert call.code() is grpc.StatusCode.OK
            assert call.details() == ""
            assert call.is_active() is False

            done = []
            future = stub.SayHello.future(helloworld_pb2.HelloRequest(name="future"), timeout=5)
            future.add_done_callback(done.append)
            assert isinstance(future, grpc.Future) and isinstance(future, grpc.Call)
            assert future.result(timeout=5).message == "Hello, future!"
            assert future.done() and not future.running() and not future.cancelled()
            assert future.exception(timeout=5) is None
            assert future.code() is grpc.StatusCode.OK
            assert future.cancel() is False  # already done
            assert done == [future]


# -- route_guide -----------------------------------------------------------------------------

def point(latitude, longitude):
    return route_guide_pb2.Point(latitude=latitude, longitude=longitude)


# The example's feature database: features on a 3×3 grid, two of the points left unnamed.
FEATURES = [route_guide_pb2.Feature(name=f"feature {lat},{lng}", location=point(lat, lng))
            for lat in range(3) for lng in range(3) if (lat, lng) not in ((0, 2), (2, 0))]


def serve_route_guide(grpc):
    class RouteGuide(route_guide_pb2_grpc.RouteGuideServicer):
        def __init__(self):
            self.db = FEATURES
            self.notes_lock = threading.Lock()

        def GetFeature(self, request, context):
            for feature in self.db:
                if feature.location == request:
                    return feature
            return route_guide_pb2.Feature(name="", location=request)

        def ListFeatures(self, request, context):
            lo, hi = request.lo, request.hi
            for feature in self.db:
                if (lo.latitude <= feature.location.latitude <= hi.latitude
                        and lo.longitude <= feature.location.longitude <= hi.longitude):
                    yield feature

        def RecordRoute(self, request_iterator, context):
            point_count = feature_count = 0
            for request in request_iterator:
                point_count += 1
                if self.GetFeature(request, context).name:
                    feature_count += 1
            return route_guide_pb2.RouteSummary(point_count=point_count,
                                                feature_count=feature_count)

        def RouteChat(self, request_iterator, context):
            prev_notes = []
            for new_note in request_iterator:
                for prev_note in prev_notes:
                    if prev_note.location == new_note.location:
                        yield prev_note
                prev_notes.append(new_note)

    return start_server(grpc, route_guide=RouteGuide())


def generate_route(points):
    for latitude, longitude in points:
        yield point(latitude, longitude)


def generate_messages():
    for message, (latitude, longitude) in [("First", (0, 0)), ("Second", (0, 1)),
                                           ("Third", (1, 0)), ("Fourth", (0, 0)),
                                           ("Fifth", (1, 0))]:
        yield route_guide_pb2.RouteNote(message=message, location=point(latitude, longitude))


def test_route_guide(client_grpc, server_grpc):
    with running(serve_route_guide, server_grpc) as target:
        grpc = client_grpc
        with grpc.insecure_channel(target) as channel:
            stub = route_guide_pb2_grpc.RouteGuideStub(channel)

            feature = stub.GetFeature(point(1, 2), timeout=5)
            assert feature.name == "feature 1,2" and feature.location == point(1, 2)
            assert stub.GetFeature(point(0, 2), timeout=5) == route_guide_pb2.Feature(
                location=point(0, 2))  # no feature there

            rectangle = route_guide_pb2.Rectangle(lo=point(1, 0), hi=point(2, 1))
            names = [f.name for f in stub.ListFeatures(rectangle, timeout=5)]
            assert names == ["feature 1,0", "feature 1,1", "feature 2,1"]

            route = [(0, 0), (0, 2), (1, 1), (2, 0), (2, 2), (7, 7)]
            summary = stub.RecordRoute(generate_route(route), timeout=5)
            assert (summary.point_count, summary.feature_count) == (6, 3)
            future = stub.RecordRoute.future(generate_route(route[:3]), timeout=5)
            summary = future.result(timeout=5)
            assert (summary.point_count, summary.feature_count) == (3, 2)
            assert future.code() is grpc.StatusCode.OK

            replies = stub.RouteChat(generate_messages(), timeout=5)
            assert [(n.message, n.location.latitude, n.location.longitude) for n in replies] == [
                ("First", 0, 0), ("Third", 1, 0)]
            assert replies.code() is grpc.StatusCode.OK


# -- metadata --------------------------------------------------------------------------------

CLIENT_METADATA = (("client-rpc-id", "id-42"), ("client-checksum-bin", b"\x00\xffsum\x80"))
INITIAL = (("server-initial", "hello"), ("server-initial-bin", b"\x01\x02"))
TRAILING = (("server-trailing", "bye"), ("checksum-bin", b"\xfe\x00\x01"))


def _ours(metadata):
    """The pairs of `metadata` whose keys the example set (without grpc's own, e.g.
    user-agent), as a sorted list."""
    return sorted((k, v) for k, v in metadata if k.startswith(("client-", "server-", "checksum")))


def serve_metadata(grpc, seen):
    class Greeter(helloworld_pb2_grpc.GreeterServicer):
        def SayHello(self, request, context):
            seen.append(_ours(context.invocation_metadata()))
            context.send_initial_metadata(INITIAL)
            context.set_trailing_metadata(TRAILING)
            return helloworld_pb2.HelloReply(message=f"Hello, {request.name}!")

    class RouteGuide(route_guide_pb2_grpc.RouteGuideServicer):
        def ListFeatures(self, request, context):
            seen.append(_ours(context.invocation_metadata()))
            context.send_initial_metadata(INITIAL)
            context.set_trailing_metadata(TRAILING)
            for latitude in range(3):
                yield route_guide_pb2.Feature(name=str(latitude), location=point(latitude, 0))

    return start_server(grpc, greeter=Greeter(), route_guide=RouteGuide())


def test_metadata(client_grpc, server_grpc):
    seen = []
    with running(serve_metadata, server_grpc, seen) as target:
        grpc = client_grpc
        with grpc.insecure_channel(target) as channel:
            greeter = helloworld_pb2_grpc.GreeterStub(channel)
            response, call = greeter.SayHello.with_call(
                helloworld_pb2.HelloRequest(name="meta"), metadata=CLIENT_METADATA, timeout=5)
            assert response.message == "Hello, meta!"
            assert _ours(call.initial_metadata()) == sorted(INITIAL)
            assert _ours(call.trailing_metadata()) == sorted(TRAILING)
            for key, value in call.trailing_metadata():
                assert isinstance(value, bytes if key.endswith("-bin") else str), (key, value)

            guide = route_guide_pb2_grpc.RouteGuideStub(channel)
            responses = guide.ListFeatures(route_guide_pb2.Rectangle(), metadata=CLIENT_METADATA,
                                           timeout=5)
            assert _ours(responses.initial_metadata()) == sorted(INITIAL)  # before any message
            assert [f.name for f in responses] == ["0", "1", "2"]
            assert _ours(responses.trailing_metadata()) == sorted(TRAILING)
            assert responses.code() is grpc.StatusCode.OK
    assert seen == [sorted(CLIENT_METADATA)] * 2
