"""Several replicas behind one channel, in one program: ``python3 main.py``.

Starts three Greeter replicas on 127.0.0.1 (free ports), each with the standard health service,
and calls them through one turbogrpc.aio channel whose service config asks for round_robin,
client-side health checking and retries. Replica "c" fails every first attempt UNAVAILABLE, so
each call that lands on it first is retried (on the next replica in turn). Then "b" says
NOT_SERVING and gets no calls; then "a" drains (NOT_SERVING, then a graceful stop) while calls
go on. Prints the spread of each round and exits 1 if any check fails. On grpc.aio:
``import grpc.aio as aio`` here.
"""

from __future__ import annotations

import asyncio
import collections
import json
import pathlib
import sys

import grpc  # StatusCode: turbogrpc uses grpcio's own enum
import turbogrpc.aio as aio
from turbogrpc import health

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # examples/: the shared _protos.py and _checks.py
import _protos  # noqa: E402
from _checks import CheckFailed, expect, run  # noqa: E402

pb2, pb2_grpc = _protos.load(HERE.parent / "protos" / "helloworld.proto", HERE / "_generated")

SERVICE = "helloworld.Greeter"
CALLS = 300
CONCURRENCY = 10
# The service config a resolver (or the channel's owner) hands the client: spread calls over
# every healthy replica, and try a call again, elsewhere, when a replica says UNAVAILABLE.
SERVICE_CONFIG = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "healthCheckConfig": {"serviceName": SERVICE},
    "methodConfig": [{
        "name": [{"service": SERVICE}],
        "timeout": "5s",
        "retryPolicy": {
            "maxAttempts": 3,
            "initialBackoff": "0.01s",
            "maxBackoff": "0.1s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        },
    }],
}


class Greeter(pb2_grpc.GreeterServicer):
    """Answers with its replica's name; a flaky one fails every first attempt."""

    def __init__(self, name: str, flaky: bool) -> None:
        self.name = name
        self.flaky = flaky
        self.refused = 0

    async def SayHello(self, request, context):
        # The client counts attempts in this header; absent on a call's first attempt.
        retried = dict(context.invocation_metadata()).get("grpc-previous-rpc-attempts")
        if self.flaky and retried is None:
            self.refused += 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"{self.name} is flaky on purpose")
        return pb2.HelloReply(message=f"{self.name}:{request.name}:{retried or 0}")


class Replica:
    def __init__(self, name: str, flaky: bool = False) -> None:
        self.greeter = Greeter(name, flaky)
        self.health = health.HealthServicer()
        self.server = aio.server()
        pb2_grpc.add_GreeterServicer_to_server(self.greeter, self.server)
        health.add_HealthServicer_to_server(self.health, self.server)
        self.health.set(SERVICE, health.HealthCheckResponse.SERVING)
        self.port = self.server.add_insecure_port("127.0.0.1:0")


async def call_round(stub, calls: int = CALLS) -> tuple[collections.Counter, int]:
    """Makes `calls` calls, CONCURRENCY at a time; returns (answers per replica, retried)."""
    served: collections.Counter = collections.Counter()
    retried = 0

    async def worker(first: int) -> None:
        nonlocal retried
        for n in range(first, calls, CONCURRENCY):
            reply = await stub.SayHello(pb2.HelloRequest(name=str(n)))
            name, echoed, attempts = reply.message.split(":")
            expect(echoed == str(n), f"call {n} got the answer to {echoed}")
            served[name] += 1
            retried += attempts != "0"

    await asyncio.gather(*(worker(first) for first in range(CONCURRENCY)))
    return served, retried


async def until_no_calls_reach(stub, name: str) -> None:
    """Health news arrives asynchronously: wait until a whole round of 30 calls avoids `name`."""
    for _ in range(100):
        served, _ = await call_round(stub, 30)
        if name not in served:
            return
        await asyncio.sleep(0.05)
    raise CheckFailed(f"calls still reach {name}")


def report(served: collections.Counter, retried: int) -> None:
    spread = ", ".join(f"{name} {served[name]}" for name in sorted(served))
    print(f"  {sum(served.values())} calls answered: {spread}; {retried} of them on a retry")


async def run_checks(replicas: dict[str, Replica], target: str) -> None:
    options = [("grpc.service_config", json.dumps(SERVICE_CONFIG))]
    async with aio.insecure_channel(target, options=options) as channel:
        stub = pb2_grpc.GreeterStub(channel)
        await channel.channel_ready()

        print(f"== {CALLS} calls over a, b and c; c fails every first attempt")
        served, retried = await call_round(stub)
        report(served, retried)
        expect(sum(served.values()) == CALLS, "a call was lost")
        refused = replicas["c"].greeter.refused
        expect(refused > 0 and retried == refused, f"{refused} refused, {retried} retried")
        expect(abs(served["a"] - served["b"]) <= CALLS // 10, f"uneven: {dict(served)}")

        print("== b says NOT_SERVING: it gets no calls")
        replicas["b"].health.set(SERVICE, health.HealthCheckResponse.NOT_SERVING)
        await until_no_calls_reach(stub, "b")
        served, retried = await call_round(stub)
        report(served, retried)
        expect("b" not in served and sum(served.values()) == CALLS, f"{dict(served)}")

        print("== b serves again; a drains (NOT_SERVING, then a graceful stop) under load")
        replicas["b"].health.set(SERVICE, health.HealthCheckResponse.SERVING)
        replicas["a"].health.enter_graceful_shutdown()
        served, retried = await call_round(stub)
        await replicas["a"].server.stop(grace=5)
        served_after, retried_after = await call_round(stub)
        served.update(served_after)
        report(served, retried + retried_after)
        expect(sum(served.values()) == 2 * CALLS, "a call was lost while a drained")
        expect(served_after["a"] == 0, f"calls reached a after it stopped: {dict(served_after)}")


async def main() -> None:
    replicas = {"a": Replica("a"), "b": Replica("b"), "c": Replica("c", flaky=True)}
    for name, replica in replicas.items():
        await replica.server.start()
        print(f"replica {name} on 127.0.0.1:{replica.port}")
    # One channel over every replica: an ipv4: list here, a DNS name with several addresses in
    # a deployment (dns:///greeter.internal:50051).
    target = "ipv4:" + ",".join(f"127.0.0.1:{r.port}" for r in replicas.values())
    try:
        await run_checks(replicas, target)
    finally:
        await asyncio.gather(*(r.server.stop(None) for r in replicas.values()))


if __name__ == "__main__":
    run(main, aio.AioRpcError)
