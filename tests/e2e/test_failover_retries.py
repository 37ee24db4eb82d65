"""A backend killed under load loses no call that was retryable: two server processes behind an
``ipv4:`` address list (pick_first, and round_robin), a retry policy for UNAVAILABLE, callers going on while the
backend in use is SIGKILLed. The calls in flight on its connection fail UNAVAILABLE (the
connection is gone before they were answered), go back to the channel, and are sent again once
it has failed over to the other address. Our client and grpc.aio's (which validates the test)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from e2e.helpers import GRPC_ONLY, Pairing

# A backend: echoes after 20 ms, answering with its name; prints its port once serving.
BACKEND = """
import asyncio, sys
import grpc
from turbogrpc import aio

async def main(name):
    async def echo(request, context):
        await asyncio.sleep(0.02)
        return name.encode()
    server = aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "test.Svc", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()

asyncio.run(main(sys.argv[1]))
"""

RETRY = json.dumps({"methodConfig": [{
    "name": [{"service": "test.Svc"}],
    "retryPolicy": {"maxAttempts": 5, "initialBackoff": "0.05s", "maxBackoff": "0.2s",
                    "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]})


def _start_backend(name: str) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen([sys.executable, "-c", BACKEND, name], stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    line = process.stdout.readline()  # the port, once it serves (it dies otherwise: "")
    if not line.strip():
        process.kill()
        pytest.fail(f"backend {name} did not start (exit {process.wait(5)})")
    return process, int(line)


@pytest.fixture
def backends():
    started = [_start_backend(name) for name in ("first", "second")]
    try:
        yield started
    finally:
        for process, _ in started:
            process.kill()
            process.wait(5)
            process.stdout.close()


@pytest.mark.parametrize("policy", ["pick_first", "round_robin"])
@pytest.mark.parametrize("client", ["grpc"] if GRPC_ONLY else ["ours", "grpc"])
async def test_killing_the_backend_in_use_loses_no_retryable_call(client, policy, backends):
    (first, first_port), (_, second_port) = backends
    pairing = Pairing(f"{client}-{client}")
    target = f"ipv4:127.0.0.1:{first_port},127.0.0.1:{second_port}"
    answered, failed = [], []
    options = [("grpc.service_config", RETRY), ("grpc.lb_policy_name", policy)]
    async with pairing.connect(target, options) as channel:
        echo = channel.unary_unary("/test.Svc/Echo")
        if policy == "pick_first":
            assert await echo(b"x", timeout=5) == b"first"  # the first address
        else:  # both subchannels READY: calls are in flight on both when one is killed
            seen = set()
            for _ in range(200):
                seen.add(await echo(b"x", timeout=5))
                if len(seen) == 2:
                    break
            assert seen == {b"first", b"second"}, seen

        async def caller(until):
            while time.monotonic() < until:
                try:
                    answered.append(await echo(b"x", timeout=5))
                except pairing.client.aio.AioRpcError as err:
                    failed.append((err.code(), err.details()))

        until = time.monotonic() + 1.5
        callers = [asyncio.ensure_future(caller(until)) for _ in range(20)]
        await asyncio.sleep(0.4)
        first.send_signal(signal.SIGKILL)  # with ~20 calls in flight on its connection
        await asyncio.wait_for(asyncio.gather(*callers), 15)
    assert not failed, failed[:3]
    assert answered.count(b"first") > 0 and answered.count(b"second") > 0
