"""Client-side health checking (gRPC's A17, the service config's healthCheckConfig): under
round_robin a backend whose grpc.health.v1 Watch says anything but SERVING gets no calls, and
gets them again once SERVING; a server without the health service is used unchecked;
pick_first and grpc.inhibit_health_checking do not check. Every pairing: grpc.aio's client
implements A17 too and validates the expectations. The grpc-go servers: test_go_backends.py."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json

import grpc
import pytest
from grpc_health.v1 import health as grpcio_health
from grpc_health.v1 import health_pb2, health_pb2_grpc

from e2e.helpers import Pairing, eventually, rpc_error

SERVICE = "test.Svc"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def checked(policy: str = "round_robin", service: str = SERVICE) -> list[tuple[str, object]]:
    return [("grpc.service_config", json.dumps({
        "loadBalancingConfig": [{policy: {}}], "healthCheckConfig": {"serviceName": service}}))]


@contextlib.asynccontextmanager
async def replicas(pairing: Pairing, count: int = 3, with_health: bool = True):
    """`count` servers answering Echo with their name ("r0", ...); yields (ports, servicers),
    each servicer saying SERVING for test.Svc until the test sets it otherwise."""
    async with contextlib.AsyncExitStack() as stack:
        ports, servicers = [], []
        for index in range(count):
            name = f"r{index}".encode()

            async def echo(request, context, name=name):
                return name

            servicer = grpcio_health.aio.HealthServicer()
            await servicer.set(SERVICE, SERVING)
            generic = grpc.method_handlers_generic_handler(
                SERVICE, {"Echo": grpc.unary_unary_rpc_method_handler(echo)})

            def register(server, servicer=servicer, generic=generic):
                server.add_generic_rpc_handlers((generic,))
                if with_health:
                    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)

            handle = await stack.enter_async_context(pairing.serve(register))
            ports.append(handle.port)
            servicers.append(servicer)
        yield "ipv4:" + ",".join(f"127.0.0.1:{port}" for port in ports), servicers


async def spread(channel, calls: int = 300) -> collections.Counter:
    echo = channel.unary_unary(f"/{SERVICE}/Echo")
    counts: collections.Counter = collections.Counter()

    async def worker():
        for _ in range(calls // 10):
            counts[await echo(b"", timeout=10)] += 1

    await asyncio.gather(*(worker() for _ in range(10)))
    return counts


async def until_spread_is(channel, names: set, tries: int = 100) -> None:
    """Health news travels asynchronously: wait until 30 calls in a row reach exactly `names`."""
    for _ in range(tries):
        if set(await spread(channel, 30)) == names:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"calls never went to exactly {sorted(names)}")


@pytest.mark.body_timeout(60)  # ~1,000 calls; 9 s through grpc.aio servers on the debug-mode stock loop under coverage
async def test_a_not_serving_backend_gets_no_calls_until_it_serves_again(pairing):
    async with replicas(pairing) as (target, servicers), \
            pairing.connect(target, checked()) as channel:
        await until_spread_is(channel, {b"r0", b"r1", b"r2"})
        await servicers[1].set(SERVICE, NOT_SERVING)
        await until_spread_is(channel, {b"r0", b"r2"})
        counts = await spread(channel, 600)
        assert set(counts) == {b"r0", b"r2"}, counts
        assert abs(counts[b"r0"] - 300) <= 30, counts  # the other two share it evenly
        await servicers[1].set(SERVICE, SERVING)
        await until_spread_is(channel, {b"r0", b"r1", b"r2"})


async def test_a_service_the_backend_does_not_know_counts_as_not_serving(pairing):
    async with replicas(pairing, 2) as (target, servicers), \
            pairing.connect(target, checked(service="no.such.Service")) as channel:
        await servicers[0].set("no.such.Service", SERVING)  # r1 answers SERVICE_UNKNOWN
        await until_spread_is(channel, {b"r0"})


async def test_every_backend_not_serving_fails_fast_calls_and_holds_wait_for_ready(pairing):
    async with replicas(pairing, 2) as (target, servicers), \
            pairing.connect(target, checked()) as channel:
        await until_spread_is(channel, {b"r0", b"r1"})
        for servicer in servicers:
            await servicer.set(SERVICE, NOT_SERVING)
        await eventually(lambda: channel.get_state() == grpc.ChannelConnectivity.TRANSIENT_FAILURE,
                         what="TRANSIENT_FAILURE with no SERVING backend")
        echo = channel.unary_unary(f"/{SERVICE}/Echo")
        await rpc_error(pairing, echo(b"", timeout=5), "UNAVAILABLE")
        waiting = asyncio.ensure_future(echo(b"", timeout=10, wait_for_ready=True))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        await servicers[1].set(SERVICE, SERVING)
        assert await waiting == b"r1"


async def test_a_server_without_the_health_service_is_used_unchecked(pairing):
    async with replicas(pairing, 2, with_health=False) as (target, _), \
            pairing.connect(target, checked()) as channel:
        await until_spread_is(channel, {b"r0", b"r1"})


@pytest.mark.parametrize("options", [
    checked(policy="pick_first"),
    checked() + [("grpc.inhibit_health_checking", 1)],
], ids=["pick_first", "inhibited"])
async def test_no_health_checking_without_round_robin_or_when_inhibited(pairing, options):
    async with replicas(pairing, 2) as (target, servicers), \
            pairing.connect(target, options) as channel:
        await servicers[0].set(SERVICE, NOT_SERVING)
        counts = await spread(channel, 100)
    assert b"r0" in counts, counts  # the NOT_SERVING backend still gets calls
