"""turbogrpc.health beyond what grpcio-health-checking does: List, HealthStub, set() from any
thread and without awaiting, argument checks, registration on servers without registered
method handlers, watcher bookkeeping. Our servicer on both servers, called by both clients
(ours_only: grpc-only mode has no turbogrpc.health)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from e2e.helpers import GRPC_ONLY, code_name, eventually, ours_only, rpc_error

if not GRPC_ONLY:
    from turbogrpc import UsageError, health
    from turbogrpc.health import HealthCheckRequest, HealthCheckResponse

READ_TIMEOUT = 5.0


def register(servicer):
    return lambda server: health.add_HealthServicer_to_server(servicer, server)


class GenericOnly:
    """A server seen through add_generic_rpc_handlers alone (as an older server would be)."""

    def __init__(self, server):
        self.server = server
        self.added = []

    def add_generic_rpc_handlers(self, handlers):
        self.added.extend(handlers)
        self.server.add_generic_rpc_handlers(handlers)


async def next_status(call) -> int:
    return (await asyncio.wait_for(call.read(), READ_TIMEOUT)).status


@ours_only
async def test_list_every_status(pairing):
    servicer = health.HealthServicer()
    servicer.set("a", HealthCheckResponse.NOT_SERVING)
    servicer.set("b", HealthCheckResponse.SERVING)
    async with pairing.env(register(servicer)) as env:
        reply = await health.HealthStub(env.channel).List(health.HealthListRequest(),
                                                          timeout=READ_TIMEOUT)
        assert {name: s.status for name, s in reply.statuses.items()} == {
            "": HealthCheckResponse.SERVING, "a": HealthCheckResponse.NOT_SERVING,
            "b": HealthCheckResponse.SERVING}


@ours_only
async def test_list_beyond_the_limit_is_resource_exhausted(pairing):
    servicer = health.HealthServicer()
    for i in range(health.MAX_LIST_SERVICES):  # with "", one more than the limit
        servicer.set(f"svc{i}", HealthCheckResponse.SERVING)
    async with pairing.env(register(servicer)) as env:
        err = await rpc_error(pairing, health.HealthStub(env.channel).List(
            health.HealthListRequest()), "RESOURCE_EXHAUSTED")
        assert err.details() == "server health list exceeds maximum capacity: 100"


@ours_only
async def test_stub_check_and_watch(pairing):
    servicer = health.HealthServicer()
    async with pairing.env(register(servicer)) as env:
        stub = health.HealthStub(env.channel)
        reply = await stub.Check(HealthCheckRequest(service=""), timeout=READ_TIMEOUT)
        assert isinstance(reply, HealthCheckResponse)
        assert reply.status == HealthCheckResponse.SERVING
        err = await rpc_error(pairing, stub.Check(HealthCheckRequest(service="x")), "NOT_FOUND")
        assert err.details() == "unknown service"
        call = stub.Watch(HealthCheckRequest(service="x"))
        assert await next_status(call) == HealthCheckResponse.SERVICE_UNKNOWN
        servicer.set("x", HealthCheckResponse.SERVING)  # not awaited: applied at once
        assert await next_status(call) == HealthCheckResponse.SERVING
        call.cancel()


@ours_only
async def test_set_from_another_thread_wakes_watchers(pairing):
    servicer = health.HealthServicer()
    async with pairing.env(register(servicer)) as env:
        stub = health.HealthStub(env.channel)
        call = stub.Watch(HealthCheckRequest(service="threaded"))
        assert await next_status(call) == HealthCheckResponse.SERVICE_UNKNOWN
        for status in (HealthCheckResponse.SERVING, HealthCheckResponse.NOT_SERVING):
            thread = threading.Thread(target=servicer.set, args=("threaded", status))
            thread.start()
            thread.join(READ_TIMEOUT)
            assert await next_status(call) == status
        thread = threading.Thread(target=servicer.enter_graceful_shutdown)
        servicer.set("threaded", HealthCheckResponse.SERVING)
        assert await next_status(call) == HealthCheckResponse.SERVING
        thread.start()
        thread.join(READ_TIMEOUT)
        assert await next_status(call) == HealthCheckResponse.NOT_SERVING
        call.cancel()


@ours_only
async def test_watchers_are_forgotten_when_their_calls_end(pairing):
    servicer = health.HealthServicer()
    async with pairing.env(register(servicer)) as env:
        stub = health.HealthStub(env.channel)
        calls = [stub.Watch(HealthCheckRequest(service=s)) for s in ("a", "a", "b")]
        for call in calls:
            await next_status(call)
        assert {k: len(v) for k, v in servicer._watchers.items()} == {"a": 2, "b": 1}
        calls[0].cancel()
        await eventually(lambda: len(servicer._watchers.get("a", ())) == 1, READ_TIMEOUT,
                         "the cancelled watcher removed")
        calls[1].cancel()
        calls[2].cancel()
        await eventually(lambda: not servicer._watchers, READ_TIMEOUT, "no watcher left")
        for call in calls:
            assert code_name(await call.code()) == "CANCELLED"


@ours_only
async def test_registered_through_generic_handlers(pairing):
    """A server without add_registered_method_handlers gets a generic handler."""
    servicer = health.HealthServicer()
    wrappers = []

    def register_generic(server):
        wrappers.append(GenericOnly(server))
        health.add_HealthServicer_to_server(servicer, wrappers[0])

    async with pairing.env(register_generic) as env:
        [generic] = wrappers[0].added
        assert generic.service_name() == health.SERVICE_NAME
        stub = health.HealthStub(env.channel)
        assert (await stub.Check(HealthCheckRequest(), timeout=READ_TIMEOUT)).status == (
            HealthCheckResponse.SERVING)
        assert len((await stub.List(health.HealthListRequest())).statuses) == 1
        await rpc_error(pairing, env.uu("Nope", service=health.SERVICE_NAME)(b""),
                        "UNIMPLEMENTED")


@ours_only
async def test_a_servicer_without_list(pairing):
    class CheckOnly:
        async def Check(self, request, context):
            return HealthCheckResponse(status=HealthCheckResponse.NOT_SERVING)

        async def Watch(self, request, context):
            yield HealthCheckResponse(status=HealthCheckResponse.NOT_SERVING)

    async with pairing.env(register(CheckOnly())) as env:
        stub = health.HealthStub(env.channel)
        assert (await stub.Check(HealthCheckRequest())).status == HealthCheckResponse.NOT_SERVING
        assert [r.status async for r in stub.Watch(HealthCheckRequest())] == [
            HealthCheckResponse.NOT_SERVING]
        await rpc_error(pairing, stub.List(health.HealthListRequest()), "UNIMPLEMENTED")


@ours_only
def test_set_checks_its_arguments():
    servicer = health.HealthServicer()
    for service, status in ((b"a", 1), (None, 1), ("a", 4), ("a", -1), ("a", True),
                            ("a", "SERVING")):
        with pytest.raises(UsageError):
            servicer.set(service, status)
    assert servicer._statuses == {"": HealthCheckResponse.SERVING}


@ours_only
def test_set_and_shutdown_without_a_loop_and_awaitable():
    servicer = health.HealthServicer()
    applied = servicer.set("a", HealthCheckResponse.NOT_SERVING)
    assert repr(applied) == "<applied>"
    # Awaiting the result (grpcio's asyncio servicer's idiom) returns at once.
    assert asyncio.run(_await(applied)) is None
    assert servicer._statuses["a"] == HealthCheckResponse.NOT_SERVING
    servicer.enter_graceful_shutdown()
    assert asyncio.run(_await(servicer.enter_graceful_shutdown())) is None
    assert set(servicer._statuses.values()) == {HealthCheckResponse.NOT_SERVING}


async def _await(awaitable):
    return await awaitable


@ours_only
def test_waking_a_watcher_whose_loop_is_closed_is_harmless():
    loop = asyncio.new_event_loop()
    watcher = loop.run_until_complete(_make_watcher())
    loop.close()
    watcher.wake()  # no loop running here, and its loop is gone: nothing to do, no error


async def _make_watcher():
    from turbogrpc.health._servicer import _Watcher  # noqa: PLC0415

    return _Watcher(asyncio.get_running_loop())
