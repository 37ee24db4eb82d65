"""grpc_health_probe (grpc-ecosystem/grpc-health-probe, pinned by scripts/install_grpc_tools.sh)
against our server and our HealthServicer (in grpc-only mode: grpc.aio's server and
grpcio-health-checking's servicer). Its exit codes: 0 SERVING, 4 answered but not SERVING,
3 the RPC failed (an unknown service: Check answers NOT_FOUND), 2 no connection."""

from __future__ import annotations

import pytest
from grpc_health.v1 import health_pb2

from e2e.helpers import free_port_refusing
from e2e.test_health import health_impl
from tools.cli import run, tool_paths

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVING_EXIT, RPC_FAILED_EXIT, NO_CONNECTION_EXIT, UNHEALTHY_EXIT = 0, 3, 2, 4


@pytest.fixture(scope="session")
def probe() -> str:
    return tool_paths()["GRPC_HEALTH_PROBE"]


def impl_for(pairing):
    return health_impl("ours" if pairing.server.is_ours else "grpcio")


async def run_probe(probe: str, target: str, service: str | None = None):
    argv = [probe, f"-addr={target}", "-connect-timeout=10s", "-rpc-timeout=10s"]
    if service is not None:
        argv.append(f"-service={service}")
    return await run(argv)


async def test_probe_exit_codes(ours_pairing, probe):
    impl = impl_for(ours_pairing)
    servicer = impl.servicer()
    await servicer.set("test.Up", SERVING)
    await servicer.set("test.Down", NOT_SERVING)
    async with ours_pairing.serve(impl.register(servicer)) as srv:
        for service, expected, says in (
                (None, SERVING_EXIT, "status: SERVING"),
                ("test.Up", SERVING_EXIT, "status: SERVING"),
                ("test.Down", UNHEALTHY_EXIT, "NOT_SERVING"),
                ("test.Unknown", RPC_FAILED_EXIT, "NotFound")):
            ran = await run_probe(probe, srv.target, service)
            assert ran.returncode == expected, ran
            assert says in ran.stdout + ran.stderr, ran

        await servicer.enter_graceful_shutdown()
        for service in (None, "test.Up"):
            ran = await run_probe(probe, srv.target, service)
            assert ran.returncode == UNHEALTHY_EXIT, ran


async def test_probe_without_a_server(probe):
    with free_port_refusing() as sock:
        port = sock.getsockname()[1]
        ran = await run([probe, f"-addr=127.0.0.1:{port}", "-connect-timeout=2s"])
    assert ran.returncode == NO_CONNECTION_EXIT, ran
