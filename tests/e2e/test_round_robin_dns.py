"""round_robin over a host name with several addresses: three replicas on 127.0.0.1, .2 and .3
(one port), and a client that resolves "replicas.test" to all three. The client runs in a
subprocess with its own mount namespace in which a hosts file the test wrote is bind-mounted
over /etc/hosts: getaddrinfo finds the three addresses there, while the machine's resolver is
unchanged for every other process. Our client, and grpc.aio's to validate the expectations."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from e2e.helpers import GRPC_ONLY, Pairing
from e2e.replicas import replicas_on_three_addresses

HOSTS = "127.0.0.1 localhost\n" + "".join(f"127.0.0.{i} replicas.test\n" for i in (1, 2, 3))

# Calls the replicas through the name; prints {replica name: calls it answered}.
CLIENT = """
import asyncio, collections, json, sys
from {module} import aio

async def main(target, options):
    counts = collections.Counter()
    async with aio.insecure_channel(target, options=json.loads(options)) as channel:
        echo = channel.unary_unary("/test.Svc/Echo")
        for _ in range(30):  # until every replica's subchannel has answered (round_robin)
            counts[(await echo(b"", timeout=10)).decode()] += 1
        counts.clear()
        async def worker():
            for _ in range(150):
                counts[(await echo(b"", timeout=10)).decode()] += 1
        await asyncio.gather(*(worker() for _ in range(20)))
    print(json.dumps(counts))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def _in_own_hosts_file(hosts_path: str) -> list[str]:
    """The command prefix that runs a program with `hosts_path` as its /etc/hosts."""
    unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
    return unshare + ["sh", "-c", f'mount --bind "{hosts_path}" /etc/hosts && exec "$@"', "sh"]


async def _run_client(tmp_path, client: str, target: str, options) -> dict:
    """Runs CLIENT in its own hosts file, without blocking the loop our servers run on."""
    hosts = tmp_path / "hosts"
    hosts.write_text(HOSTS)
    module = "grpc" if client == "grpc" else "turbogrpc"
    command = _in_own_hosts_file(str(hosts)) + [
        sys.executable, "-c", CLIENT.format(module=module), target, json.dumps(options)]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONWARNINGS": "error"})
    try:
        out, err = await asyncio.wait_for(process.communicate(), 120)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, (out + err).decode()
    return json.loads(out)


CLIENTS = ["grpc"] if GRPC_ONLY else ["ours", "grpc"]


@pytest.mark.parametrize("client", CLIENTS)
async def test_round_robin_spreads_calls_over_every_address_of_a_name(client, tmp_path):
    async with replicas_on_three_addresses(Pairing("ours-ours")) as replicas:
        counts = await _run_client(tmp_path, client, f"dns:///replicas.test:{replicas.port}",
                             [["grpc.lb_policy_name", "round_robin"]])
    assert sum(counts.values()) == 3000
    for name in ("r1", "r2", "r3"):
        assert abs(counts.get(name, 0) - 1000) <= 100, counts


@pytest.mark.parametrize("client", CLIENTS)
async def test_pick_first_on_the_same_name_uses_its_first_address(client, tmp_path):
    async with replicas_on_three_addresses(Pairing("ours-ours")) as replicas:
        counts = await _run_client(tmp_path, client, f"replicas.test:{replicas.port}", [])
    assert counts == {"r1": 3000}
