"""Our blocking server (turbogrpc.server) against asyncio clients — grpc.aio's and ours — for
every shape, errors, metadata and deadlines: the ours↔grpc.aio pairing of the blocking API."""

from __future__ import annotations

import asyncio
import importlib

import grpc
import pytest

from sync.servers import Service, serve


@pytest.fixture(params=["grpc.aio", "turbogrpc.aio"])
def aio(request):
    return importlib.import_module(request.param)


def test_an_asyncio_client_against_our_blocking_server(aio):
    async def calls(port):
        async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary("/test.Sync/Echo")(b"hi", timeout=5)
            assert await call == b"hi"
            assert ("trailing", "t") in tuple(await call.trailing_metadata())
            count = channel.unary_stream("/test.Sync/Count")(b"3", timeout=5)
            assert [m async for m in count] == [b"0", b"1", b"2"]
            joined = await channel.stream_unary("/test.Sync/Join")(iter([b"a", b"b"]), timeout=5)
            assert joined == b"a|b"
            upper = channel.stream_stream("/test.Sync/Upper")(iter([b"x", b"y"]), timeout=5)
            assert [m async for m in upper] == [b"X", b"Y"]
            with pytest.raises(grpc.RpcError) as info:
                await channel.unary_unary("/test.Sync/Fail")(b"it", timeout=5)
            assert info.value.code() is grpc.StatusCode.NOT_FOUND
            assert info.value.details() == "no such thing: it"
            with pytest.raises(grpc.RpcError) as info:
                await channel.unary_unary("/test.Sync/Hold")(b"x", timeout=0.3)
            assert info.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED

    service = Service()
    with serve("ours-sync", service) as port:
        asyncio.run(asyncio.wait_for(calls(port), 30))
        service.release.set()
