"""round_robin (``grpc.lb_policy_name`` or the service config's loadBalancingConfig): one
subchannel per address, calls spread over the READY ones, the channel's state aggregating
theirs; three replicas on an ``ipv4:`` list, in every pairing (grpc.aio's client validates the
expectations). A name resolving to several addresses is in test_round_robin_dns.py."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json

import grpc
import pytest

from e2e.helpers import Pairing, eventually, rpc_error

CALLS = 3000
ROUND_ROBIN = [("grpc.lb_policy_name", "round_robin")]


def lb_config(policy: str) -> list[tuple[str, str]]:
    return [("grpc.service_config", json.dumps({"loadBalancingConfig": [{policy: {}}]}))]


@contextlib.asynccontextmanager
async def replicas(pairing: Pairing, count: int = 3):
    """`count` servers answering Echo with their own name ("r0", "r1", ...)."""
    async with contextlib.AsyncExitStack() as stack:
        handles = []
        for index in range(count):
            name = f"r{index}".encode()

            async def echo(request, context, name=name):
                return name

            handles.append(await stack.enter_async_context(
                pairing.serve({"Echo": grpc.unary_unary_rpc_method_handler(echo)})))
        yield handles


def ipv4_list(handles) -> str:
    return "ipv4:" + ",".join(f"127.0.0.1:{h.port}" for h in handles)


async def call_many(channel, calls: int, concurrency: int = 20) -> collections.Counter:
    echo = channel.unary_unary("/test.Svc/Echo")
    counts: collections.Counter = collections.Counter()

    async def worker(share: int):
        for _ in range(share):
            counts[await echo(b"", timeout=10)] += 1

    await asyncio.gather(*(worker(calls // concurrency) for _ in range(concurrency)))
    return counts


# 3,000 calls through three in-process grpc.aio servers on the debug-mode stock loop took 8.5 s
# bare and over 20 s under coverage on a slower machine; the bound is about completing, not speed.
@pytest.mark.body_timeout(90)
@pytest.mark.parametrize("options", [ROUND_ROBIN, lb_config("round_robin")],
                         ids=["lb_policy_name", "service_config"])
async def test_round_robin_spreads_calls_evenly(pairing, options):
    async with replicas(pairing) as handles, pairing.connect(ipv4_list(handles), options) as channel:
        # Every subchannel connects, not only the first: wait until each has answered once.
        await _until_all_answer(channel, {b"r0", b"r1", b"r2"})
        counts = await call_many(channel, CALLS)
    assert sum(counts.values()) == CALLS
    for name in (b"r0", b"r1", b"r2"):
        assert abs(counts[name] - CALLS / 3) <= CALLS / 3 * 0.10, counts


async def test_pick_first_is_the_default_and_uses_the_first_address(pairing):
    async with replicas(pairing) as handles, pairing.connect(ipv4_list(handles)) as channel:
        counts = await call_many(channel, 300)
    assert counts == {b"r0": 300}


async def test_the_service_config_policy_wins_over_lb_policy_name(pairing):
    options = ROUND_ROBIN + lb_config("pick_first")
    async with replicas(pairing) as handles, pairing.connect(ipv4_list(handles), options) as channel:
        counts = await call_many(channel, 300)
    assert counts == {b"r0": 300}


async def test_a_stopped_replica_gets_no_calls_and_none_fail(pairing):
    async with replicas(pairing) as handles, pairing.connect(ipv4_list(handles), ROUND_ROBIN) as channel:
        await _until_all_answer(channel, {b"r0", b"r1", b"r2"})
        await handles[1].server.stop(None)
        # The channel stays READY on the other two; no call fails, none reaches the stopped one.
        await asyncio.sleep(0.2)
        counts = await call_many(channel, 600)
        assert channel.get_state() == grpc.ChannelConnectivity.READY
    assert set(counts) == {b"r0", b"r2"}, counts
    assert abs(counts[b"r0"] - 300) <= 30 and abs(counts[b"r2"] - 300) <= 30, counts


async def test_the_state_is_transient_failure_only_when_every_replica_is_down(pairing):
    fast = ROUND_ROBIN + [("grpc.initial_reconnect_backoff_ms", 100),
                          ("grpc.max_reconnect_backoff_ms", 200)]
    async with replicas(pairing, 2) as handles, pairing.connect(ipv4_list(handles), fast) as channel:
        await _until_all_answer(channel, {b"r0", b"r1"})
        await handles[0].server.stop(None)
        await asyncio.sleep(0.3)
        assert channel.get_state() == grpc.ChannelConnectivity.READY
        await handles[1].server.stop(None)
        await eventually(
            lambda: channel.get_state() == grpc.ChannelConnectivity.TRANSIENT_FAILURE,
            what="TRANSIENT_FAILURE once both replicas are down")
        echo = channel.unary_unary("/test.Svc/Echo")
        await rpc_error(pairing, echo(b"", timeout=5), "UNAVAILABLE")  # fail fast, as pick_first


async def _until_all_answer(channel, names: set, tries: int = 200) -> None:
    """Calls until every replica in `names` has answered (each subchannel READY)."""
    echo = channel.unary_unary("/test.Svc/Echo")
    seen: set = set()
    for _ in range(tries):
        seen.add(await echo(b"", timeout=5))
        if seen >= names:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"only {seen} answered out of {names}")
