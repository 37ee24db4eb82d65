"""Errors raised when the API is used the wrong way (not RPC failures).

RPC failures travel as status codes (see ``turbogrpc.aio.AioRpcError``); a
``UsageError`` means the calling code has to change.
"""

__all__ = ["UsageError"]


class UsageError(ValueError):
    """The API was misused: wrong argument, wrong state, wrong loop, use after fork.

    Example::

        try:
            await channel.unary_unary("/pkg.Svc/M")(b"")
        except turbogrpc.UsageError as error:
            print("fix the caller:", error)
    """
