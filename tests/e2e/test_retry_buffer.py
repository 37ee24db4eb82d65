"""The retry buffers (gRPC proposal A6): a call whose requests outgrow what may be kept for
replay commits and is not retried — over its own limit (grpc.per_rpc_retry_buffer_size, every
pairing: grpc.aio's client validates the expectation) or over its channel's, shared by all its
calls with a retry policy (grpc.retry_buffer_size: grpc-js's option, which grpcio ignores, so
our client only)."""

from __future__ import annotations

import asyncio
import time

import grpc

from e2e.helpers import ours_only
from e2e.test_retries import call_code, retry_config

KIB = 1024


class Receiver:
    """Stream-unary "Take": counts the bytes each call (named by the first byte of its first
    message) has delivered to its current attempt, and fails the first attempt of every call
    with UNAVAILABLE once its request stream ended."""

    def __init__(self):
        self.received: dict[bytes, int] = {}
        self.attempts: dict[bytes, int] = {}

    async def take(self, request_iterator, context):
        key, total = b"?", 0
        async for part in request_iterator:
            key = part[:1] if total == 0 else key
            total += len(part)
            self.received[key] = total
        self.attempts[key] = self.attempts.get(key, 0) + 1
        if self.attempts[key] == 1:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "first attempts fail")
        return str(total).encode()

    def handlers(self):
        return {"Take": grpc.stream_unary_rpc_method_handler(self.take)}

    async def until_received(self, key: bytes, size: int):
        deadline = time.monotonic() + 5
        while self.received.get(key) != size:
            assert time.monotonic() < deadline, f"the server got {self.received.get(key)} of {key!r}"
            await asyncio.sleep(0.005)


async def send(env, key: bytes, sizes, done=True):
    call = env.su("Take")(timeout=10)
    for size in sizes:
        await call.write(key * size)
    if done:
        await call.done_writing()
    return call


async def a_big_stream_and_a_small_one(pairing, options):
    """100 KiB in ten messages, then 1 KiB: the first over a 64 KiB buffer, the second not."""
    receiver = Receiver()
    async with pairing.env(receiver.handlers(), channel_options=options) as env:
        big = await send(env, b"s", [10 * KIB] * 10)
        assert await call_code(pairing, big) == "UNAVAILABLE"
        small = await send(env, b"t", [KIB])
        assert await small == b"1024"
    assert receiver.attempts == {b"s": 1, b"t": 2}


async def test_a_request_stream_over_its_own_buffer_is_not_retried(pairing):
    options = retry_config() + [("grpc.per_rpc_retry_buffer_size", 64 * KIB)]
    await a_big_stream_and_a_small_one(pairing, options)


@ours_only
async def test_a_request_stream_over_the_channels_buffer_is_not_retried(our_client_pairing):
    options = retry_config() + [("grpc.retry_buffer_size", 64 * KIB),
                                ("grpc.per_rpc_retry_buffer_size", 1024 * KIB)]
    await a_big_stream_and_a_small_one(our_client_pairing, options)


@ours_only
async def test_calls_share_the_channels_buffer_until_they_finish(our_client_pairing):
    pairing, receiver = our_client_pairing, Receiver()
    options = retry_config() + [("grpc.retry_buffer_size", 64 * KIB),
                                ("grpc.per_rpc_retry_buffer_size", 1024 * KIB)]
    async with pairing.env(receiver.handlers(), channel_options=options) as env:
        # Each keeps 40 KiB once sent: the first fits, the second would make 80 KiB of 64.
        first = await send(env, b"a", [40 * KIB], done=False)
        await receiver.until_received(b"a", 40 * KIB)
        second = await send(env, b"b", [40 * KIB], done=False)
        await receiver.until_received(b"b", 40 * KIB)
        await first.done_writing()
        await second.done_writing()
        assert await first == b"40960"
        assert await call_code(pairing, second) == "UNAVAILABLE"
        # Both finished: the whole buffer is free again.
        later = await send(env, b"c", [60 * KIB])
        assert await later == b"61440"
    assert receiver.attempts == {b"a": 2, b"b": 1, b"c": 2}
