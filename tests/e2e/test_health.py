"""grpc.health.v1.Health end to end: Check, Watch, set(), enter_graceful_shutdown().

Two servicers, each served by both servers and called by both clients through grpcio's
generated stub: ours (turbogrpc.health.HealthServicer) and grpcio-health-checking's asyncio
one — which must keep working on our server, and which validates these tests in
TURBOGRPC_TESTS_GRPC_ONLY=1 mode (there it is the only one). Behaviour only ours has:
test_health_ours.py.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from grpc_health.v1 import health as grpcio_health
from grpc_health.v1 import health_pb2, health_pb2_grpc

from e2e.helpers import GRPC_ONLY, code_name, rpc_error

IMPLS = ["grpcio"] if GRPC_ONLY else ["ours", "grpcio"]
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
READ_TIMEOUT = 5.0


def health_impl(name: str) -> SimpleNamespace:
    """`servicer()` makes a servicer, `register(servicer)` the callable Pairing.serve takes."""
    if name == "ours":
        from turbogrpc import health  # noqa: PLC0415 - not importable in grpc-only mode

        servicer, add = health.HealthServicer, health.add_HealthServicer_to_server
    else:
        servicer, add = grpcio_health.aio.HealthServicer, health_pb2_grpc.add_HealthServicer_to_server
    return SimpleNamespace(name=name, servicer=servicer,
                           register=lambda s: (lambda server: add(s, server)))


@pytest.fixture(params=IMPLS)
def impl(request) -> SimpleNamespace:
    return health_impl(request.param)


async def check(stub, service: str) -> int:
    return (await stub.Check(health_pb2.HealthCheckRequest(service=service),
                             timeout=READ_TIMEOUT)).status


async def next_status(call) -> int:
    try:
        response = await asyncio.wait_for(call.read(), READ_TIMEOUT)
    except asyncio.TimeoutError:
        raise AssertionError(f"no Watch message within {READ_TIMEOUT} s") from None
    return response.status


async def test_check_whole_server_and_set(pairing, impl):
    servicer = impl.servicer()
    async with pairing.env(impl.register(servicer)) as env:
        stub = health_pb2_grpc.HealthStub(env.channel)
        assert await check(stub, "") == SERVING  # "" = the whole server, SERVING from the start
        await servicer.set("test.Svc", NOT_SERVING)
        assert await check(stub, "test.Svc") == NOT_SERVING
        await servicer.set("test.Svc", SERVING)
        assert await check(stub, "test.Svc") == SERVING
        await servicer.set("", NOT_SERVING)
        assert await check(stub, "") == NOT_SERVING
        assert await check(stub, "test.Svc") == SERVING


async def test_check_unknown_service_is_not_found(pairing, impl):
    servicer = impl.servicer()
    async with pairing.env(impl.register(servicer)) as env:
        stub = health_pb2_grpc.HealthStub(env.channel)
        await rpc_error(pairing, stub.Check(health_pb2.HealthCheckRequest(service="nope")),
                        "NOT_FOUND")
        await servicer.set("nope", SERVING)  # known from now on
        assert await check(stub, "nope") == SERVING


async def test_watch_pushes_each_change(pairing, impl):
    servicer = impl.servicer()
    async with pairing.env(impl.register(servicer)) as env:
        stub = health_pb2_grpc.HealthStub(env.channel)
        call = stub.Watch(health_pb2.HealthCheckRequest(service="later"))
        # Unknown: SERVICE_UNKNOWN, and the call stays open.
        assert await next_status(call) == SERVICE_UNKNOWN
        await servicer.set("later", SERVING)
        assert await next_status(call) == SERVING
        await servicer.set("later", SERVING)  # no change: nothing sent
        await servicer.set("other", NOT_SERVING)  # another service: nothing sent here
        await servicer.set("later", NOT_SERVING)
        assert await next_status(call) == NOT_SERVING
        call.cancel()
        assert code_name(await call.code()) == "CANCELLED"


async def test_watch_known_service_starts_with_its_status(pairing, impl):
    servicer = impl.servicer()
    await servicer.set("known", NOT_SERVING)
    async with pairing.env(impl.register(servicer)) as env:
        stub = health_pb2_grpc.HealthStub(env.channel)
        whole = stub.Watch(health_pb2.HealthCheckRequest(service=""))
        known = stub.Watch(health_pb2.HealthCheckRequest(service="known"))
        assert await next_status(whole) == SERVING
        assert await next_status(known) == NOT_SERVING
        await servicer.set("known", SERVING)
        assert await next_status(known) == SERVING
        await servicer.set("", NOT_SERVING)
        assert await next_status(whole) == NOT_SERVING
        whole.cancel()
        known.cancel()


async def test_many_watchers_of_one_service_all_hear(pairing, impl):
    servicer = impl.servicer()
    async with pairing.env(impl.register(servicer)) as env:
        stub = health_pb2_grpc.HealthStub(env.channel)
        calls = [stub.Watch(health_pb2.HealthCheckRequest(service="shared")) for _ in range(5)]
        assert [await next_status(c) for c in calls] == [SERVICE_UNKNOWN] * 5
        await servicer.set("shared", SERVING)
        assert [await next_status(c) for c in calls] == [SERVING] * 5
        calls[0].cancel()  # one leaves; the others keep hearing
        await servicer.set("shared", NOT_SERVING)
        assert [await next_status(c) for c in calls[1:]] == [NOT_SERVING] * 4
        for c in calls[1:]:
            c.cancel()


async def test_graceful_shutdown_sets_everything_not_serving_for_good(pairing, impl):
    servicer = impl.servicer()
    await servicer.set("a", SERVING)
    async with pairing.env(impl.register(servicer)) as env:
        stub = health_pb2_grpc.HealthStub(env.channel)
        watch_a = stub.Watch(health_pb2.HealthCheckRequest(service="a"))
        watch_all = stub.Watch(health_pb2.HealthCheckRequest(service=""))
        assert await next_status(watch_a) == SERVING
        assert await next_status(watch_all) == SERVING

        await servicer.enter_graceful_shutdown()
        assert await next_status(watch_a) == NOT_SERVING
        assert await next_status(watch_all) == NOT_SERVING
        assert await check(stub, "a") == NOT_SERVING
        assert await check(stub, "") == NOT_SERVING

        await servicer.set("a", SERVING)  # ignored from now on
        await servicer.set("b", SERVING)
        await servicer.enter_graceful_shutdown()  # a second time: nothing changes
        assert await check(stub, "a") == NOT_SERVING
        await rpc_error(pairing, stub.Check(health_pb2.HealthCheckRequest(service="b")),
                        "NOT_FOUND")
        watch_a.cancel()
        watch_all.cancel()


async def test_server_stop_ends_open_watches(pairing, impl):
    servicer = impl.servicer()
    async with pairing.serve(impl.register(servicer)) as srv:
        async with pairing.connect(srv.target) as channel:
            call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
            assert await next_status(call) == SERVING
            await asyncio.wait_for(srv.server.stop(None), READ_TIMEOUT)
            code = await asyncio.wait_for(call.code(), READ_TIMEOUT)
            assert code_name(code) in ("CANCELLED", "UNAVAILABLE"), code
