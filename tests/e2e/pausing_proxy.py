"""A TCP proxy between a client and a server on loopback that breaks the connections going
through it in the three ways networks do: pause (stop forwarding, keep both sockets open: a
dead NAT entry or a vanished host), drop (close both sides cleanly: FIN) and reset (RST)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct


class PausingProxy:
    """A TCP proxy on loopback: forwards bytes both ways until pause(), which makes every
    connection open at that moment stop forwarding (sockets stay open: no FIN, no RST).
    Connections made after a pause forward normally."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._links: list[tuple[asyncio.Event, list[asyncio.StreamWriter], list[asyncio.Task]]] = []
        self.connections = 0

    async def __aenter__(self):
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        assert self._server is not None
        self._server.close()
        for _, writers, tasks in self._links:
            for task in tasks:
                task.cancel()
            for writer in writers:
                writer.close()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()

    def pause(self):
        for forwarding, _, _ in self._links:
            forwarding.clear()

    def drop(self):
        """Closes every connection open now, on both sides, with a FIN."""
        self._close_all(reset=False)

    def reset(self):
        """Aborts every connection open now, on both sides, with an RST (SO_LINGER 0)."""
        self._close_all(reset=True)

    def _close_all(self, reset: bool):
        links, self._links = self._links, []
        for _, writers, tasks in links:
            for task in tasks:
                task.cancel()
            for writer in writers:
                if reset:
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                else:
                    writer.close()

    async def _accept(self, client_reader, client_writer):
        self.connections += 1
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        forwarding = asyncio.Event()
        forwarding.set()
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(self._pump(client_reader, upstream_writer, forwarding)),
                 loop.create_task(self._pump(upstream_reader, client_writer, forwarding))]
        self._links.append((forwarding, [client_writer, upstream_writer], tasks))

    @staticmethod
    async def _pump(reader, writer, forwarding):
        with contextlib.suppress(ConnectionError):
            while True:
                data = await reader.read(65536)
                await forwarding.wait()  # paused: hold it (and read no more) for good
                if not data:
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()
