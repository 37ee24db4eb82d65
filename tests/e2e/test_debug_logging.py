"""What the engine does to connections, in Python's logging: with the ``turbogrpc`` logger at
DEBUG, state changes and connect attempts (address, outcome, time) go to ``turbogrpc.channel``,
GOAWAYs sent and received (code, last stream id, debug data) and keepalive timeouts to
``turbogrpc.connection``. The poller only queues the lines; a relay thread logs them, and
stops once DEBUG is off again.

Ours against ours (both ends log); every wait is bounded.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import threading
import time

import grpc
import pytest

from e2e.helpers import Pairing, code_name, eventually, ours_only, stack
from e2e.pausing_proxy import PausingProxy

RELAY_THREAD = "turbogrpc-engine-log"
FAST = [("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 200)]
MAX_STREAM_ID = 2**31 - 1


class _Records(logging.Handler):
    """Every record under ``turbogrpc`` as (logger name, message)."""

    def __init__(self):
        super().__init__()
        self.lines: list[tuple[str, str]] = []

    def emit(self, record):
        self.lines.append((record.name, record.getMessage()))

    def of(self, name: str) -> list[str]:
        return [message for logger, message in list(self.lines) if logger == name]

    def has(self, name: str, pattern: str) -> bool:
        return any(re.search(pattern, message) for message in self.of(name))


@pytest.fixture
def debug_log():
    logger = logging.getLogger("turbogrpc")
    records, level = _Records(), logger.level
    logger.addHandler(records)
    logger.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        logger.removeHandler(records)
        logger.setLevel(level)


def _relay_running() -> bool:
    return any(thread.name == RELAY_THREAD for thread in threading.enumerate())


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _echo(request, context):
    return request


@ours_only
async def test_state_changes_and_a_failed_connect_attempt_are_logged(debug_log):
    ours = stack("ours")
    port = _unused_port()
    channel = ours.channel(f"127.0.0.1:{port}", options=FAST)
    with pytest.raises(ours.AioRpcError):
        await channel.unary_unary("/test.Svc/Echo")(b"x")
    await channel.close()
    await eventually(lambda: debug_log.has("turbogrpc.channel", r"-> SHUTDOWN$"), what="SHUTDOWN logged")
    mine = [m for m in debug_log.of("turbogrpc.channel") if f"127.0.0.1:{port}" in m or "->" not in m]
    changes = [m.rsplit(": ", 1)[1] for m in mine if "->" in m]
    assert changes[:2] == ["IDLE -> CONNECTING", "CONNECTING -> TRANSIENT_FAILURE"], mine
    assert changes[-1] == "TRANSIENT_FAILURE -> SHUTDOWN", mine
    # The attempt: where to, and how it ended (refused at once, or after the connect finished).
    assert debug_log.has("turbogrpc.channel",
                         rf"connecting to ipv4:127\.0\.0\.1:{port}( failed: .*refused.*)?$"), mine
    assert (debug_log.has("turbogrpc.channel", rf"connecting to ipv4:127\.0\.0\.1:{port} failed")
            or debug_log.has("turbogrpc.channel", r"connect attempt failed after \d+ ms: .*refused")), mine


@ours_only
async def test_a_successful_connect_is_logged_with_its_time(debug_log):
    pairing = Pairing("ours-ours")
    async with pairing.env({"Echo": grpc.unary_unary_rpc_method_handler(_echo)}) as env:
        assert await env.uu("Echo")(b"x", timeout=5) == b"x"
        await eventually(lambda: debug_log.has("turbogrpc.channel", r"CONNECTING -> READY$"),
                         what="READY logged")
        assert debug_log.has("turbogrpc.channel",
                             rf"connected to ipv4:127\.0\.0\.1:{env.srv.port} in \d+ ms$"), debug_log.lines


def _holding():
    """Handlers (Echo, and Hold: waits for `release`) and the two events."""
    held, release = asyncio.Event(), asyncio.Event()

    async def hold(request, context):
        held.set()
        await asyncio.wait_for(release.wait(), 10)
        return request

    return ({"Echo": grpc.unary_unary_rpc_method_handler(_echo),
             "Hold": grpc.unary_unary_rpc_method_handler(hold)}, held, release)


@ours_only
async def test_max_connection_age_goaways_are_logged_on_both_ends(debug_log):
    """A call is running when the connection reaches its age: the server's two GOAWAYs (first
    with the highest stream id, then the last one it processed) are logged as sent by the
    server and as received by the client, in that order."""
    pairing = Pairing("ours-ours")
    handlers, held, release = _holding()
    options = [("grpc.max_connection_age_ms", 200), ("grpc.max_connection_age_grace_ms", 5000)]
    async with pairing.env(handlers, server_options=options) as env:
        call = asyncio.ensure_future(env.uu("Hold")(b"held", timeout=10))  # stream 1
        await asyncio.wait_for(held.wait(), 5)
        await eventually(lambda: debug_log.has("turbogrpc.connection", r"GOAWAY received: error 0, last stream 1,"),
                         what="the final GOAWAY logged as received", timeout=10)
        release.set()
        assert await asyncio.wait_for(call, 5) == b"held"
        goaways = [m.split(": ", 1)[1] for m in debug_log.of("turbogrpc.connection") if "GOAWAY" in m]
        first, final = f"error 0, last stream {MAX_STREAM_ID}, debug ''", "error 0, last stream 1, debug ''"
        sent = [m for m in goaways if m.startswith("GOAWAY sent")]
        received = [m for m in goaways if m.startswith("GOAWAY received")]
        assert sent[:2] == [f"GOAWAY sent: {first}", f"GOAWAY sent: {final}"], goaways
        assert received[:2] == [f"GOAWAY received: {first}", f"GOAWAY received: {final}"], goaways


@ours_only
async def test_server_stop_with_grace_sends_two_goaways_and_the_call_in_flight_finishes(debug_log):
    """stop(grace) as grpc-go's GracefulStop: the first GOAWAY (highest stream id) and a PING,
    then the final GOAWAY naming the call still running, which ends OK within the grace."""
    pairing = Pairing("ours-ours")
    handlers, held, release = _holding()
    async with pairing.env(handlers) as env:
        assert await env.uu("Echo")(b"x", timeout=5) == b"x"  # stream 1
        call = asyncio.ensure_future(env.uu("Hold")(b"held", timeout=10))  # stream 3
        await asyncio.wait_for(held.wait(), 5)
        stopping = asyncio.ensure_future(env.server.stop(5))
        await eventually(lambda: debug_log.has("turbogrpc.connection",
                                               r"GOAWAY received: error 0, last stream 3,"),
                         what="the final GOAWAY received")
        assert debug_log.has("turbogrpc.connection", rf"GOAWAY received: error 0, last stream {MAX_STREAM_ID},")
        release.set()
        assert await asyncio.wait_for(call, 5) == b"held"
        await asyncio.wait_for(stopping, 5)


@ours_only
async def test_a_keepalive_timeout_is_logged(debug_log):
    pairing = Pairing("ours-ours")
    handlers, held, release = _holding()
    keepalive = [("grpc.keepalive_time_ms", 200), ("grpc.keepalive_timeout_ms", 200)]
    async with pairing.serve(handlers) as srv:
        async with PausingProxy(srv.port) as proxy:
            async with pairing.connect(f"127.0.0.1:{proxy.port}", options=keepalive) as channel:
                call = asyncio.ensure_future(channel.unary_unary("/test.Svc/Hold")(b"held", timeout=10))
                await asyncio.wait_for(held.wait(), 5)
                proxy.pause()
                with pytest.raises(pairing.client.AioRpcError) as info:
                    await asyncio.wait_for(call, 5)
                assert code_name(info.value.code()) == "UNAVAILABLE"
                release.set()
                await eventually(lambda: debug_log.has(
                    "turbogrpc.connection",
                    rf"keepalive ping to ipv4:127\.0\.0\.1:{proxy.port} not acknowledged within 200 ms$"),
                    what="the keepalive timeout logged")


@ours_only
async def test_the_relay_stops_when_debug_is_off_and_nothing_is_forwarded():
    """Without DEBUG no relay starts (the engine keeps no lines), and a running one ends within
    about a second of DEBUG going off."""
    logger = logging.getLogger("turbogrpc")
    assert not logger.isEnabledFor(logging.DEBUG)
    deadline = time.monotonic() + 5
    while _relay_running() and time.monotonic() < deadline:  # from an earlier test
        await asyncio.sleep(0.05)
    assert not _relay_running()
    ours = stack("ours")
    channel = ours.channel(f"127.0.0.1:{_unused_port()}", options=FAST)
    with pytest.raises(ours.AioRpcError):
        await channel.unary_unary("/test.Svc/Echo")(b"x")
    await channel.close()
    assert not _relay_running()
