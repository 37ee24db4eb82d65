"""Paused streams must not stall the other calls of their connection (issue 10, defect 1).

HTTP/2 has two flow-control windows: one per stream and one for the whole connection. A stream
whose application stopped reading must hold back only its own sender (its stream window stays
closed); the connection window must be given back as bytes arrive, or a few paused streams use
it up and every other call on the connection stops. The old engine returned the connection window
only as the application read, so with 1 MiB stream windows ~16 paused streams exhausted its
16 MiB connection window and the next unary call on the channel failed DEADLINE_EXCEEDED.

Both directions, N_STREAMS = 50 paused streams on one channel, then UNARY_CALLS = 20 unary calls
on the same channel, one after another, each with timeout=1 s, must all succeed:

- the client pauses: 50 server-streaming calls, each server writing 64 x 64 KiB (4 MiB, 200 MiB
  for all), the client reads the first message of each and stops;
- the server pauses: 50 client-streaming calls whose handler awaits an event without reading,
  while a task per call keeps writing 64 KiB messages until flow control blocks it (up to 64).

grpc.aio grows its receive windows by BDP probing (to ~17 MiB per stream), which would let all
200 MiB through to a paused grpc.aio reader; where grpc.aio receives it runs with
grpc.http2.bdp_probe=0 (GRPC_NO_BDP), so its stream windows stay at 64 KiB and its streams pause too.

Memory (ours-ours, where this process is both ends and our engine both the receiver and the
sender): with a paused reader each stream holds at most its 1 MiB stream window plus the 256 KiB
inbox of decoded messages on the receiving side, and the sender's queue is held back by flow
control, so the 50 paused streams may grow this process by at most
50 x (1 MiB + 256 KiB) = 62.5 MiB, plus 16 MiB of slack (MEMORY_BOUND = 78.5 MiB), against
200 MiB offered; a stream may run at most that window and inbox (+ 8 messages) ahead.
"""

from __future__ import annotations

import asyncio
import time

import grpc

from e2e.helpers import MiB, code_name, rss_bytes

N_STREAMS = 50
SIZE = 64 * 1024
MESSAGES = 64  # per paused stream: 4 MiB
UNARY_CALLS = 20
UNARY_TIMEOUT = 1.0
STREAM_WINDOW, INBOX = 1 * MiB, 256 * 1024
MEMORY_BOUND = N_STREAMS * (STREAM_WINDOW + INBOX) + 16 * MiB
SETTLE_S = 0.5     # progress unchanged this long: every stream is held by flow control
SETTLE_LIMIT_S = 10.0
GRPC_NO_BDP = [("grpc.http2.bdp_probe", 0)]


def env_options(pairing) -> dict:
    """grpc.aio's side (client or server) with BDP probing off: fixed 64 KiB stream windows."""
    return {"channel_options": None if pairing.client.is_ours else GRPC_NO_BDP,
            "server_options": None if pairing.server.is_ours else GRPC_NO_BDP}


def message(i: int) -> bytes:
    return bytes([i % 256]) * SIZE


class Progress:
    """What the paused streams did: messages written per stream, handlers entered and left."""

    def __init__(self):
        self.writes = [0] * N_STREAMS
        self.entered = 0
        self.finished = 0
        self.release = asyncio.Event()
        self.cancelling = False  # set at teardown, when the client cancels the paused calls


def handlers(progress: Progress):
    async def echo(request, context):
        return request

    async def firehose(request, context):
        k = int(request)
        progress.entered += 1
        try:
            for i in range(MESSAGES):
                await context.write(message(i))
                progress.writes[k] += 1
        except Exception:  # noqa: BLE001
            if progress.cancelling:
                return  # the test cancelled this call; grpc.aio would log the failed write
            raise
        progress.finished += 1

    async def stalled(request_iterator, context):
        # Never reads: the request messages pile up against this stream's window only.
        progress.entered += 1
        await progress.release.wait()
        progress.finished += 1
        return b"released"

    return {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "Firehose": grpc.unary_stream_rpc_method_handler(firehose),
        "Stalled": grpc.stream_unary_rpc_method_handler(stalled),
    }


async def settled(counter, what: str) -> int:
    """Waits until counter() has not changed for SETTLE_S (bounded by SETTLE_LIMIT_S)."""
    deadline = time.monotonic() + SETTLE_LIMIT_S
    last, since = counter(), time.monotonic()
    while time.monotonic() - since < SETTLE_S:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} still moving after {SETTLE_LIMIT_S} s ({counter()})")
        await asyncio.sleep(0.05)
        now = counter()
        if now != last:
            last, since = now, time.monotonic()
    return last


async def unary_calls_succeed(env, pairing, what: str) -> list[float]:
    """UNARY_CALLS echo calls on the channel, one after another, each within UNARY_TIMEOUT."""
    echo = env.uu("Echo")
    took = []
    for i in range(UNARY_CALLS):
        request = b"ping %d" % i
        began = time.monotonic()
        try:
            reply = await echo(request, timeout=UNARY_TIMEOUT)
        except pairing.client.AioRpcError as error:
            raise AssertionError(
                f"unary call {i} on the channel with {what} failed with {code_name(error.code())} "
                f"after {time.monotonic() - began:.2f} s ({error.details()!r}): the paused "
                f"streams stall the whole connection") from None
        took.append(time.monotonic() - began)
        assert reply == request
    return took


async def first_messages(calls) -> list:
    """The first message of every call, waiting at most SETTLE_LIMIT_S."""
    reads = [asyncio.ensure_future(call.read()) for call in calls]
    _, pending = await asyncio.wait(reads, timeout=SETTLE_LIMIT_S)
    for read in pending:
        read.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    assert not pending, (
        f"{len(pending)} of {len(calls)} server streams got no first message within "
        f"{SETTLE_LIMIT_S} s: the streams already paused hold the whole connection's window")
    return [read.result() for read in reads]


async def cancel_all(progress, calls, tasks=()):
    progress.cancelling = True
    for task in tasks:
        task.cancel()
    for call in calls:
        call.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_paused_client_reads_do_not_stall_unary_calls(pairing):
    progress = Progress()
    check_memory = pairing.client.is_ours and pairing.server.is_ours
    async with pairing.env(handlers(progress), **env_options(pairing)) as env:
        for _ in range(5):  # connection up, allocator warm
            await unary_calls_succeed(env, pairing, "no streams yet")
        baseline = rss_bytes()
        calls = [env.us("Firehose")(b"%d" % k) for k in range(N_STREAMS)]
        try:
            assert all(m == message(0) for m in await first_messages(calls))
            # Now nobody reads: each server writes until its stream's window is full.
            total = await settled(lambda: sum(progress.writes), "the servers' writes")
            peak = rss_bytes()
            assert progress.entered == N_STREAMS
            took = await unary_calls_succeed(env, pairing, f"{N_STREAMS} paused server streams")
            peak = max(peak, rss_bytes())
            # The streams really were paused all along: no server got to its last message.
            assert progress.finished == 0 and sum(progress.writes) < N_STREAMS * MESSAGES, (
                f"the servers wrote {sum(progress.writes)} of {N_STREAMS * MESSAGES} messages "
                f"to clients that stopped reading")
            if check_memory:
                assert max(progress.writes) * SIZE <= STREAM_WINDOW + INBOX + 8 * SIZE, (
                    f"a server ran {max(progress.writes)} messages ahead of a paused reader")
                growth = peak - baseline
                assert growth < MEMORY_BOUND, (
                    f"{N_STREAMS} paused streams ({total} messages written) grew this process "
                    f"by {growth / MiB:.1f} MiB; bound {MEMORY_BOUND / MiB:.1f} MiB")
            assert max(took) < UNARY_TIMEOUT
        finally:
            await cancel_all(progress, calls)


async def test_paused_server_reads_do_not_stall_unary_calls(pairing):
    progress = Progress()
    check_memory = pairing.client.is_ours and pairing.server.is_ours
    written = [0] * N_STREAMS

    async def writer(call, k):
        for i in range(MESSAGES):
            await call.write(message(i))
            written[k] += 1
        await call.done_writing()

    async with pairing.env(handlers(progress), **env_options(pairing)) as env:
        for _ in range(5):
            await unary_calls_succeed(env, pairing, "no streams yet")
        baseline = rss_bytes()
        calls = [env.su("Stalled")() for _ in range(N_STREAMS)]
        tasks = [asyncio.ensure_future(writer(call, k)) for k, call in enumerate(calls)]
        try:
            # Each client writes until flow control holds it; no handler reads a byte.
            total = await settled(lambda: sum(written), "the clients' writes")
            peak = rss_bytes()
            assert progress.entered == N_STREAMS, (
                f"{progress.entered} of {N_STREAMS} handlers started")
            took = await unary_calls_succeed(env, pairing, f"{N_STREAMS} paused client streams")
            peak = max(peak, rss_bytes())
            assert not any(task.done() for task in tasks), (
                "a client finished writing 4 MiB to a handler that never reads: "
                + repr([t for t in tasks if t.done()][:1]))
            assert progress.finished == 0
            if pairing.client.is_ours or pairing.server.is_ours:
                # (grpc.aio's client against its own server completes no write to a handler
                # that does not read; only grpc-grpc, the tests' self-check, sees that.)
                assert total > 0, "no client write completed: nothing is held by the streams"
            if check_memory:
                assert max(written) * SIZE <= STREAM_WINDOW + INBOX + 8 * SIZE, (
                    f"a client ran {max(written)} messages ahead of a paused handler")
                growth = peak - baseline
                assert growth < MEMORY_BOUND, (
                    f"{N_STREAMS} paused streams ({total} messages written) grew this process "
                    f"by {growth / MiB:.1f} MiB; bound {MEMORY_BOUND / MiB:.1f} MiB")
            assert max(took) < UNARY_TIMEOUT
        finally:
            await cancel_all(progress, calls, tasks)
            progress.release.set()
