"""Our asyncio client against grpc-go servers: several processes of bench/loadgen's server mode
on loopback behind one ``ipv4:`` address list, for configured retries, round_robin (by option
and by service config) against pick_first, health-checked round_robin and hedging past a slow
replica. Each backend names itself in trailing metadata (``backend``) and echoes the request's
grpc-previous-rpc-attempts (``attempts-seen``), so the client side alone can count.
With TURBOGRPC_TESTS_GRPC_ONLY=1, grpc.aio's client runs instead (validating the test itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import pathlib
import select
import signal
import subprocess
import time
from collections import Counter
from typing import NamedTuple

import pytest

from e2e.helpers import GRPC_ONLY, Pairing, md_values

REPO = pathlib.Path(__file__).resolve().parents[2]
SERVICE = "turbogrpc.bench.Bench"
UNARY = f"/{SERVICE}/Unary"  # an echo of raw bytes: no (de)serializers on either side
REQUEST = b"\x0a\x02hi"
BUILD_TIMEOUT = 900.0  # a first build compiles grpc-go (fetching its pinned modules)
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
ROUND_ROBIN = {"loadBalancingConfig": [{"round_robin": {}}]}


def service_config(**config) -> tuple[str, str]:
    return ("grpc.service_config", json.dumps(config))


def method_config(**policy) -> dict:
    return {"methodConfig": [{"name": [{"service": SERVICE}], **policy}]}


RETRY = method_config(retryPolicy={
    "maxAttempts": 3, "initialBackoff": "0.01s", "maxBackoff": "0.05s", "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"]})


class Backend(NamedTuple):
    name: str
    port: int
    process: subprocess.Popen


class GoBackends:
    """Starts loadgen server processes on 127.0.0.1 and stops every one of them."""

    def __init__(self, loadgen: str, logs: pathlib.Path):
        self.loadgen, self.logs = loadgen, logs
        self.processes: list[subprocess.Popen] = []

    def start(self, name: str, *flags: str) -> Backend:
        log = self.logs / f"{name}.stderr"
        with open(log, "w") as stderr:
            process = subprocess.Popen(
                [self.loadgen, "server", "--host", "127.0.0.1", "--port", "0", "--name", name,
                 *flags], stdout=subprocess.PIPE, stderr=stderr, text=True)
        self.processes.append(process)  # before waiting, so teardown stops it whatever happens
        ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT)
        line = process.stdout.readline() if ready else ""
        if not line.startswith("LISTENING "):
            pytest.fail(f"Go backend {name} did not start within {START_TIMEOUT} s (got "
                        f"{line!r}, exit {process.poll()}):\n{log.read_text()}", pytrace=False)
        return Backend(name, int(line.split()[1]), process)

    def start_three(self, *flags: str) -> list[Backend]:
        return [self.start(f"backend{i}", *flags) for i in range(3)]

    def stop_all(self):
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)
            process.stdout.close()


@pytest.fixture(scope="session")
def loadgen() -> str:
    """The Go load generator's binary, built for the current sources if need be. A test of Go
    peers fails (never skips) without Go: CI always has it (scripts/bootstrap.sh)."""
    try:
        done = subprocess.run(
            ["bash", str(REPO / "scripts" / "install_bench_tools.sh"), "--print-path"],
            capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"building bench/loadgen took over {BUILD_TIMEOUT} s", pytrace=False)
    path = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode != 0 or not os.access(path, os.X_OK):
        pytest.fail("the Go load generator (grpc-go servers of this test) is unavailable: "
                    f"scripts/install_bench_tools.sh exited {done.returncode} (Go is installed "
                    f"by scripts/bootstrap.sh):\n{done.stderr}", pytrace=False)
    return path


@pytest.fixture
def go_backends(loadgen, tmp_path):
    backends = GoBackends(loadgen, tmp_path)
    try:
        yield backends
    finally:
        backends.stop_all()


@pytest.fixture(params=["grpc"] if GRPC_ONLY else ["ours"])
def client(request) -> Pairing:
    """Our client (only the client side of the pairing is used; grpc.aio's in grpc-only mode)."""
    return Pairing(f"{request.param}-{request.param}")


@contextlib.asynccontextmanager
async def unary_to(client: Pairing, backends: list[Backend], *options):
    target = "ipv4:" + ",".join(f"127.0.0.1:{backend.port}" for backend in backends)
    async with client.connect(target, list(options)) as channel:
        yield channel.unary_unary(UNARY)


class Answer(NamedTuple):
    code: str
    backend: str
    attempts_seen: str
    seconds: float


async def call_once(client: Pairing, unary) -> Answer:
    start = time.monotonic()
    call = unary(REQUEST, timeout=5)
    try:
        assert await call == REQUEST
        code, trailers = "OK", await call.trailing_metadata()
    except client.client.AioRpcError as err:
        code, trailers = err.code().name, err.trailing_metadata()
    backend, attempts = (md_values(trailers, key) or [""] for key in ("backend", "attempts-seen"))
    return Answer(code, backend[0], attempts[0], time.monotonic() - start)


async def call_many(client: Pairing, unary, count: int, concurrency: int = 1) -> list[Answer]:
    answers: list[Answer] = []

    async def caller(calls):
        for _ in range(calls):
            answers.append(await call_once(client, unary))

    shares = [count // concurrency + (i < count % concurrency) for i in range(concurrency)]
    await asyncio.gather(*(caller(share) for share in shares))
    return answers


async def until_each_answers(client, unary, backends: list[Backend], timeout: float = 5.0):
    """round_robin starts picking once one backend is connected; wait for all of them."""
    deadline, missing = time.monotonic() + timeout, {backend.name for backend in backends}
    while missing:
        assert time.monotonic() < deadline, f"{sorted(missing)} never answered in {timeout} s"
        missing.discard((await call_once(client, unary)).backend)
        await asyncio.sleep(0.005)


def p99(answers: list[Answer]) -> float:
    seconds = sorted(answer.seconds for answer in answers)
    return seconds[math.ceil(0.99 * len(seconds)) - 1]


# Sequential calls, so a failed call's retry is the next call the server counts (never a third).
# With retries, 449 attempts reach the server: every third (149) fails and goes again once.
@pytest.mark.parametrize("fail_code, options, codes, attempts_seen", [
    ("14", [service_config(**RETRY)], {"OK": 300}, {"0": 151, "1": 149}),
    ("14", [], {"OK": 200, "UNAVAILABLE": 100}, {"0": 300}),
    ("9", [service_config(**RETRY)], {"OK": 200, "FAILED_PRECONDITION": 100}, {"0": 300}),
], ids=["unavailable-retried", "no-retry-policy", "failed-precondition-not-retried"])
async def test_every_third_call_failing(client, go_backends, fail_code, options, codes,
                                        attempts_seen):
    flaky = go_backends.start("flaky", "--fail-every", "3", "--fail-code", fail_code)
    async with unary_to(client, [flaky], *options) as unary:
        answers = await call_many(client, unary, 300)
    assert Counter(answer.code for answer in answers) == codes
    assert Counter(answer.attempts_seen for answer in answers) == attempts_seen


@pytest.mark.parametrize("option", [("grpc.lb_policy_name", "round_robin"),
                                    service_config(**ROUND_ROBIN)],
                         ids=["lb_policy_name", "service-config"])
async def test_round_robin_spreads_calls_evenly(client, go_backends, option):
    backends = go_backends.start_three()
    async with unary_to(client, backends, option) as unary:
        await until_each_answers(client, unary, backends)
        answers = await call_many(client, unary, 3000, concurrency=10)
    spread = Counter(answer.backend for answer in answers)
    assert all(900 <= spread[backend.name] <= 1100 for backend in backends), spread


async def test_pick_first_by_default_sends_every_call_to_the_first_backend(client, go_backends):
    backends = go_backends.start_three()
    async with unary_to(client, backends) as unary:
        answers = await call_many(client, unary, 300, concurrency=10)
    assert Counter(answer.backend for answer in answers) == {"backend0": 300}


async def until_left_out(client, unary, name: str, timeout: float = 5.0):
    """The health watch reports NOT_SERVING asynchronously: wait for 30 calls in a row that
    avoid `name`."""
    deadline = time.monotonic() + timeout
    while name in {answer.backend for answer in await call_many(client, unary, 30)}:
        assert time.monotonic() < deadline, f"{name} still picked {timeout} s after NOT_SERVING"
        await asyncio.sleep(0.05)


async def test_health_checked_round_robin_skips_a_not_serving_backend(client, go_backends):
    backends = go_backends.start_three("--health")
    health_checked = service_config(**ROUND_ROBIN, healthCheckConfig={"serviceName": SERVICE})
    async with unary_to(client, backends, health_checked) as unary:
        await until_each_answers(client, unary, backends)
        sick = backends[1]
        sick.process.send_signal(signal.SIGUSR1)  # its health service turns NOT_SERVING
        await until_left_out(client, unary, sick.name)
        answers = await call_many(client, unary, 300, concurrency=10)
        assert sick.name not in {answer.backend for answer in answers}
        sick.process.send_signal(signal.SIGUSR2)  # SERVING again: back in the rotation
        await until_each_answers(client, unary, backends)


# grpc C-core (grpc.aio) never implemented hedging, so this fails in grpc-only mode.
@pytest.mark.xfail(GRPC_ONLY, strict=True, reason="grpc.aio's client does not implement hedging")
async def test_hedging_answers_before_the_slow_replica_would(client, go_backends):
    backends = [go_backends.start("slow", "--delay-ms", "300"),
                go_backends.start("fast1"), go_backends.start("fast2")]
    hedging = service_config(**ROUND_ROBIN, **method_config(hedgingPolicy={
        "maxAttempts": 3, "hedgingDelay": "0.05s"}))
    async with unary_to(client, backends, service_config(**ROUND_ROBIN)) as unary:
        await until_each_answers(client, unary, backends)
        unhedged = await call_many(client, unary, 60, concurrency=6)
    async with unary_to(client, backends, hedging) as unary:
        await until_each_answers(client, unary, backends[1:])  # the slow one's hedges win
        hedged = await call_many(client, unary, 60, concurrency=6)
    assert p99(unhedged) >= 0.3  # a third of the calls wait for the slow replica
    assert p99(hedged) < 0.25, Counter(answer.backend for answer in hedged)  # slow is 0.3 s
