"""Small lifecycle and misuse paths of our server and channel (argument and state errors,
close with grace, options given in odd forms), and the current task a handler sees."""

from __future__ import annotations

import asyncio
import os
import re
import time
import warnings

import e2e_echo_pb2 as pb
import grpc
import pytest

from e2e.helpers import (
    BIG_OPTIONS, SERVICE, MiB, eventually, ours_only, rpc_error, wait_for_event,
)
from e2e.test_options_paths import echo


# ---- misuse errors and small lifecycle paths of our server and channel -------------------------

@ours_only
async def test_server_argument_and_state_errors(ours_pairing):
    aio = ours_pairing.server.aio
    with pytest.raises(aio.UsageError, match="interceptors"):
        aio.server(interceptors=[object()])
    for bad in (0, -1):
        with pytest.raises(aio.UsageError, match="maximum_concurrent_rpcs"):
            aio.server(maximum_concurrent_rpcs=bad)
    server = aio.server()
    with pytest.raises(aio.UsageError, match="not a generic RPC handler"):
        server.add_generic_rpc_handlers([object()])
    with pytest.raises(aio.UsageError, match="server_credentials must be grpc server credentials"):
        server.add_secure_port("127.0.0.1:0", None)
    with pytest.raises(RuntimeError, match="Failed to bind"):
        server.add_insecure_port("256.1.1.1:0")
    port = server.add_insecure_port("127.0.0.1:0")
    assert port > 0
    assert "new" in repr(server)
    await server.start()
    assert "serving" in repr(server)
    with pytest.raises(aio.UsageError, match="before start"):
        server.add_insecure_port("127.0.0.1:0")
    with pytest.raises(aio.UsageError, match="only once"):
        await server.start()
    assert await server.wait_for_termination(timeout=0.05) is True  # timed out: still serving
    await server.stop(None)
    assert "stopped" in repr(server)
    assert await server.wait_for_termination(timeout=1) is False


@ours_only
async def test_server_stopped_before_start_releases_its_ports(ours_pairing):
    aio = ours_pairing.server.aio
    server = aio.server()
    port = server.add_insecure_port("127.0.0.1:0")
    await server.stop(None)
    assert await server.wait_for_termination(timeout=1) is False
    # the port is free again: another server can bind it
    again = aio.server()
    assert again.add_insecure_port(f"127.0.0.1:{port}") == port
    del again  # never started: its destructor closes the socket
    import gc
    gc.collect()
    third = aio.server()
    assert third.add_insecure_port(f"127.0.0.1:{port}") == port
    await third.stop(None)


@ours_only
async def test_server_handlers_argument_and_sync_handler_pool(ours_pairing):
    """aio.server(handlers=...) registers them; sync handlers run in the given pool."""
    import concurrent.futures
    import threading

    aio = ours_pairing.server.aio
    names = []

    def sync_echo(request, context):
        names.append(threading.current_thread().name)
        return request

    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="given-pool")
    try:
        server = aio.server(pool, handlers=[grpc.method_handlers_generic_handler(
            SERVICE, {"Sync": grpc.unary_unary_rpc_method_handler(sync_echo)})])
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert await channel.unary_unary(f"/{SERVICE}/Sync")(b"s", timeout=10) == b"s"
        await server.stop(None)
    finally:
        pool.shutdown(wait=True)
    assert names and names[0].startswith("given-pool")


@ours_only
async def test_channel_argument_and_state_errors(our_client_pairing):
    aio = our_client_pairing.client.aio
    with pytest.raises(aio.UsageError, match="interceptors"):
        aio.insecure_channel("localhost:1", interceptors=[object()])
    with pytest.raises(aio.UsageError, match="target must be a str"):
        aio.insecure_channel(b"localhost:1")
    channel = aio.insecure_channel("localhost:1")
    assert "localhost:1" in repr(channel)
    with pytest.raises(aio.UsageError, match="method must be a path"):
        channel.unary_unary("no-slash")
    with pytest.raises(aio.UsageError, match="method must be a path"):
        channel.stream_stream(42)
    assert channel.unary_stream(b"/bytes.S/M") is not None  # bytes paths are decoded
    assert channel.get_state() == aio.ChannelConnectivity.IDLE
    ready = asyncio.ensure_future(channel.channel_ready())  # nothing listens on port 1
    await asyncio.wait_for(channel.wait_for_state_change(aio.ChannelConnectivity.IDLE), 5)
    assert channel.get_state() in (aio.ChannelConnectivity.CONNECTING,
                                   aio.ChannelConnectivity.TRANSIENT_FAILURE)
    await asyncio.sleep(0.1)
    assert not ready.done()
    await channel.close()  # wakes channel_ready(), which then finds the channel closed
    with pytest.raises(aio.UsageError, match="closed"):
        await asyncio.wait_for(ready, 5)
    assert channel.get_state() == aio.ChannelConnectivity.SHUTDOWN
    with pytest.raises(aio.UsageError, match="closed"):
        await channel.channel_ready()
    with pytest.raises(aio.UsageError, match="closed"):
        await channel.unary_unary("/a.B/C")(b"")
    await channel.close()  # idempotent


@ours_only
async def test_channel_close_with_grace_lets_calls_finish_then_cancels(our_client_pairing):
    pairing = our_client_pairing
    release = asyncio.Event()

    async def slow(request, context):
        await release.wait()
        return request

    async def forever(request, context):
        yield b"first"
        await asyncio.sleep(30)

    handlers = {"Slow": grpc.unary_unary_rpc_method_handler(slow),
                "Forever": grpc.unary_stream_rpc_method_handler(forever)}
    async with pairing.serve(handlers) as srv:
        channel = pairing.client.channel(srv.target)
        slow_call = channel.unary_unary(f"/{SERVICE}/Slow")(b"s", timeout=10)
        stream = channel.unary_stream(f"/{SERVICE}/Forever")(b"", timeout=10)
        assert await stream.read() == b"first"
        assert channel.get_state() == pairing.client.aio.ChannelConnectivity.READY
        asyncio.get_running_loop().call_later(0.1, release.set)
        started = time.monotonic()
        await channel.close(grace=0.5)
        elapsed = time.monotonic() - started
        assert 0.4 < elapsed < 2.0, elapsed  # waited the grace for the stream
        assert await slow_call == b"s"  # ended within the grace
        with pytest.raises(asyncio.CancelledError):
            await stream.read()  # cancelled at the grace's end
        assert stream.cancelled()


async def test_options_given_as_dict_and_odd_values(pairing):
    """Options may be a dict (ours); negative lengths mean unlimited; options turbogrpc does not
    implement are ignored (they are grpcio's and must not break code written for it), with one
    UnsupportedOptionWarning per channel or server naming them (docs/options.md)."""
    options = {"grpc.max_receive_message_length": -1, "grpc.max_send_message_length": -1,
               "grpc.dscp": 10, "grpc.primary_user_agent": "ua-test"}
    if not pairing.client.is_ours:
        options = list(options.items())  # grpc.aio takes only a sequence
    server_options = [("grpc.max_receive_message_length", -1),
                      ("grpc.some_unknown_option", 1), ("grpc.max_concurrent_streams", 8)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with pairing.env({"Echo": grpc.unary_unary_rpc_method_handler(echo)},
                               server_options=server_options, channel_options=options) as env:
            big = b"x" * (5 * MiB)
            assert await env.uu("Echo")(big, timeout=20) == big
    expected = (["'grpc.dscp'"] if pairing.client.is_ours else []) + (
        ["'grpc.some_unknown_option'"] if pairing.server.is_ours else [])
    ignored = [str(w.message) for w in caught if w.category.__name__ == "UnsupportedOptionWarning"]
    assert sorted(re.findall(r"'grpc\.[a-z_]+'", " ".join(ignored))) == sorted(expected), ignored


@ours_only
@pytest.mark.parametrize("options, match", [
    ([("grpc.max_receive_message_length",)], "pairs"),
    ([42], "pairs"),
    ([("grpc.max_receive_message_length", "big")], "takes an int"),
    ([("grpc.max_receive_message_length", True)], "takes an int"),
    ([("grpc.default_authority", 5)], "takes a str"),
])
def test_bad_options_are_usage_errors(options, match):
    from turbogrpc import aio

    with pytest.raises(aio.UsageError, match=match):
        aio.insecure_channel("localhost:1", options=options)


@ours_only
def test_option_value_and_converters():
    from turbogrpc._core._options import channel_options, option_value, server_options

    assert option_value(None, "x") is None
    assert option_value({"x": 1}, "x") == 1
    assert option_value([("x", 1), ("y", 2), ("x", 3), "junk", ("z",)], "x") == 3
    assert channel_options(None) == {}
    assert channel_options({"grpc.default_authority": "a.example",
                            "grpc.max_send_message_length": -5}) == {
        "authority": "a.example", "max_send_message_length": -1}
    with pytest.warns(UserWarning, match="'grpc.unknown'"):
        assert server_options([("grpc.max_concurrent_streams", 4), ("grpc.unknown", 1)]) == {
            "max_concurrent_streams": 4}


# ---- handlers see a current task, also while they run inline (our eager first step) -----------

@pytest.mark.skipif(not hasattr(asyncio, "timeout"), reason="asyncio.timeout needs Python 3.11")
async def test_asyncio_timeout_inside_a_handler(pairing):
    """asyncio.timeout() takes the current task when entered (in our server: before the
    handler's first suspension, the inline step's stand-in) and cancels and uncancels it."""

    async def bounded(request, context):
        try:
            async with asyncio.timeout(0.05):
                await asyncio.sleep(5)
        except TimeoutError:
            pass
        else:
            return b"not timed out"
        await asyncio.sleep(0.01)  # still usable after the timeout: the cancel was undone
        return b"timed out, then went on"

    async with pairing.env({"Bounded": grpc.unary_unary_rpc_method_handler(bounded)}) as env:
        assert await env.uu("Bounded")(b"", timeout=10) == b"timed out, then went on"


async def test_current_task_in_a_handler(pairing):
    loop = asyncio.get_running_loop()
    seen = {}

    async def inspect_task(request, context):
        task = asyncio.current_task()
        seen["before"] = (task is not None, task.get_loop() is loop, task.done())
        await asyncio.sleep(0)
        task_after = asyncio.current_task()
        seen["after"] = (isinstance(task.get_name(), str), task.done(), task.cancelled(),
                         task_after.get_loop() is loop)
        return b"ok"

    async def cancel_self(request, context):
        asyncio.current_task().cancel()  # before the first suspension
        try:
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            seen["cancel_self"] = "CancelledError at the await"
            raise
        return b"not cancelled"

    handlers = {"Inspect": grpc.unary_unary_rpc_method_handler(inspect_task),
                "CancelSelf": grpc.unary_unary_rpc_method_handler(cancel_self)}
    async with pairing.env(handlers) as env:
        assert await env.uu("Inspect")(b"", timeout=10) == b"ok"
        assert seen == {"before": (True, True, False), "after": (True, False, False, True)}, seen
        if pairing.server.is_ours:  # grpc.aio's server never ends such a call (until deadline)
            started = time.monotonic()
            err = await rpc_error(pairing, env.uu("CancelSelf")(b"", timeout=10), "CANCELLED")
            assert time.monotonic() - started < 0.9, err.details()  # not after the 1 s sleep
            assert seen["cancel_self"] == "CancelledError at the await"
            stopping = time.monotonic()
            await env.server.stop(2.0)
            assert time.monotonic() - stopping < 0.5  # the call is not still counted as active
