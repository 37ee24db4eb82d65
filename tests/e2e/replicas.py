"""Three of our servers answering with their names ("r1", "r2", "r3") on 127.0.0.1, .2 and .3
at one port: the replicas behind a name that resolves to those three addresses."""

from __future__ import annotations

import contextlib
import dataclasses

import grpc
import pytest

from e2e.helpers import Pairing


@dataclasses.dataclass
class Replicas:
    port: int
    servers: list  # the ServerHandles of r1, r2 and r3 (a test may stop one early)


@contextlib.asynccontextmanager
async def replicas_on_three_addresses(pairing: Pairing):
    """Servers of `pairing` on 127.0.0.1..3 at one port; yields their Replicas."""
    for _ in range(20):  # the first server picks the port; it may be taken on .2 or .3
        async with contextlib.AsyncExitStack() as stack:
            port = None
            servers = []
            try:
                for index in (1, 2, 3):
                    name = f"r{index}".encode()

                    async def echo(request, context, name=name):
                        return name

                    handle = await stack.enter_async_context(pairing.serve(
                        {"Echo": grpc.unary_unary_rpc_method_handler(echo)},
                        address=f"127.0.0.{index}:{port or 0}"))
                    port = handle.port
                    servers.append(handle)
            except (AssertionError, RuntimeError):
                continue  # bind failed on a later address: try another port
            yield Replicas(port, servers)
            return
    pytest.fail("no port free on 127.0.0.1, .2 and .3 at once in 20 tries")
