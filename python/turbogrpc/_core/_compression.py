"""Compression choices: ``grpc.Compression`` itself when grpcio is installed (else a
stand-alone enum with its numbering), checked once at the API edge."""

from __future__ import annotations

import enum
from typing import Optional

from ._errors import UsageError
from ._grpcio import grpcio_attr

__all__ = ["Compression", "compression_value", "DEFAULT_COMPRESSION_OPTION"]

# The option grpcio's ``compression=`` argument turns into; honoured when given directly too.
DEFAULT_COMPRESSION_OPTION = "grpc.default_compression_algorithm"


class Compression(enum.IntEnum):
    """Message compression algorithms (``grpc.Compression`` when grpcio is installed).

    Example::

        channel = aio.insecure_channel(target, compression=aio.Compression.Gzip)
        reply = await stub.SayHello(request, compression=aio.Compression.NoCompression)
    """

    NoCompression = 0
    Deflate = 1
    Gzip = 2


_GRPCIO_COMPRESSION = grpcio_attr("Compression")
if _GRPCIO_COMPRESSION is not None:
    # grpcio's own enum (same names and numbers), so identity with its members holds. To the
    # type checker Compression stays the class above.
    Compression = _GRPCIO_COMPRESSION  # type: ignore[misc]


def compression_value(compression: Optional[int], default: int = 0) -> int:
    """The engine's int for ``compression`` (a Compression, grpc.Compression or int); None keeps
    ``default``."""
    if compression is None:
        return default
    if isinstance(compression, int) and not isinstance(compression, bool):
        if 0 <= compression <= 2:
            return int(compression)
    raise UsageError(
        f"compression must be one of NoCompression, Deflate, Gzip (grpc.Compression or "
        f"turbogrpc.aio.Compression), got {compression!r}"
    )
