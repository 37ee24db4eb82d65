"""RouteGuide server on turbogrpc.aio: ``python server.py [--port N]`` (0 picks a free port).

Prints "listening on 127.0.0.1:PORT" once serving; SIGINT or SIGTERM stops it gracefully.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from collections import defaultdict

import turbogrpc.aio as aio

import features
import generate

pb2, pb2_grpc = generate.load()

GRACE_SECONDS = 5.0  # how long running calls may finish after a stop signal


def _key(point) -> tuple[int, int]:
    return point.latitude, point.longitude


class RouteGuide(pb2_grpc.RouteGuideServicer):
    """The four RPCs over the in-memory map of features.py."""

    def __init__(self) -> None:
        self._features = features.all_features()
        self._by_point = {_key(f.location): f for f in self._features}

    def _feature_at(self, point):
        return self._by_point.get(_key(point)) or pb2.Feature(name="", location=point)

    async def GetFeature(self, request, context):
        return self._feature_at(request)

    async def ListFeatures(self, request, context):
        for feature in self._features:
            if features.inside(feature.location, request):
                yield feature

    async def RecordRoute(self, request_iterator, context):
        started = time.monotonic()
        point_count = feature_count = 0
        distance = 0.0
        previous = None
        async for point in request_iterator:
            point_count += 1
            feature_count += bool(self._feature_at(point).name)
            if previous is not None:
                distance += features.distance_m(previous, point)
            previous = point
        return pb2.RouteSummary(point_count=point_count, feature_count=feature_count,
                                distance=round(distance),
                                elapsed_time=int(time.monotonic() - started))

    async def RouteChat(self, request_iterator, context):
        notes = defaultdict(list)  # per chat, so every run of the client sees the same replies
        async for note in request_iterator:
            earlier = notes[_key(note.location)]
            for old in list(earlier):
                yield old
            earlier.append(note)


async def serve(port: int) -> None:
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop_requested.set)

    server = aio.server()
    pb2_grpc.add_RouteGuideServicer_to_server(RouteGuide(), server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(f"listening on 127.0.0.1:{bound}", flush=True)

    await stop_requested.wait()
    print(f"stopping (grace {GRACE_SECONDS:g}s)", flush=True)
    await server.stop(GRACE_SECONDS)
    print("stopped", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=50051, help="0 picks a free port")
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
