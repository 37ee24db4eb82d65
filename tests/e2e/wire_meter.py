"""What crosses the wire, whatever stacks sit on either side: CountingProxy, a TCP proxy on
127.0.0.1 that counts the bytes it forwards per direction, and assert_crossed, which tells from
such a count whether compressible messages crossed compressed.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass


@dataclass
class Crossed:
    up: int = 0
    down: int = 0


def compressible(size: int, seed: int = 0) -> bytes:
    """`size` bytes of repeated text: gzip/deflate shrink it to well under 1/4."""
    line = f"message {seed}: the quick brown fox jumps over the lazy dog, again and again. "
    return (line.encode() * (size // len(line) + 1))[:size]


def assert_crossed(what: str, wire_bytes: int, payload_bytes: int, compressed: bool):
    """`payload_bytes` of compressible messages crossed as `wire_bytes`: compressed or not?"""
    if compressed:
        assert wire_bytes < payload_bytes / 4, (
            f"{what}: {payload_bytes} compressible bytes crossed as {wire_bytes} bytes: "
            "not compressed")
    else:
        assert wire_bytes >= payload_bytes, (
            f"{what}: {payload_bytes} bytes crossed as only {wire_bytes} bytes: compressed")


class CountingProxy:
    """A TCP proxy on 127.0.0.1 in front of 127.0.0.1:`upstream_port` that counts the bytes it
    forwards per direction: what crosses the wire, whatever the stacks on either side are.
    Use as `async with CountingProxy(port) as proxy:`, dial `proxy.target`."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.to_server = 0
        self.to_client = 0
        self.target = ""
        self._server = None
        self._handlers: set[asyncio.Task] = set()
        self._writers: list[asyncio.StreamWriter] = []

    def counts(self) -> tuple[int, int]:
        """(bytes to the server, bytes to the client) so far."""
        return self.to_server, self.to_client

    @contextlib.contextmanager
    def measure(self):
        """`with proxy.measure() as crossed:` ... then crossed.up / crossed.down are the bytes
        that crossed to the server / to the client during the block."""
        crossed = Crossed()
        start = self.counts()
        try:
            yield crossed
        finally:
            crossed.up = self.to_server - start[0]
            crossed.down = self.to_client - start[1]

    async def __aenter__(self):
        self._server = await asyncio.start_server(self._on_connect, "127.0.0.1", 0)
        self.target = f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc):
        self._server.close()
        await self._server.wait_closed()
        for writer in self._writers:
            writer.close()
        # Not cancelled: Python 3.11's streams report a cancelled handler to the loop.
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=5)

    async def _on_connect(self, client_reader, client_writer):
        self._handlers.add(asyncio.current_task())
        self._writers.append(client_writer)
        try:
            server_reader, server_writer = await asyncio.open_connection(
                "127.0.0.1", self.upstream_port)
        except OSError:
            client_writer.close()
            return
        self._writers.append(server_writer)
        both = (client_writer, server_writer)
        await asyncio.gather(self._pipe(client_reader, server_writer, "to_server", both),
                             self._pipe(server_reader, client_writer, "to_client", both))

    async def _pipe(self, reader, writer, counter: str, both):
        try:
            while chunk := await reader.read(65536):
                setattr(self, counter, getattr(self, counter) + len(chunk))
                writer.write(chunk)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            for w in both:  # one side gone: drop the other too, like a dead middlebox
                w.close()
