"""Keepalive and connection lifetimes with real peers (gRPC's keepalive doc; grpc-go's transport):
our server polices pings (GOAWAY ENHANCE_YOUR_CALM "too_many_pings"), ages connections out
with the two-phase GOAWAY and a grace period, and our client's keepalive finds a peer that
stopped answering — here behind a small TCP proxy that pauses (stops forwarding, keeps both
sockets open), which is what a dead NAT entry or a vanished host looks like.

Every wait is bounded; everything is on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import grpc
import pytest

from e2e.helpers import Pairing, code_name, eventually, ours_only, rpc_error
from e2e.pausing_proxy import PausingProxy


async def _echo(request, context):
    return request


class _Peers:
    """Handlers that note the peer (client address and port) of every call they serve: a new
    port means a new connection."""

    def __init__(self):
        self.seen: list[str] = []
        self.release = asyncio.Event()
        self.held = asyncio.Event()

    def handlers(self, slow_seconds: float = 0.0):
        async def echo(request, context):
            self.seen.append(context.peer())
            return request

        async def slow(request, context):
            self.seen.append(context.peer())
            await asyncio.sleep(slow_seconds)
            return request

        async def hold(request, context):
            self.seen.append(context.peer())
            self.held.set()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.release.wait(), 10)
            return request

        return {"Echo": grpc.unary_unary_rpc_method_handler(echo),
                "Slow": grpc.unary_unary_rpc_method_handler(slow),
                "Hold": grpc.unary_unary_rpc_method_handler(hold)}


async def _left_ready(channel, timeout: float) -> bool:
    """Whether the channel leaves READY within `timeout` (it is READY when called)."""
    deadline = time.monotonic() + timeout
    while channel.get_state() is grpc.ChannelConnectivity.READY:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(channel.wait_for_state_change(grpc.ChannelConnectivity.READY), left)
    return True


# ---- ping policing: grpc.aio's aggressive keepalive against our server ------------------------

AGGRESSIVE = [("grpc.keepalive_time_ms", 100), ("grpc.keepalive_permit_without_calls", 1),
              ("grpc.http2.max_pings_without_data", 0)]


@ours_only
async def test_grpc_clients_aggressive_keepalive_gets_too_many_pings_from_our_server():
    """Default policing (5 min between pings, no pings without calls, 2 strikes): grpc.aio's
    pings every 100 ms make our server send GOAWAY "too_many_pings" and close; grpc's channel
    leaves READY (it logs the GOAWAY and doubles its keepalive time), and a call afterwards
    works on a new connection."""
    pairing = Pairing("grpc-ours")
    peers = _Peers()
    async with pairing.env(peers.handlers(), channel_options=AGGRESSIVE) as env:
        assert await env.uu("Echo")(b"a", timeout=5) == b"a"
        assert env.channel.get_state() is grpc.ChannelConnectivity.READY
        # grpc-core paces its pings about 1 s apart whatever the keepalive time: the fourth (the
        # third strike) comes ~3 s in.
        assert await _left_ready(env.channel, 10.0), "our server tolerated a ping every 100 ms"
        assert await env.uu("Echo")(b"b", timeout=5) == b"b"
        assert len(set(peers.seen)) == 2, peers.seen  # the second call came on a new connection


@ours_only
async def test_pings_our_server_permits_are_answered_without_strikes():
    """The same client against a server that permits pings without calls every 50 ms: the
    connection stays up (so the options reach the engine, and policing is not a blanket ban)."""
    pairing = Pairing("grpc-ours")
    server_options = [("grpc.keepalive_permit_without_calls", 1),
                      ("grpc.http2.min_ping_interval_without_data_ms", 50)]
    peers = _Peers()
    async with pairing.env(peers.handlers(), server_options=server_options,
                           channel_options=AGGRESSIVE) as env:
        assert await env.uu("Echo")(b"a", timeout=5) == b"a"
        # Past the ~3 s the unpermitted pings above take to be refused.
        assert not await _left_ready(env.channel, 4.0), "permitted pings were refused"
        assert await env.uu("Echo")(b"b", timeout=5) == b"b"
        assert len(set(peers.seen)) == 1, peers.seen


# ---- maximum connection age --------------------------------------------------------------------

async def test_max_connection_age_lets_a_call_in_flight_finish_and_the_next_one_reconnects(pairing):
    """The connection reaches its age (300 ms) while a 700 ms call runs: the call ends OK within
    the grace, and the next call is served on a new connection."""
    peers = _Peers()
    server_options = [("grpc.max_connection_age_ms", 300), ("grpc.max_connection_age_grace_ms", 5000)]
    async with pairing.env(peers.handlers(slow_seconds=0.7), server_options=server_options) as env:
        started = time.monotonic()
        assert await env.uu("Slow")(b"slow", timeout=5) == b"slow"
        assert time.monotonic() - started >= 0.7
        assert await env.uu("Echo")(b"next", timeout=5) == b"next"
        assert len(peers.seen) == 2 and peers.seen[0] != peers.seen[1], peers.seen


async def test_max_connection_age_grace_over_ends_the_call_unavailable(ours_pairing):
    """A call still running when the grace (300 ms after the age of 200 ms) is over is cut off:
    the client sees UNAVAILABLE, and the channel serves the next call on a new connection."""
    peers = _Peers()
    server_options = [("grpc.max_connection_age_ms", 200), ("grpc.max_connection_age_grace_ms", 300)]
    async with ours_pairing.env(peers.handlers(), server_options=server_options) as env:
        started = time.monotonic()
        await rpc_error(ours_pairing, env.uu("Hold")(b"held", timeout=5), "UNAVAILABLE")
        took = time.monotonic() - started
        assert 0.45 <= took < 2.0, took  # age (180 ms at the least) + grace, not the deadline
        peers.release.set()
        assert await env.uu("Echo")(b"next", timeout=5) == b"next"
        assert peers.seen[0] != peers.seen[-1], peers.seen


# ---- client keepalive through a proxy that stops forwarding ---------------------------------

async def test_client_keepalive_finds_a_peer_that_stopped_answering(our_client_pairing):
    """Through the proxy: a call waits on the server, then the proxy pauses. Our client's
    keepalive (200 ms, timeout 200 ms) gets no ACK, closes the connection and the call fails
    UNAVAILABLE well before its deadline; the channel then reconnects for the next call."""
    pairing = our_client_pairing
    peers = _Peers()
    keepalive = [("grpc.keepalive_time_ms", 200), ("grpc.keepalive_timeout_ms", 200)]
    async with pairing.serve(peers.handlers()) as srv:
        async with PausingProxy(srv.port) as proxy:
            async with pairing.connect(f"127.0.0.1:{proxy.port}", options=keepalive) as channel:
                assert await channel.unary_unary("/test.Svc/Echo")(b"warm", timeout=5) == b"warm"
                held = asyncio.ensure_future(channel.unary_unary("/test.Svc/Hold")(b"held", timeout=10))
                await asyncio.wait_for(peers.held.wait(), 5)
                proxy.pause()
                paused = time.monotonic()
                with pytest.raises(pairing.client.AioRpcError) as info:
                    await asyncio.wait_for(held, 5)
                took = time.monotonic() - paused
                assert code_name(info.value.code()) == "UNAVAILABLE", info.value
                # One interval of quiet, then the ACK's timeout (+ the check's granularity and slack).
                assert took < 0.2 + 0.2 + 1.0, took
                # The channel left READY before the call was failed (engine order).
                assert channel.get_state() is not grpc.ChannelConnectivity.READY
                assert await channel.unary_unary("/test.Svc/Echo")(b"again", timeout=5) == b"again"
                assert proxy.connections == 2
                peers.release.set()


async def test_client_keepalive_keeps_a_quiet_call_alive_while_the_peer_answers(our_client_pairing):
    """The control: without the pause the same call (quiet for 1 s, pings answered, the server
    permitting them) finishes OK on its first connection."""
    pairing = our_client_pairing
    peers = _Peers()
    keepalive = [("grpc.keepalive_time_ms", 200), ("grpc.keepalive_timeout_ms", 200)]
    server_options = [("grpc.http2.min_ping_interval_without_data_ms", 100)]
    async with pairing.serve(peers.handlers(slow_seconds=1.0), options=server_options) as srv:
        async with PausingProxy(srv.port) as proxy:
            async with pairing.connect(f"127.0.0.1:{proxy.port}", options=keepalive) as channel:
                assert await channel.unary_unary("/test.Svc/Slow")(b"quiet", timeout=5) == b"quiet"
                assert proxy.connections == 1
                await eventually(lambda: channel.get_state() is grpc.ChannelConnectivity.READY, 1)


@pytest.mark.parametrize("how", ["drop", "reset"])
async def test_a_connection_closed_under_a_call_fails_it_unavailable_and_the_channel_reconnects(
        our_client_pairing, how):
    """Through the proxy: a call waits on the server, then the proxy closes the connection
    (FIN, or RST). The call fails UNAVAILABLE at once (no keepalive needed: the socket says
    so), and the next call is served on a new connection."""
    pairing = our_client_pairing
    peers = _Peers()
    async with pairing.serve(peers.handlers()) as srv:
        async with PausingProxy(srv.port) as proxy:
            async with pairing.connect(f"127.0.0.1:{proxy.port}") as channel:
                held = asyncio.ensure_future(channel.unary_unary("/test.Svc/Hold")(b"held", timeout=10))
                await asyncio.wait_for(peers.held.wait(), 5)
                closed = time.monotonic()
                getattr(proxy, how)()
                with pytest.raises(pairing.client.AioRpcError) as info:
                    await asyncio.wait_for(held, 5)
                assert time.monotonic() - closed < 2.0
                assert code_name(info.value.code()) == "UNAVAILABLE", info.value
                peers.release.set()
                assert await channel.unary_unary("/test.Svc/Echo")(b"again", timeout=5) == b"again"
                assert proxy.connections == 2
