"""RouteGuide client on turbogrpc.aio: runs the four call shapes against server.py.

``python client.py [--port N]``; checks every answer and exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import turbogrpc.aio as aio

import features
import generate

pb2, pb2_grpc = generate.load()

TIMEOUT_SECONDS = 10.0  # deadline of each call


class UnexpectedAnswer(Exception):
    pass


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise UnexpectedAnswer(what)


async def get_feature(stub) -> None:
    print("== GetFeature (unary)")
    name, lat, lon = features.PLACES[0]
    for where, expected in ((features.point(lat, lon), name), (features.point(44.0, -68.0), "")):
        feature = await stub.GetFeature(where, timeout=TIMEOUT_SECONDS)
        print(f"  {features.describe(where)} -> {feature.name or '(nothing there)'}")
        expect(feature.name == expected, f"GetFeature: {feature.name!r}, wanted {expected!r}")


async def list_features(stub) -> None:
    print("== ListFeatures (server streaming): the harbour town")
    town = pb2.Rectangle(lo=features.point(44.100, -68.365), hi=features.point(44.115, -68.350))
    names = []
    async for feature in stub.ListFeatures(town, timeout=TIMEOUT_SECONDS):
        print(f"  {feature.name} at {features.describe(feature.location)}")
        names.append(feature.name)
    wanted = [f.name for f in features.all_features() if features.inside(f.location, town)]
    expect(names == wanted, f"ListFeatures: {names}, wanted {wanted}")


async def record_route(stub) -> None:
    print("== RecordRoute (client streaming): up the trail, with two stops off the map")
    trail = [features.point(lat, lon) for _, lat, lon in features.PLACES[:8]]
    route = trail[:3] + [features.point(44.108, -68.358)] + trail[3:6] \
        + [features.point(44.128, -68.386)] + trail[6:]

    async def points():
        for p in route:
            yield p

    summary = await stub.RecordRoute(points(), timeout=TIMEOUT_SECONDS)
    print(f"  {summary.point_count} points, {summary.feature_count} features, "
          f"{summary.distance} m, {summary.elapsed_time} s")
    expect(summary.point_count == len(route) and summary.feature_count == len(trail),
           f"RecordRoute: {summary.point_count} points / {summary.feature_count} features, "
           f"wanted {len(route)} / {len(trail)}")


async def route_chat(stub) -> None:
    print("== RouteChat (bidirectional streaming): notes at two places")
    pier, cove = features.point(44.0950, -68.3405), features.point(44.0801, -68.3256)
    sent = [("ferry late again", pier), ("tide is out", cove), ("ferry back on time", pier),
            ("found a crab", cove), ("ice cream van here", pier)]

    async def notes():
        for message, where in sent:
            yield pb2.RouteNote(message=message, location=where)

    replies = []
    async for note in stub.RouteChat(notes(), timeout=TIMEOUT_SECONDS):
        print(f"  earlier at {features.describe(note.location)}: {note.message}")
        replies.append(note.message)
    # Each note brings back the earlier ones at its place: 0 + 0 + 1 + 1 + 2.
    wanted = ["ferry late again", "tide is out", "ferry late again", "ferry back on time"]
    expect(replies == wanted, f"RouteChat: {replies}, wanted {wanted}")


async def run(port: int) -> None:
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb2_grpc.RouteGuideStub(channel)
        for step in (get_feature, list_features, record_route, route_chat):
            await step(stub)
    print("all four call shapes OK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=50051)
    try:
        asyncio.run(run(parser.parse_args().port))
    except aio.AioRpcError as err:
        print(f"FAILED: {err.code().name}: {err.details()}", file=sys.stderr)
        return 1
    except UnexpectedAnswer as err:
        print(f"FAILED: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
