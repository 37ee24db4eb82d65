"""pick_first's Happy Eyeballs (gRPC's A61, RFC 8305): an address that neither connects nor
fails within grpc.happy_eyeballs_connection_attempt_delay_ms (250 ms by default, kept within
100-2000) keeps dialling while the next address is dialled too; the first connection to get
the server's SETTINGS wins. So a backend whose host drops packets costs the first call that
delay, not the 20 s connect timeout. The silent address is a loopback "black hole": a listener
with a backlog of 0, its one queue slot taken, that never accepts, so the kernel drops further
SYNs. Our client, and grpc.aio's to validate the expectations."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import grpc
import pytest

from e2e.helpers import GRPC_ONLY, Pairing

CLIENTS = ["grpc"] if GRPC_ONLY else ["ours", "grpc"]


@contextlib.contextmanager
def black_hole():
    """A loopback port whose connection attempts neither succeed nor fail; yields the port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    filler = socket.create_connection(listener.getsockname(), timeout=5)  # takes the one slot
    try:
        yield listener.getsockname()[1]
    finally:
        filler.close()
        listener.close()


@contextlib.asynccontextmanager
async def late_proxy(upstream_port: int, delay: float):
    """A TCP proxy that accepts at once but connects to the server `delay` s later: the
    connection is up, and the server's SETTINGS come `delay` late. Yields its port."""
    tasks: list[asyncio.Task] = []
    writers: list[asyncio.StreamWriter] = []

    async def pump(reader, writer):
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def accept(client_reader, client_writer):
        writers.append(client_writer)
        await asyncio.sleep(delay)
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        writers.append(server_writer)
        tasks.extend([asyncio.ensure_future(pump(client_reader, server_writer)),
                      asyncio.ensure_future(pump(server_reader, client_writer))])

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        for writer in writers:
            writer.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


def _named(name: bytes):
    async def echo(request, context):
        return name
    return {"Echo": grpc.unary_unary_rpc_method_handler(echo)}


async def _first_call(pairing: Pairing, addresses: list[int], options=()) -> tuple[bytes, float]:
    """The answer to a new channel's first call over ipv4:127.0.0.1:<each port>, and its time."""
    target = "ipv4:" + ",".join(f"127.0.0.1:{port}" for port in addresses)
    async with pairing.connect(target, list(options)) as channel:
        started = time.monotonic()
        answer = await channel.unary_unary("/test.Svc/Echo")(b"", timeout=10)
        return answer, time.monotonic() - started


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_silent_first_address_costs_the_delay_not_the_connect_timeout(client):
    pairing = Pairing(f"{client}-ours")
    with black_hole() as hole:
        async with pairing.serve(_named(b"second")) as server:
            answer, took = await _first_call(pairing, [hole, server.port])
    assert answer == b"second"
    assert took < 3, f"{took:.2f} s: the next address waited for the silent one's connect timeout"


@pytest.mark.parametrize("client", CLIENTS)
async def test_the_delay_is_the_option_kept_within_grpc_bounds(client):
    pairing = Pairing(f"{client}-ours")
    with black_hole() as hole:
        async with pairing.serve(_named(b"second")) as server:
            _, slow = await _first_call(
                pairing, [hole, server.port], [("grpc.happy_eyeballs_connection_attempt_delay_ms", 1500)])
            _, floor = await _first_call(
                pairing, [hole, server.port], [("grpc.happy_eyeballs_connection_attempt_delay_ms", 1)])
    assert 1.45 <= slow < 4, slow
    assert 0.095 <= floor < 2, floor  # 1 ms is raised to grpc's floor of 100 ms


@pytest.mark.parametrize("client", CLIENTS)
async def test_an_earlier_address_that_answers_late_still_wins(client):
    """The first address's server sends its SETTINGS 0.6 s late; after 0.25 s the second (a
    black hole) is dialled too: the first still wins when its SETTINGS come."""
    pairing = Pairing(f"{client}-ours")
    with black_hole() as hole:
        async with pairing.serve(_named(b"first")) as server:
            async with late_proxy(server.port, 0.6) as late:
                answer, took = await _first_call(pairing, [late, hole])
    assert answer == b"first"
    assert 0.55 <= took < 3, took
