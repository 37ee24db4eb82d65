"""pick_first's shuffleAddressList (gRPC's A62, the service config's loadBalancingConfig): each
channel tries its target's addresses in a random order, so the clients of one name spread over
its addresses instead of all using the first. Without it every channel uses the first
address. Our client, and grpc.aio's to validate the expectations."""

from __future__ import annotations

import collections
import json

import pytest

from e2e.helpers import GRPC_ONLY, Pairing
from e2e.replicas import replicas_on_three_addresses

CLIENTS = ["grpc"] if GRPC_ONLY else ["ours", "grpc"]
CHANNELS = 30


async def _first_answers(pairing: Pairing, port: int, config) -> collections.Counter:
    """The replica that answers each of CHANNELS new channels' one call."""
    target = ",".join(f"127.0.0.{i}:{port}" for i in (1, 2, 3))
    options = [("grpc.service_config", json.dumps(config))] if config else []
    answers: collections.Counter = collections.Counter()
    for _ in range(CHANNELS):
        async with pairing.connect(f"ipv4:{target}", options) as channel:
            answers[await channel.unary_unary("/test.Svc/Echo")(b"", timeout=10)] += 1
    return answers


@pytest.mark.parametrize("client", CLIENTS)
async def test_shuffled_pick_first_channels_spread_over_the_addresses(client):
    pairing = Pairing(f"{client}-ours")
    shuffled = {"loadBalancingConfig": [{"pick_first": {"shuffleAddressList": True}}]}
    async with replicas_on_three_addresses(pairing) as replicas:
        answers = await _first_answers(pairing, replicas.port, shuffled)
        in_order = await _first_answers(pairing, replicas.port, None)
    # All 30 on one of three replicas by chance: 3 * 3**-30.
    assert len(answers) >= 2 and sum(answers.values()) == CHANNELS, answers
    assert in_order == {b"r1": CHANNELS}
