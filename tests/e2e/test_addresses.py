"""Listen and dial addresses: port 0 returns the bound port; IPv6 loopback; a unix socket path;
a dual-stack listener reached through 127.0.0.1, [::1] and localhost; host names resolved off
the poller."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import uuid

import grpc
import pytest

from e2e.helpers import code_name, ipv6_loopback_available


def handlers():
    async def echo(request, context):
        return request

    async def peer(request, context):
        return context.peer().encode()

    async def gen(request, context):
        for i in range(3):
            yield b"%d" % i

    return {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "Peer": grpc.unary_unary_rpc_method_handler(peer),
        "Gen": grpc.unary_stream_rpc_method_handler(gen),
    }


async def _exercise(env):
    assert await env.uu("Echo")(b"hi") == b"hi"
    assert [m async for m in env.us("Gen")(b"")] == [b"0", b"1", b"2"]
    return (await env.uu("Peer")(b"")).decode()


async def test_port_zero_binds_distinct_ports(pairing):
    async with pairing.serve(handlers()) as a, pairing.serve(handlers()) as b:
        assert a.port > 0 and b.port > 0 and a.port != b.port
        for srv in (a, b):
            async with pairing.connect(srv.target) as channel:
                assert await channel.unary_unary("/test.Svc/Echo")(b"x") == b"x"


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback here")
async def test_ipv6_loopback(pairing):
    async with pairing.env(handlers(), address="[::1]:0") as env:
        assert env.target.startswith("[::1]:")
        peer = await _exercise(env)
        assert peer.startswith("ipv6:") and "::1" in peer, peer


async def test_unix_socket(pairing):
    path = os.path.join(tempfile.gettempdir(), f"turbogrpc-e2e-{uuid.uuid4().hex[:12]}.sock")
    try:
        async with pairing.env(handlers(), address=f"unix:{path}") as env:
            assert os.path.exists(path)
            peer = await _exercise(env)
            assert peer.startswith("unix:"), peer
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback here")
async def test_dual_stack_listener(pairing):
    async with pairing.serve(handlers(), address="[::]:0") as srv:
        for host in ("127.0.0.1", "[::1]", "localhost"):
            async with pairing.connect(f"{host}:{srv.port}") as channel:
                assert await channel.unary_unary("/test.Svc/Echo")(host.encode()) == host.encode()


async def test_host_names_resolve_off_the_poller(pairing):
    """Host names are looked up on a resolver thread (cpp/src/io/resolver.h), numeric ones at
    once; both kinds reach the server, side by side on one client, and a name that does not
    resolve fails its call with UNAVAILABLE while the other channels serve on."""
    async with pairing.serve(handlers()) as srv:
        async with pairing.connect(f"localhost:{srv.port}") as by_name, \
                pairing.connect(f"127.0.0.1:{srv.port}") as by_number, \
                pairing.connect("no-such-host.invalid:1") as nowhere:
            failing = nowhere.unary_unary("/test.Svc/Echo")(b"x", timeout=5)
            results = await asyncio.gather(
                by_name.unary_unary("/test.Svc/Echo")(b"name"),
                by_number.unary_unary("/test.Svc/Echo")(b"number"),
                failing, return_exceptions=True)
            assert results[:2] == [b"name", b"number"]
            assert isinstance(results[2], pairing.client.AioRpcError), results[2]
            assert code_name(results[2].code()) == "UNAVAILABLE"
            assert await by_name.unary_unary("/test.Svc/Echo")(b"again") == b"again"
