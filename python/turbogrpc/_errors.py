"""Errors raised when the API is used the wrong way (not RPC failures).

RPC failures travel as status codes (see ``turbogrpc.aio.AioRpcError``); a
``UsageError`` means the calling code has to change.
"""

from ._grpcio import grpcio_bases

__all__ = ["UsageError"]


class UsageError(*grpcio_bases("aio.UsageError"), ValueError):
    """The API was misused: wrong argument, wrong state, wrong loop, use after fork.

    Also a ``grpc.aio.UsageError`` when grpcio is installed.

    Example::

        try:
            await channel.unary_unary("/pkg.Svc/M")(b"")
        except turbogrpc.UsageError as error:
            print("fix the caller:", error)
    """
