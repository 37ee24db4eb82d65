"""The blocking API and the asyncio API in one process, on one engine: async servers whose
handlers make blocking calls, and blocking threads beside event loops making async calls —
every call correct, nothing deadlocked. Everything is turbogrpc on both ends.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent import futures

import grpc

import turbogrpc
from turbogrpc import aio

from sync.servers import Service, serve

SOAK_SECONDS = 10.0


def _echo_target(port: int) -> str:
    return f"127.0.0.1:{port}"


def test_async_server_handlers_call_a_blocking_stub_in_to_thread_and_from_def_handlers():
    """A backend (our blocking-API client's peer) and a front async server whose handlers call
    the backend with a blocking stub: one coroutine handler via asyncio.to_thread, one plain
    def handler run in the server's thread pool."""
    with serve("ours-aio", Service()) as backend_port:
        backend = turbogrpc.insecure_channel(_echo_target(backend_port))
        backend_echo = backend.unary_unary("/test.Sync/Echo")

        async def via_to_thread(request, context):
            return await asyncio.to_thread(backend_echo, b"t:" + request, timeout=5)

        def from_def_handler(request, context):
            return backend_echo(b"d:" + request, timeout=5)

        async def main():
            server = aio.server(futures.ThreadPoolExecutor(4))
            server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("front.F", {
                "ToThread": grpc.unary_unary_rpc_method_handler(via_to_thread),
                "Def": grpc.unary_unary_rpc_method_handler(from_def_handler)}),))
            port = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            try:
                async with aio.insecure_channel(_echo_target(port)) as channel:
                    to_thread = channel.unary_unary("/front.F/ToThread")
                    from_def = channel.unary_unary("/front.F/Def")
                    replies = await asyncio.wait_for(asyncio.gather(
                        *(to_thread(str(i).encode()) for i in range(20)),
                        *(from_def(str(i).encode()) for i in range(20))), 20)
            finally:
                await server.stop(None)
            return replies

        try:
            replies = asyncio.run(main())
        finally:
            backend.close()
    assert replies == [f"t:{i}".encode() for i in range(20)] + [f"d:{i}".encode() for i in range(20)]


def test_blocking_threads_and_event_loops_share_the_engine_without_deadlock():
    """8 threads making blocking calls (unary, futures, streams) and 2 event loops in threads
    of their own making async calls, for 10 s against one server: every answer is the one
    asked for, and every worker is still making progress at the end."""
    stop_at = time.monotonic() + SOAK_SECONDS
    counts: dict[str, int] = {}
    errors: list[str] = []

    def blocking_worker(name: str, channel: turbogrpc.Channel) -> None:
        echo = channel.unary_unary("/test.Sync/Echo")
        count = channel.unary_stream("/test.Sync/Count")
        done = 0
        try:
            while time.monotonic() < stop_at:
                body = f"{name}-{done}".encode()
                if done % 3 == 0:
                    assert echo(body, timeout=5) == body
                elif done % 3 == 1:
                    assert echo.future(body, timeout=5).result(5) == body
                else:
                    assert list(count(b"3", timeout=5)) == [b"0", b"1", b"2"]
                done += 1
        except Exception as exc:  # reported below
            errors.append(f"{name}: {exc!r}")
        counts[name] = done

    def loop_worker(name: str, target: str) -> None:
        async def run() -> int:
            done = 0
            async with aio.insecure_channel(target) as channel:
                echo = channel.unary_unary("/test.Sync/Echo")
                while time.monotonic() < stop_at:
                    bodies = [f"{name}-{done}-{i}".encode() for i in range(10)]
                    replies = await asyncio.wait_for(asyncio.gather(*(echo(b) for b in bodies)), 5)
                    assert replies == bodies
                    done += len(bodies)
            return done

        try:
            counts[name] = asyncio.run(run())
        except Exception as exc:
            errors.append(f"{name}: {exc!r}")

    with serve("ours-aio", Service()) as port:
        target = _echo_target(port)
        with turbogrpc.insecure_channel(target) as shared:
            workers = [threading.Thread(target=blocking_worker, args=(f"b{i}", shared)) for i in range(8)]
            workers += [threading.Thread(target=loop_worker, args=(f"l{i}", target)) for i in range(2)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(SOAK_SECONDS + 30)
            assert not any(worker.is_alive() for worker in workers), "a worker is stuck"
    assert not errors, errors[:5]
    assert len(counts) == 10 and all(n > 10 for n in counts.values()), counts


def test_a_blocking_and_an_async_channel_to_one_target_have_connections_of_their_own():
    """Documented choice (docs/architecture.md, "The blocking API"): like two grpcio channels,
    they do not share connections; each channel reuses its own across calls."""
    peers: list[str] = []

    def peer(request, context):
        peers.append(context.peer())
        return request

    class PeerService(Service):
        def handlers(self):
            return grpc.method_handlers_generic_handler("test.Sync", {
                "Echo": grpc.unary_unary_rpc_method_handler(peer)})

    with serve("ours-aio", PeerService()) as port:
        with turbogrpc.insecure_channel(_echo_target(port)) as blocking:
            blocking.unary_unary("/test.Sync/Echo")(b"1", timeout=5)
            blocking.unary_unary("/test.Sync/Echo")(b"2", timeout=5)

            async def via_aio():
                async with aio.insecure_channel(_echo_target(port)) as channel:
                    await channel.unary_unary("/test.Sync/Echo")(b"3", timeout=5)
                    await channel.unary_unary("/test.Sync/Echo")(b"4", timeout=5)

            asyncio.run(via_aio())
    assert len(peers) == 4
    assert peers[0] == peers[1] and peers[2] == peers[3] and peers[0] != peers[2], peers


def test_a_blocking_server_handler_runs_asyncio_with_an_aio_channel():
    """Our blocking server's handler (in its pool) runs asyncio.run() with a turbogrpc.aio
    channel to a backend: a loop per handler call, beside the server's own threads."""
    with serve("ours-aio", Service()) as backend_port:
        def relay(request, context):
            async def call_backend():
                async with aio.insecure_channel(_echo_target(backend_port)) as channel:
                    return await channel.unary_unary("/test.Sync/Echo")(b"a:" + request, timeout=5)

            return asyncio.run(call_backend())

        server = turbogrpc.server(futures.ThreadPoolExecutor(4))
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("front.F", {
            "Relay": grpc.unary_unary_rpc_method_handler(relay)}),))
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        try:
            with turbogrpc.insecure_channel(_echo_target(port)) as channel:
                relay_stub = channel.unary_unary("/front.F/Relay")
                calls = [relay_stub.future(str(i).encode(), timeout=10) for i in range(12)]
                replies = [call.result(15) for call in calls]
        finally:
            server.stop(None).wait(10)
    assert replies == [f"a:{i}".encode() for i in range(12)]
