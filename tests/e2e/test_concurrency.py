"""Concurrency: 1,000 concurrent unary calls on one channel; many concurrent streams; two asyncio
loops in two threads, each with its own channel, calling the same server at once."""

from __future__ import annotations

import asyncio
import threading

import grpc
import pytest

from _loops import TEST_TIMEOUT, run_in_fresh_loop
from e2e.helpers import code_name


def handlers(rendezvous=None):
    async def echo(request, context):
        return request

    async def delayed_echo(request, context):
        await asyncio.sleep(0.001 * (int(request) % 7))
        return b"r" + request

    async def bidi_echo(request_iterator, context):
        async for message in request_iterator:
            yield message

    async def meet(request, context):
        # Returns only once two calls are in here at the same time.
        rendezvous.append(request)
        while len(rendezvous) < 2:
            await asyncio.sleep(0.005)
        return b"met"

    return {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "DelayedEcho": grpc.unary_unary_rpc_method_handler(delayed_echo),
        "BidiEcho": grpc.stream_stream_rpc_method_handler(bidi_echo),
        "Meet": grpc.unary_unary_rpc_method_handler(meet),
    }


@pytest.mark.body_timeout(60)  # through grpc.aio on the debug-mode stock loop under coverage: 11 s
async def test_thousand_concurrent_unary_calls(pairing):
    async with pairing.env(handlers()) as env:
        mc = env.uu("DelayedEcho")
        requests = [b"%d" % i for i in range(1000)]
        responses = await asyncio.gather(*(mc(r) for r in requests))
        assert responses == [b"r" + r for r in requests]


async def test_concurrent_streams_on_one_channel(pairing):
    async with pairing.env(handlers()) as env:
        async def ping_pong(k: int):
            call = env.ss("BidiEcho")()
            for i in range(20):
                message = b"%d:%d" % (k, i)
                await call.write(message)
                assert await call.read() == message
            await call.done_writing()
            assert await call.read() is pairing.client.EOF
            return code_name(await call.code())

        assert await asyncio.gather(*(ping_pong(k) for k in range(50))) == ["OK"] * 50


async def test_two_loops_in_two_threads(pairing, loop_kind):
    rendezvous = []
    async with pairing.serve(handlers(rendezvous)) as srv:
        start = threading.Barrier(2, timeout=TEST_TIMEOUT * 0.3)

        async def client(thread_no: int):
            async with pairing.connect(srv.target) as channel:
                echo = channel.unary_unary("/test.Svc/Echo")
                assert await echo(b"warm") == b"warm"
                start.wait()  # both loops are up and connected
                assert await channel.unary_unary("/test.Svc/Meet")(b"%d" % thread_no) == b"met"
                requests = [b"%d-%d" % (thread_no, i) for i in range(200)]
                assert await asyncio.gather(*(echo(r) for r in requests)) == requests
                call = channel.stream_stream("/test.Svc/BidiEcho")()
                for i in range(10):
                    await call.write(b"%d" % i)
                    assert await call.read() == b"%d" % i
                await call.done_writing()
                assert code_name(await call.code()) == "OK"
            return thread_no

        def thread_main(thread_no: int):
            # fails (with its own hang report) before the test's timeout does
            return run_in_fresh_loop(loop_kind, client, thread_no, timeout=TEST_TIMEOUT * 0.6)

        results = await asyncio.gather(
            asyncio.to_thread(thread_main, 0), asyncio.to_thread(thread_main, 1))
        assert results == [0, 1]
        assert sorted(rendezvous) == [b"0", b"1"]
