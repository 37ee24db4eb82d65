"""Targets that name their DNS server, dns://server[:port]/host[:port] (gRPC's naming doc):
the host is looked up by asking that server, not the machine's resolver. A real dnsmasq on a
loopback port holds the only records of the names ("replicas.test" is unknown to the machine).
Round robin over the three addresses it gives, a name it refuses, an IPv6 server, and a
re-resolution that asks it again after the backend in use went away. Our client, and
grpc.aio's (its c-ares resolver honours the form) to validate the expectations."""

from __future__ import annotations

import asyncio
import collections
import socket
import time

import grpc
import pytest

from e2e.dnsmasq_server import DnsServer
from e2e.helpers import GRPC_ONLY, Pairing, code_name, ipv6_loopback_available
from e2e.replicas import replicas_on_three_addresses

CLIENTS = ["grpc"] if GRPC_ONLY else ["ours", "grpc"]
THREE = {"replicas.test": ["127.0.0.1", "127.0.0.2", "127.0.0.3"]}


async def _spread(echo, calls: int, workers: int = 10) -> collections.Counter:
    counts: collections.Counter = collections.Counter()

    async def worker():
        for _ in range(calls // workers):
            counts[(await echo(b"", timeout=10)).decode()] += 1

    await asyncio.gather(*(worker() for _ in range(workers)))
    return counts


@pytest.mark.parametrize("client", CLIENTS)
async def test_round_robin_spreads_calls_over_what_the_named_server_gives(client):
    pairing = Pairing(f"{client}-ours")
    with DnsServer(THREE) as dns:
        async with replicas_on_three_addresses(pairing) as replicas:
            target = f"dns://{dns.authority}/replicas.test:{replicas.port}"
            async with pairing.connect(target, [("grpc.lb_policy_name", "round_robin")]) as channel:
                echo = channel.unary_unary("/test.Svc/Echo")
                seen = set()
                for _ in range(100):  # until every subchannel is READY and has answered
                    seen.add(await echo(b"", timeout=10))
                    if len(seen) == 3:
                        break
                assert seen == {b"r1", b"r2", b"r3"}
                counts = await _spread(echo, 600)
        assert "A replicas.test" in dns.queries()
    for name in ("r1", "r2", "r3"):
        assert abs(counts[name] - 200) <= 20, counts


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_name_the_server_refuses_fails_the_call_unavailable(client):
    pairing = Pairing(f"{client}-ours")
    with DnsServer(THREE) as dns:
        async with pairing.connect(f"dns://{dns.authority}/absent.test:50051") as channel:
            with pytest.raises(pairing.client.AioRpcError) as info:
                await channel.unary_unary("/test.Svc/Echo")(b"", timeout=5)
        assert "A absent.test" in dns.queries()
    assert code_name(info.value.code()) == "UNAVAILABLE"
    if pairing.client.is_ours:
        assert (f"DNS server ipv4:{dns.authority} gave a refusal (REFUSED) for 'absent.test'"
                in info.value.details()), info.value.details()


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback on this machine")
@pytest.mark.parametrize("client", CLIENTS)
async def test_a_dns_server_on_an_ipv6_address(client):
    pairing = Pairing(f"{client}-ours")
    with DnsServer({"one.test": ["127.0.0.2"]}, host="::1") as dns:
        assert dns.authority.startswith("[::1]:")
        async with replicas_on_three_addresses(pairing) as replicas:
            target = f"dns://{dns.authority}/one.test:{replicas.port}"
            async with pairing.connect(target) as channel:
                assert await channel.unary_unary("/test.Svc/Echo")(b"", timeout=10) == b"r2"


@pytest.mark.parametrize("client", CLIENTS)
async def test_the_name_is_asked_again_after_its_backend_went_away(client):
    """pick_first on a name that gives r1's address; the DNS server then gives r2's and r1 stops:
    the lost connection makes the channel ask the server again, and calls reach r2."""
    pairing = Pairing(f"{client}-ours")
    options = [("grpc.dns_min_time_between_resolutions_ms", 100)]
    async with replicas_on_three_addresses(pairing) as replicas:
        with DnsServer({"moving.test": ["127.0.0.1"]}) as before:
            target = f"dns://{before.authority}/moving.test:{replicas.port}"
            async with pairing.connect(target, options) as channel:
                echo = channel.unary_unary("/test.Svc/Echo")
                assert await echo(b"", timeout=10) == b"r1"
                port = before.port
                before.__exit__(None, None, None)
                with DnsServer({"moving.test": ["127.0.0.2"]}, port=port) as after:
                    await replicas.servers[0].server.stop(None)
                    answers = []
                    deadline = time.monotonic() + 10
                    while time.monotonic() < deadline and answers[-1:] != [b"r2"]:
                        try:
                            answers.append(await echo(b"", timeout=2, wait_for_ready=True))
                        except pairing.client.AioRpcError as error:
                            answers.append(code_name(error.code()))
                    assert answers[-1:] == [b"r2"], answers
                    assert "A moving.test" in after.queries()


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_silent_dns_server_costs_a_call_its_deadline_and_no_more(client):
    """A DNS server that never replies (a bound UDP port that reads nothing): the lookup takes
    the resolver's full timeouts, but a call ends at its own deadline, and closing the channel
    does not wait for the lookup."""
    pairing = Pairing(f"{client}-ours")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        target = f"dns://127.0.0.1:{silent.getsockname()[1]}/replicas.test:50051"
        started = time.monotonic()
        async with pairing.connect(target) as channel:
            with pytest.raises(pairing.client.AioRpcError) as info:
                await channel.unary_unary("/test.Svc/Echo")(b"", timeout=0.5)
            assert code_name(info.value.code()) == "DEADLINE_EXCEEDED"
        assert time.monotonic() - started < 3, "the call or the channel's close waited for the lookup"
