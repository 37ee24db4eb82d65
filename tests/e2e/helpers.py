"""Shared pieces of the end-to-end tests: the two stacks, client×server pairings, small helpers.

A test is written once against the grpc.aio API and runs on every pairing; `pairing.client` and
`pairing.server` are `Stack`s wrapping `turbogrpc.aio` ("ours") or `grpc.aio` ("grpc").
Status codes are compared by name so that both stacks' enums work.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import socket
import time
import traceback
import weakref
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio
import pytest

GRPC_ONLY = os.environ.get("TURBOGRPC_TESTS_GRPC_ONLY") == "1"
SERVICE = "test.Svc"
MiB = 1024 * 1024
UNICODE_DETAILS = "ünïcödé ✓ 😀 %"
BIG_OPTIONS = [
    ("grpc.max_receive_message_length", 16 * MiB),
    ("grpc.max_send_message_length", 16 * MiB),
]


def _import_ours():
    try:
        import turbogrpc.aio as ours  # noqa: PLC0415

        return ours, None
    except Exception:  # noqa: BLE001 - reported verbatim at collection
        return None, traceback.format_exc()


OURS, OURS_IMPORT_ERROR = _import_ours()


class Stack:
    """One gRPC implementation as seen through the grpc.aio API."""

    def __init__(self, name: str, aio: Any, lib: Any = grpc):
        self.name = name
        self.aio = aio
        # The top-level module (grpc or turbogrpc): credentials factories, LocalConnectionType,
        # AuthMetadataPlugin. Credentials are stack-specific: build each side's with its own lib.
        self.lib = lib
        self.StatusCode = getattr(aio, "StatusCode", grpc.StatusCode)
        self.AioRpcError = aio.AioRpcError
        self.EOF = aio.EOF
        self.Compression = getattr(aio, "Compression", grpc.Compression)  # grpc.aio has none

    def __repr__(self):
        return f"Stack({self.name})"

    @property
    def is_ours(self) -> bool:
        return self.name == "ours"

    def channel(self, target: str, options=None, **kwargs):
        return self.aio.insecure_channel(target, options=options, **kwargs)

    def secure_channel(self, target: str, credentials, options=None, **kwargs):
        return self.aio.secure_channel(target, credentials, options=options, **kwargs)

    def server(self, options=None, **kwargs):
        return self.aio.server(options=options, **kwargs)


def stack(name: str) -> Stack:
    if name == "grpc":
        return Stack("grpc", grpc.aio)
    if OURS is None:
        raise RuntimeError("turbogrpc.aio is not importable:\n" + (OURS_IMPORT_ERROR or ""))
    return Stack("ours", OURS, importlib.import_module("turbogrpc"))


@dataclass
class ServerHandle:
    server: Any
    port: int
    target: str  # what a client dials


class Env:
    """A started server plus one client channel to it."""

    def __init__(self, pairing: "Pairing", srv: ServerHandle, channel: Any):
        self.pairing = pairing
        self.srv = srv
        self.server = srv.server
        self.channel = channel
        self.target = srv.target

    def uu(self, name: str, service: str = SERVICE):
        return self.channel.unary_unary(f"/{service}/{name}")

    def us(self, name: str, service: str = SERVICE):
        return self.channel.unary_stream(f"/{service}/{name}")

    def su(self, name: str, service: str = SERVICE):
        return self.channel.stream_unary(f"/{service}/{name}")

    def ss(self, name: str, service: str = SERVICE):
        return self.channel.stream_stream(f"/{service}/{name}")


class Pairing:
    """Client stack × server stack, e.g. "ours-grpc" = our client against grpc.aio's server."""

    def __init__(self, pairing_id: str):
        client_name, server_name = pairing_id.split("-")
        self.id = pairing_id
        self.client = stack(client_name)
        self.server = stack(server_name)

    def __repr__(self):
        return f"Pairing({self.id})"

    @contextlib.asynccontextmanager
    async def serve(self, handlers, *, options=None, address: str = "127.0.0.1:0",
                    server_credentials=None, **kwargs):
        """Start a server with `handlers` (dict name→grpc handler for test.Svc, a list of generic
        handlers, or a callable registering on the server, like generated add_XServicer_to_server)
        listening on `address` (add_secure_port with `server_credentials`, made by
        `self.server.lib`); stop it (grace None) on exit."""
        register = handlers if callable(handlers) else None
        if register:
            handlers = []
        elif isinstance(handlers, dict):
            handlers = [grpc.method_handlers_generic_handler(SERVICE, handlers)]
        server = self.server.server(options=options, **kwargs)
        loop = asyncio.get_running_loop()
        if not self.server.is_ours:
            _live_grpc_servers[loop] = _live_grpc_servers.get(loop, 0) + 1
        if register:
            register(server)
        if handlers:
            server.add_generic_rpc_handlers(tuple(handlers))
        if server_credentials is not None:
            port = server.add_secure_port(address, server_credentials)
        else:
            port = server.add_insecure_port(address)
        assert port != 0, f"bind {address} failed"
        await server.start()
        if address.startswith("unix:"):
            target = address
        else:
            host = address.rsplit(":", 1)[0]
            target = f"{host}:{port}"
        try:
            yield ServerHandle(server, port, target)
        finally:
            await server.stop(None)
            if not self.server.is_ours:
                _live_grpc_servers[loop] -= 1
                await settle_grpc_tasks(server_side=True)

    @contextlib.asynccontextmanager
    async def connect(self, target: str, options=None, channel_credentials=None, **kwargs):
        """A channel to `target`; `kwargs` go to insecure_channel (e.g. compression=), or to
        secure_channel with `channel_credentials` (made by `self.client.lib`)."""
        if channel_credentials is not None:
            channel = self.client.secure_channel(target, channel_credentials, options=options,
                                                 **kwargs)
        else:
            channel = self.client.channel(target, options=options, **kwargs)
        try:
            yield channel
        finally:
            await channel.close()
            if not self.client.is_ours:
                await settle_grpc_tasks(server_side=False)

    @contextlib.asynccontextmanager
    async def env(self, handlers, *, server_options=None, channel_options=None,
                  address: str = "127.0.0.1:0", server_credentials=None,
                  channel_credentials=None, **server_kwargs):
        async with self.serve(handlers, options=server_options, address=address,
                              server_credentials=server_credentials, **server_kwargs) as srv:
            async with self.connect(srv.target, channel_options,
                                    channel_credentials=channel_credentials) as channel:
                yield Env(self, srv, channel)


_live_grpc_servers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int]" = (
    weakref.WeakKeyDictionary())


async def settle_grpc_tasks(server_side: bool, timeout: float = 2.0) -> None:
    """grpc.aio returns from server.stop()/channel.close() while its own per-RPC tasks are still
    unwinding (seen with uvloop). Give those (and only those) a moment to finish, so the strict
    no-pending-tasks teardown reports real leaks. Our stack gets no such allowance.
    Server-wide grpc tasks are waited for only when no other grpc.aio server runs on this loop."""
    all_server_tasks = server_side and not _live_grpc_servers.get(asyncio.get_running_loop())
    deadline = time.monotonic() + timeout
    while True:
        current = asyncio.current_task()
        grpc_tasks = []
        for t in asyncio.all_tasks():
            text = repr(t)
            if t is current or t.done() or "grpc/_cython" not in text:
                continue
            if "server.pyx" in text and not server_side:
                continue
            if ("_server_main_loop" in text or "_request_call" in text) and not all_server_tasks:
                continue
            grpc_tasks.append(t)
        if not grpc_tasks or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.005)


# ---- small helpers ------------------------------------------------------------------------

def ours_only(test):
    """Collect `test` only when our stack is under test: for turbogrpc extensions grpc.aio lacks,
    which grpc-grpc (standing in for `ours_pairing` with TURBOGRPC_TESTS_GRPC_ONLY=1) cannot run.
    In that mode the test is not collected at all (a module attribute that is None is no test)."""
    return None if GRPC_ONLY else test


def code_name(code) -> str:
    """Name of a StatusCode of either stack (or a plain value)."""
    return code.name


async def rpc_error(pairing: Pairing, awaitable, code: str):
    """Await `awaitable`, expect the client stack's AioRpcError with status `code` (a name)."""
    start = time.monotonic()
    with pytest.raises(pairing.client.AioRpcError) as info:
        await awaitable
    err = info.value
    assert code_name(err.code()) == code, (
        f"expected {code}, got {err.code()} details={err.details()!r} "
        f"after {time.monotonic() - start:.2f}s"
    )
    return err


def md_pairs(md) -> list[tuple[str, Any]]:
    """Metadata of either stack (Metadata object, tuple of pairs, None) as a list of pairs."""
    if md is None:
        return []
    return [(k, v) for k, v in md]


def md_values(md, key: str) -> list:
    return [v for k, v in md_pairs(md) if k == key]


def rss_bytes() -> int:
    """This process's resident set size."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def free_port_refusing() -> socket.socket:
    """A bound TCP socket that does not listen: connecting to its port is refused.
    Keep it open while the port is used so nobody else takes the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


async def wait_for_event(event: asyncio.Event | Any, timeout: float = 5.0, what: str = "event"):
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"{what} not observed within {timeout} s") from None


async def eventually(predicate, timeout: float = 5.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(0.01)


class LoopStallMeter:
    """Measures the longest gap between ticks of a 10 ms ticker: a blocked loop shows a big gap."""

    def __init__(self):
        self.max_gap = 0.0
        self._task = None

    async def _run(self):
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            self.max_gap = max(self.max_gap, now - last)
            last = now

    async def __aenter__(self):
        self._task = asyncio.get_running_loop().create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc):
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
