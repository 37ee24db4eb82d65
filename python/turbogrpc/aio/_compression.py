"""Compression choices: ``grpc.Compression`` itself when grpcio is installed (else a
stand-alone enum with its numbering), checked once at the API edge."""

import enum

from .._errors import UsageError
from .._grpcio import grpcio_attr

__all__ = ["Compression", "compression_value", "DEFAULT_COMPRESSION_OPTION"]

# The option grpcio's ``compression=`` argument turns into; honoured when given directly too.
DEFAULT_COMPRESSION_OPTION = "grpc.default_compression_algorithm"

Compression = grpcio_attr("Compression")

if Compression is None:

    class Compression(enum.IntEnum):
        """Message compression algorithms (``grpc.Compression`` when grpcio is installed).

        Example::

            channel = aio.insecure_channel(target, compression=aio.Compression.Gzip)
            reply = await stub.SayHello(request, compression=aio.Compression.NoCompression)
        """

        NoCompression = 0
        Deflate = 1
        Gzip = 2


def compression_value(compression, default=0):
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
