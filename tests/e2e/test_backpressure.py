"""Backpressure: a slow reader holds the writer back (the writer's awaited writes run ahead of the
reader by a bounded amount), in both directions, and memory stays bounded while it waits."""

from __future__ import annotations

import asyncio

import grpc

from e2e.helpers import eventually, rss_bytes

SIZE = 64 * 1024


class Limits:
    """How far a writer may run ahead of a reader that stopped, in 64 KiB messages. The receiver's
    flow-control window decides it: ours must hold the writer within 4 MiB; grpc.aio grows its
    window by BDP probing and was seen letting 4-17 MiB through, so with a grpc.aio receiver the
    stream is longer and the bound looser (still: the writer must stall, not finish)."""

    def __init__(self, receiver):
        if receiver.is_ours:
            self.n, self.bound, self.creep = 200, 64, 0
        else:
            self.n, self.bound, self.creep = 640, 480, 16


def message(i: int) -> bytes:
    return bytes([i % 256]) * SIZE


class Counters:
    def __init__(self):
        self.writes = 0
        self.reads = 0
        self.done = asyncio.Event()


def handlers(counters: Counters, read_gate: asyncio.Event, N: int):
    async def stream_write(request, context):
        for i in range(N):
            await context.write(message(i))
            counters.writes += 1
        counters.done.set()

    async def stream_yield(request, context):
        for i in range(N):
            yield message(i)
            counters.writes += 1
        counters.done.set()

    async def slow_collect(request_iterator, context):
        await read_gate.wait()
        i = 0
        async for m in request_iterator:
            assert m == message(i)
            i += 1
            counters.reads += 1
        return b"%d" % i

    return {
        "StreamWrite": grpc.unary_stream_rpc_method_handler(stream_write),
        "StreamYield": grpc.unary_stream_rpc_method_handler(stream_yield),
        "SlowCollect": grpc.stream_unary_rpc_method_handler(slow_collect),
    }


async def _slow_reader(pairing, method: str):
    limits = Limits(pairing.client)
    N = limits.n
    counters = Counters()
    async with pairing.env(handlers(counters, asyncio.Event(), N)) as env:
        call = env.us(method)(b"")
        reads = 0
        assert await call.read() == message(0)
        reads += 1
        await asyncio.sleep(0.5)  # the server is free to run ahead now
        ahead_first = counters.writes - reads
        await asyncio.sleep(0.3)
        ahead = counters.writes - reads
        assert not counters.done.is_set(), "the server wrote everything to a reader that stopped"
        assert ahead - ahead_first <= limits.creep, (
            f"writer kept going with no reads: {ahead_first} → {ahead}")
        assert ahead <= limits.bound, f"writer ran {ahead} messages ahead of the reader"
        # reading slowly for a while keeps the lead bounded
        for _ in range(10):
            assert await call.read() == message(reads)
            reads += 1
            await asyncio.sleep(0.01)
            assert counters.writes - reads <= limits.bound + limits.creep + 1
        while True:
            m = await call.read()
            if m is pairing.client.EOF:
                break
            assert m == message(reads)
            reads += 1
        assert reads == N
        assert counters.writes == N


async def test_slow_client_reader_holds_back_context_write(pairing):
    await _slow_reader(pairing, "StreamWrite")


async def test_slow_client_reader_holds_back_async_generator(pairing):
    await _slow_reader(pairing, "StreamYield")


async def test_slow_server_reader_holds_back_client_writes(pairing):
    limits = Limits(pairing.server)
    N = limits.n
    counters = Counters()
    gate = asyncio.Event()
    async with pairing.env(handlers(counters, gate, N)) as env:
        call = env.su("SlowCollect")()
        written = 0

        async def writer():
            nonlocal written
            for i in range(N):
                await call.write(message(i))
                written += 1
            await call.done_writing()

        task = asyncio.ensure_future(writer())
        await asyncio.sleep(0.5)
        first = written
        await asyncio.sleep(0.3)
        assert written - first <= limits.creep, (
            f"client kept writing with no server reads: {first} → {written}")
        assert not task.done()
        assert written <= limits.bound, f"client wrote {written} messages nobody read"
        gate.set()
        await task
        assert await call == b"%d" % N
        assert counters.reads == N


async def test_memory_bounded_while_reader_is_slow(ours_pairing):
    """64 MiB offered to a reader that pauses: RSS must not grow by more than ~the flow-control
    windows: 24 MiB for ours. (Validated on grpc-grpc, whose windows reach ~17 MiB: 48 MiB.)"""
    big_n = 1000
    max_growth_mib = 24 if ours_pairing.server.is_ours else 48
    counters = Counters()

    async def firehose(request, context):
        for i in range(big_n):
            await context.write(message(i))
            counters.writes += 1

    async def warmup(request, context):
        return b"x" * SIZE

    h = {"Firehose": grpc.unary_stream_rpc_method_handler(firehose),
         "Warmup": grpc.unary_unary_rpc_method_handler(warmup)}
    async with ours_pairing.env(h) as env:
        for _ in range(20):
            await env.uu("Warmup")(b"")
        baseline = rss_bytes()
        call = env.us("Firehose")(b"")
        assert await call.read() == message(0)
        await eventually(lambda: counters.writes > 2, 5, "the server starting to write")
        peak = baseline
        for _ in range(20):  # 1 s of not reading
            await asyncio.sleep(0.05)
            peak = max(peak, rss_bytes())
        assert counters.writes < big_n / 2, f"server wrote {counters.writes} of {big_n} meanwhile"
        growth_mib = (peak - baseline) / (1024 * 1024)
        assert growth_mib < max_growth_mib, f"RSS grew {growth_mib:.1f} MiB while the reader paused"
        call.cancel()
