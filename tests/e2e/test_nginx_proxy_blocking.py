"""Our blocking client (with grpcio's as its reference) through nginx's `grpc_pass` to two of
our servers (test_nginx_proxy.py has the setup and the asyncio clients): all four shapes with
metadata and errors, calls spread over both backends, a deadline, cancellation reaching the
backend, and no backend up (nginx's 502 error page is UNAVAILABLE)."""

from __future__ import annotations

import asyncio
import collections
import importlib
import queue
import time

import grpc
import pytest

from e2e.helpers import GRPC_ONLY, MiB, Pairing, code_name, free_port_refusing, md_pairs
from e2e.nginx_proxy import NginxProxy
from e2e.test_nginx_proxy import (DEADLINE, DETAILS, REQUEST_MD, SLEEP, TIMEOUT_ROUNDING,
                                  behind_nginx, check_initial, check_trailing, m, tagged)

BLOCKING_CLIENTS = ["grpc"] if GRPC_ONLY else ["turbogrpc", "grpc"]

# The backends run on the test's loop; the blocking client runs in a worker thread.

@pytest.fixture(params=BLOCKING_CLIENTS)
def blocking(request):
    return importlib.import_module(request.param)


def backend_pairing() -> Pairing:
    return Pairing("grpc-grpc" if GRPC_ONLY else "ours-ours")


def blocking_shapes(lib, target: str) -> collections.Counter:
    names = collections.Counter()
    with lib.insecure_channel(target) as channel:
        response, call = channel.unary_unary(m("Echo")).with_call(b"hi", metadata=REQUEST_MD,
                                                                   timeout=5)
        name, rest = tagged(response)
        names[name] += 1
        assert rest == b"hi" and code_name(call.code()) == "OK"
        check_initial(call.initial_metadata(), name)
        check_trailing(call.trailing_metadata(), name)

        call = channel.unary_stream(m("Gen"))(b"3", metadata=REQUEST_MD, timeout=5)
        messages = list(call)
        name, _ = tagged(messages[0])
        names[name] += 1
        assert messages == [b"%s:%d" % (name.encode(), i) for i in range(3)]
        check_initial(call.initial_metadata(), name)
        check_trailing(call.trailing_metadata(), name)

        response, call = channel.stream_unary(m("Collect")).with_call(
            iter([b"a", b"b"]), metadata=REQUEST_MD, timeout=5)
        name, rest = tagged(response)
        names[name] += 1
        assert rest == b"a|b"
        check_initial(call.initial_metadata(), name)
        check_trailing(call.trailing_metadata(), name)

        requests: queue.Queue = queue.Queue()
        call = channel.stream_stream(m("Bidi"))(iter(requests.get, None), metadata=REQUEST_MD,
                                                timeout=5)
        replies = []
        for word in (b"x", b"y"):  # ping-pong
            requests.put(word)
            replies.append(next(call))
        requests.put(None)
        assert list(call) == []
        name, _ = tagged(replies[0])
        names[name] += 1
        assert replies == [name.encode() + b":X", name.encode() + b":Y"]
        check_initial(call.initial_metadata(), name)
        check_trailing(call.trailing_metadata(), name)

        with pytest.raises(grpc.RpcError) as info:
            channel.unary_unary(m("Fail"))(b"it", timeout=5)
        assert code_name(info.value.code()) == "NOT_FOUND"
        assert info.value.details() == DETAILS
        assert [v for k, v in md_pairs(info.value.trailing_metadata()) if k == "why"] in (
            ["A"], ["B"])
        call = channel.unary_stream(m("FailMidStream"))(b"", timeout=5)
        got = []
        with pytest.raises(grpc.RpcError) as info:
            for message in call:
                got.append(message)
        assert len(got) == 2 and code_name(info.value.code()) == "NOT_FOUND"
        assert info.value.details() == DETAILS

        big = bytes(range(256)) * (MiB // 256)
        assert tagged(channel.unary_unary(m("Echo"))(big, timeout=10))[1] == big
        assert [len(x) for x in channel.unary_stream(m("BigGen"))(b"2", timeout=10)] == [MiB] * 2

        for i in range(6):
            names[tagged(channel.unary_unary(m("Echo"))(b"%d" % i, timeout=5))[0]] += 1
    return names


async def test_blocking_client_shapes_metadata_errors_and_spread(blocking, tmp_path):
    async with behind_nginx(backend_pairing(), tmp_path) as (proxy, _):
        names = await asyncio.to_thread(blocking_shapes, blocking, proxy.target)
    assert names["A"] >= 3 and names["B"] >= 3, names


def blocking_deadline(lib, target: str) -> float:
    with lib.insecure_channel(target) as channel:
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            channel.unary_unary(m("Sleep"))(b"", timeout=DEADLINE)
        elapsed = time.monotonic() - started
        assert code_name(info.value.code()) == "DEADLINE_EXCEEDED", info.value
        return elapsed


async def test_blocking_client_deadline(blocking, tmp_path):
    async with behind_nginx(backend_pairing(), tmp_path) as (proxy, backends):
        elapsed = await asyncio.to_thread(blocking_deadline, blocking, proxy.target)
        assert DEADLINE * 0.8 <= elapsed < DEADLINE + 0.7, elapsed
        remaining = backends.time_remaining
        assert 0 < remaining <= DEADLINE + TIMEOUT_ROUNDING, remaining
        await backends.assert_handler_cancelled(within=SLEEP / 2)


def blocking_cancel(lib, target: str):
    with lib.insecure_channel(target) as channel:
        call = channel.unary_stream(m("Endless"))(b"", timeout=10)
        for _ in range(3):
            tagged(next(call))
        assert call.cancel()
        with pytest.raises(grpc.RpcError) as info:
            for _ in range(10000):
                next(call)
        assert code_name(info.value.code()) == "CANCELLED"
        assert code_name(call.code()) == "CANCELLED"


async def test_blocking_client_cancel_cancels_the_backend(blocking, tmp_path):
    async with behind_nginx(backend_pairing(), tmp_path) as (proxy, backends):
        await asyncio.to_thread(blocking_cancel, blocking, proxy.target)
        await backends.assert_handler_cancelled()


def blocking_no_backend(lib, target: str) -> None:
    with lib.insecure_channel(target) as channel:
        with pytest.raises(grpc.RpcError) as info:
            channel.unary_unary(m("Echo"))(b"x", timeout=5)
        assert code_name(info.value.code()) == "UNAVAILABLE", (info.value.code(),
                                                               info.value.details())
        assert "502" in info.value.details(), info.value.details()


@pytest.mark.parametrize("client_module", ["turbogrpc", "grpc"] if not GRPC_ONLY else ["grpc"])
async def test_blocking_client_no_backend_up_is_unavailable(client_module, tmp_path):
    refusing = [free_port_refusing(), free_port_refusing()]
    proxy = NginxProxy(tmp_path, [s.getsockname()[1] for s in refusing])
    await asyncio.to_thread(proxy.start)
    try:
        await asyncio.to_thread(blocking_no_backend, importlib.import_module(client_module),
                                proxy.target)
    finally:
        await asyncio.to_thread(proxy.stop)
        for sock in refusing:
            sock.close()
