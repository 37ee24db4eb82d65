"""What a server of either API settles before it serves: its settings from grpc's ``server()``
arguments (``ServerSetup``) and the sockets its ports bound (``Listeners``), handed to the
engine by ``start()``. The handler registry is _handler_table.py's ``HandlerRegistry``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Optional, Union

from .. import _engine
from ._compression import DEFAULT_COMPRESSION_OPTION, compression_value
from ._engine_log import forward_engine_traces
from ._errors import UsageError
from ._generation import check_generation
from ._options import option_value, reuse_port, server_options

if TYPE_CHECKING:
    from ._compression import Compression
    from ._server_security import CertificateFetcher, ListenerSecurity
    from ._typing import ChannelArgumentType

__all__ = ["ServerSetup", "Listeners"]


class ServerSetup:
    """A server's settings, read-only once made: its engine id, the engine's option dict,
    SO_REUSEPORT, the responses' default compression and the concurrent-RPC limit.

    Made first thing in a server's constructor: it warns (once) about options turbogrpc does
    not implement, at the application's line, and raises UsageError for bad values.
    """

    __slots__ = ("server_id", "generation", "options", "reuse_port", "compression", "limit")

    def __init__(self, options: Optional[ChannelArgumentType],
                 compression: Optional[Compression],
                 maximum_concurrent_rpcs: Optional[int]) -> None:
        if maximum_concurrent_rpcs is not None and maximum_concurrent_rpcs < 1:
            raise UsageError("maximum_concurrent_rpcs must be None or a positive int")
        forward_engine_traces()
        self.server_id = _engine.next_id()
        self.generation = _engine.generation()
        self.options: dict[str, Union[int, str]] = server_options(options)
        self.reuse_port = reuse_port(options)  # grpc.so_reuseport, on by default as grpcio
        # Responses use this unless a handler calls context.set_compression().
        self.compression = compression_value(
            compression, compression_value(option_value(options, DEFAULT_COMPRESSION_OPTION)))
        self.limit = maximum_concurrent_rpcs


class Listeners:
    """The sockets ``add_insecure_port`` / ``add_secure_port`` bound, with how the engine secures
    each, until ``start()`` hands them to the engine (or ``close()`` drops them unused)."""

    __slots__ = ("fds", "security", "fetchers")

    def __init__(self) -> None:
        self.fds: list[int] = []
        self.security: list[ListenerSecurity] = []  # per entry of fds
        # listener index -> (certificate fetcher, require_client_auth), kept while serving
        self.fetchers: dict[int, tuple[CertificateFetcher, bool]] = {}

    def add(self, address: str, security: ListenerSecurity,
            fetcher: Optional[tuple[CertificateFetcher, bool]], setup: ServerSetup) -> int:
        """Binds ``address`` now and returns its port ("localhost:0" picks a free one); raises
        RuntimeError "Failed to bind to address ..." as grpcio does."""
        check_generation(setup.generation, "server")
        fd: int
        port: int
        try:
            fd, port = _engine.listen(address, setup.reuse_port)
        except OSError as exc:
            reason = str(exc)
            if not reason.startswith("Failed to bind"):
                reason = f"Failed to bind to address {address}: {reason}"
            raise RuntimeError(reason) from exc
        if fetcher is not None:
            self.fetchers[len(self.fds)] = fetcher
        self.fds.append(fd)
        self.security.append(security)
        if not port and address.startswith("unix"):
            return 1  # what grpcio returns for unix sockets
        return port

    def handed_over(self) -> None:
        """The engine took the fds (``_engine.start_server`` succeeded): forget them."""
        self.fds, self.security = [], []

    def close(self) -> None:
        """Closes the fds never handed to the engine (a server stopped or dropped unstarted)."""
        fds, self.fds = self.fds, []
        self.security = []
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
