"""Looking a target's name up again: after a lost connection or a GOAWAY the channel resolves
its host name again, but not more often than grpc.dns_min_time_between_resolutions_ms (30 s by
default, as grpc): in between, the last addresses serve. Counted from the engine's trace lines
("resolving '<target>'") with the turbogrpc logger at DEBUG; ours against ours."""

from __future__ import annotations

import time

import grpc

from e2e.helpers import Pairing, eventually, ours_only
from e2e.test_debug_logging import debug_log  # noqa: F401  (the fixture)


async def _echo(request, context):
    return request


async def _lookups_while_the_server_keeps_ageing_connections(debug_log, channel_options):
    """Calls for 1.5 s through connections the server closes (GOAWAY) every 100 ms; returns the
    number of lookups of the target."""
    pairing = Pairing("ours-ours")
    handlers = {"Echo": grpc.unary_unary_rpc_method_handler(_echo)}
    ageing = [("grpc.max_connection_age_ms", 100), ("grpc.max_connection_age_grace_ms", 1000)]
    async with pairing.serve(handlers, options=ageing) as srv:
        target = f"localhost:{srv.port}"
        async with pairing.connect(target, channel_options) as channel:
            until = time.monotonic() + 1.5
            while time.monotonic() < until:
                assert await channel.unary_unary("/test.Svc/Echo")(b"x", timeout=5) == b"x"
            await eventually(lambda: debug_log.has("turbogrpc.connection", "GOAWAY received"),
                             what="a GOAWAY")
    return len([m for m in debug_log.of("turbogrpc.channel") if f"resolving '{target}'" in m])


@ours_only
async def test_the_name_is_looked_up_again_after_goaways(debug_log):
    lookups = await _lookups_while_the_server_keeps_ageing_connections(
        debug_log, [("grpc.dns_min_time_between_resolutions_ms", 0)])
    assert lookups >= 3


@ours_only
async def test_lookups_are_rate_limited_by_the_minimum_time_between_them(debug_log):
    assert await _lookups_while_the_server_keeps_ageing_connections(debug_log, None) == 1
