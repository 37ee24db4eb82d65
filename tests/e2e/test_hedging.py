"""Hedging (gRPC proposal A6's hedgingPolicy) through ``grpc.service_config``: the call goes out
again every hedgingDelay until one attempt commits (response headers, or an OK or fatal end);
the others are cancelled. Attempts counted in grpc-previous-rpc-attempts, maxAttempts honoured
(capped at 5), non-fatal codes start the next attempt at once, fatal ones end the call, pushback
delays or stops the hedges, request streams are replayed, ``grpc.enable_retries`` or
``grpc.experimental.enable_hedging`` 0 turns it off.
Our client only (grpc.aio's never implemented hedging), against both servers."""

from __future__ import annotations

import asyncio
import json
import time

import grpc
import pytest

from e2e.helpers import code_name, md_values, ours_only



def hedging_config(attempts=3, delay="0.1s", non_fatal=("UNAVAILABLE",), **config):
    return [("grpc.service_config", json.dumps({
        "methodConfig": [{"name": [{"service": "test.Svc"}],
                          "hedgingPolicy": {"maxAttempts": attempts, "hedgingDelay": delay,
                                            "nonFatalStatusCodes": list(non_fatal)}}],
        **config}))]


class Attempts:
    """Records each attempt's grpc-previous-rpc-attempts and arrival time; its handlers answer
    by `behave(attempt index, context)`. A handler that is cancelled sets `cancelled`."""

    def __init__(self, behave):
        self.behave = behave
        self.seen: list[tuple[list[str], float]] = []
        self.cancelled = asyncio.Event()

    def record(self, context) -> int:
        previous = md_values(context.invocation_metadata(), "grpc-previous-rpc-attempts")
        self.seen.append((previous, time.monotonic()))
        return int(previous[0]) if previous else 0

    async def guarded(self, work):
        try:
            return await work
        except asyncio.CancelledError:
            self.cancelled.set()
            raise

    async def unary(self, request, context):
        attempt = self.record(context)
        await self.guarded(self.behave(attempt, context))
        return request + b"@%d" % attempt

    async def join(self, request_iterator, context):
        attempt = self.record(context)
        parts = [request async for request in request_iterator]
        await self.guarded(self.behave(attempt, context))
        return b"|".join(parts) + b"@%d" % attempt

    async def count(self, request, context):
        attempt = self.record(context)
        await context.send_initial_metadata((("attempt", str(attempt)),))
        await self.guarded(self.behave(attempt, context))
        for i in range(3):
            yield str(i).encode()

    def handlers(self):
        return {"Unary": grpc.unary_unary_rpc_method_handler(self.unary),
                "Join": grpc.stream_unary_rpc_method_handler(self.join),
                "Count": grpc.unary_stream_rpc_method_handler(self.count)}

    def counts(self):
        return [previous for previous, _ in self.seen]


def slow_first(seconds=1.0):
    async def behave(attempt, context):
        if attempt == 0:
            await asyncio.sleep(seconds)
    return behave


def failing(code, until=100, trailers=()):
    async def behave(attempt, context):
        if attempt < until:
            if trailers:
                context.set_trailing_metadata(trailers)
            await context.abort(getattr(grpc.StatusCode, code), f"attempt {attempt} fails")
    return behave


async def outcome(pairing, awaitable):
    try:
        return await awaitable
    except pairing.client.aio.AioRpcError as err:
        return code_name(err.code())


@ours_only
async def test_a_hedge_answers_while_the_slow_first_attempt_is_cancelled(our_client_pairing):
    server = Attempts(slow_first())
    # Two attempts, so a loaded machine that answers the hedge late cannot start a third.
    async with our_client_pairing.env(server.handlers(), channel_options=hedging_config(attempts=2)) as env:
        began = time.monotonic()
        assert await env.uu("Unary")(b"a", timeout=5) == b"a@1"
        took = time.monotonic() - began
        await asyncio.wait_for(server.cancelled.wait(), 2)  # the slow attempt was reset
    assert 0.09 <= took < 0.6, took
    assert server.counts() == [[], ["1"]]


@ours_only
@pytest.mark.parametrize("attempts, made", [(3, 3), (9, 5)])
async def test_attempts_are_counted_and_stop_at_max_attempts(our_client_pairing, attempts, made):
    async def slow(attempt, context):
        await asyncio.sleep(0.6)
    server = Attempts(slow)
    options = hedging_config(attempts=attempts, delay="0.05s")
    async with our_client_pairing.env(server.handlers(), channel_options=options) as env:
        assert await env.uu("Unary")(b"a", timeout=5) in {b"a@%d" % i for i in range(made)}
    assert server.counts() == [[]] + [[str(i)] for i in range(1, made)]


@ours_only
async def test_a_fatal_code_ends_the_call_without_more_hedges(our_client_pairing):
    server = Attempts(failing("INVALID_ARGUMENT"))
    async with our_client_pairing.env(server.handlers(), channel_options=hedging_config(delay="1s")) as env:
        began = time.monotonic()
        assert await outcome(our_client_pairing, env.uu("Unary")(b"a", timeout=5)) == "INVALID_ARGUMENT"
        assert time.monotonic() - began < 0.9
        await asyncio.sleep(1.2)  # past the hedging delay: nothing more goes out
    assert server.counts() == [[]]


@ours_only
async def test_a_non_fatal_code_starts_the_next_hedge_at_once(our_client_pairing):
    server = Attempts(failing("UNAVAILABLE", until=2))
    async with our_client_pairing.env(server.handlers(), channel_options=hedging_config(delay="5s")) as env:
        began = time.monotonic()
        assert await env.uu("Unary")(b"a", timeout=10) == b"a@2"
        assert time.monotonic() - began < 1
    assert server.counts() == [[], ["1"], ["2"]]


@ours_only
async def test_when_every_attempt_fails_the_call_ends_with_the_last_failure(our_client_pairing):
    server = Attempts(failing("UNAVAILABLE"))
    async with our_client_pairing.env(server.handlers(), channel_options=hedging_config(delay="5s")) as env:
        assert await outcome(our_client_pairing, env.uu("Unary")(b"a", timeout=5)) == "UNAVAILABLE"
    assert len(server.counts()) == 3


@ours_only
async def test_server_pushback_delays_the_next_hedge_or_stops_them(our_client_pairing):
    waits = Attempts(failing("UNAVAILABLE", until=1, trailers=(("grpc-retry-pushback-ms", "300"),)))
    async with our_client_pairing.env(waits.handlers(), channel_options=hedging_config(delay="5s")) as env:
        assert await env.uu("Unary")(b"a", timeout=5) == b"a@1"
    (_, first), (_, second) = waits.seen
    assert 0.28 <= second - first < 2
    stops = Attempts(failing("UNAVAILABLE", until=1, trailers=(("grpc-retry-pushback-ms", "-1"),)))
    async with our_client_pairing.env(stops.handlers(), channel_options=hedging_config(delay="0.2s")) as env:
        assert await outcome(our_client_pairing, env.uu("Unary")(b"a", timeout=5)) == "UNAVAILABLE"
        await asyncio.sleep(0.4)
    assert stops.counts() == [[]]


@ours_only
async def test_a_large_compressed_request_reaches_the_hedge_whole(our_client_pairing):
    """Compressed on the poller for hedged calls (no codec worker): same bytes on every attempt."""
    server = Attempts(slow_first())
    request = b"hedge " * 20_000
    options = hedging_config(attempts=2)
    async with our_client_pairing.env(server.handlers(), channel_options=options) as env:
        answer = await env.uu("Unary")(request, timeout=5, compression=grpc.Compression.Gzip)
    assert answer == request + b"@1"
    assert server.counts() == [[], ["1"]]


@ours_only
async def test_request_streams_are_replayed_to_the_hedges(our_client_pairing):
    server = Attempts(slow_first())
    # Two attempts: with a third, hedges 1 and 2 would both be replayed and race to answer.
    options = hedging_config(attempts=2, delay="0.05s")
    async with our_client_pairing.env(server.handlers(), channel_options=options) as env:
        call = env.su("Join")(timeout=5)
        await call.write(b"one")
        await asyncio.sleep(0.15)  # the hedge starts here, after "one" went out on the first
        for part in (b"two", b"three"):
            await call.write(part)
        await call.done_writing()
        assert await call == b"one|two|three@1"
    assert server.counts() == [[], ["1"]]


@ours_only
async def test_a_response_stream_commits_on_its_first_headers(our_client_pairing):
    server = Attempts(slow_first(0.5))
    async with our_client_pairing.env(server.handlers(), channel_options=hedging_config(delay="0.05s")) as env:
        call = env.us("Count")(b"c", timeout=5)
        assert md_values(await call.initial_metadata(), "attempt") == ["0"]
        assert [m async for m in call] == [b"0", b"1", b"2"]
        await asyncio.sleep(0.2)
    assert server.counts() == [[]]  # the headers committed the first attempt: no hedge


@ours_only
@pytest.mark.parametrize("switch", ["grpc.enable_retries", "grpc.experimental.enable_hedging"])
async def test_retries_or_hedging_turned_off_turn_hedging_off(our_client_pairing, switch):
    server = Attempts(slow_first(0.3))
    options = hedging_config(delay="0.05s") + [(switch, 0)]
    async with our_client_pairing.env(server.handlers(), channel_options=options) as env:
        assert await env.uu("Unary")(b"a", timeout=5) == b"a@0"
    assert server.counts() == [[]]


def ipv4_list(handles) -> str:
    return "ipv4:" + ",".join(f"127.0.0.1:{h.port}" for h in handles)


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


@ours_only
async def test_hedging_cuts_the_p99_of_a_slow_replica(our_client_pairing):
    """Three replicas under round_robin, one answering in 300 ms: unhedged, a third of the calls
    wait for it; hedged after 50 ms, another replica answers first."""
    pairing = our_client_pairing

    async def echo(request, context):
        return b""

    async def slow(request, context):
        await asyncio.sleep(0.3)
        return b""

    round_robin = {"loadBalancingConfig": [{"round_robin": {}}]}
    async with pairing.serve({"Echo": grpc.unary_unary_rpc_method_handler(slow)}) as r0, \
            pairing.serve({"Echo": grpc.unary_unary_rpc_method_handler(echo)}) as r1, \
            pairing.serve({"Echo": grpc.unary_unary_rpc_method_handler(echo)}) as r2:
        target = ipv4_list([r0, r1, r2])

        async def latencies(options) -> list[float]:
            async with pairing.connect(target, options) as channel:
                unary = channel.unary_unary("/test.Svc/Echo")
                for _ in range(6):  # every subchannel connected before measuring
                    await unary(b"", timeout=5)
                out: list[float] = []

                async def worker():
                    for _ in range(10):
                        began = time.monotonic()
                        await unary(b"", timeout=5)
                        out.append(time.monotonic() - began)
                await asyncio.gather(*(worker() for _ in range(6)))
                return out

        unhedged = await latencies([("grpc.service_config", json.dumps(round_robin))])
        hedged = await latencies(hedging_config(delay="0.05s", **round_robin))
    assert len(unhedged) == len(hedged) == 60
    assert p99(unhedged) >= 0.3
    assert p99(hedged) < 0.25, sorted(hedged)[-5:]
