"""The exception a failed RPC raises on the client, the abort exception, and the
end-of-stream marker (``grpc.aio.EOF`` itself when grpcio is installed)."""

from .._errors import BaseError
from .._grpcio import grpcio_attr, grpcio_bases

__all__ = ["AioRpcError", "RpcError", "EOF", "AbortError"]


class RpcError(*grpcio_bases("RpcError"), Exception):
    """Base class of RPC failures; also a ``grpc.RpcError`` when grpcio is installed."""


class AioRpcError(RpcError, *grpcio_bases("aio.AioRpcError")):
    """An RPC ended with a non-OK status: a snapshot of that final status.

    When grpcio is installed it is also a ``grpc.aio.AioRpcError``, so handlers written for
    grpc.aio (``except grpc.RpcError``, ``except grpc.aio.AioRpcError``) keep catching it.

    Example::

        try:
            await stub.GetFeature(point)
        except aio.AioRpcError as error:
            if error.code() == StatusCode.NOT_FOUND:
                print(error.details(), error.trailing_metadata())
    """

    def __init__(
        self,
        code,
        initial_metadata=None,
        trailing_metadata=None,
        details=None,
        debug_error_string=None,
    ):
        Exception.__init__(self)  # grpcio's __init__, if it is a base, would set the same fields
        self._code = code
        self._initial_metadata = initial_metadata
        self._trailing_metadata = trailing_metadata
        self._details = details
        self._debug_error_string = debug_error_string

    def code(self):
        return self._code

    def details(self):
        return self._details

    def initial_metadata(self):
        return self._initial_metadata

    def trailing_metadata(self):
        return self._trailing_metadata

    def debug_error_string(self):
        return self._debug_error_string

    def __str__(self):
        return (
            f"<{type(self).__name__} of RPC that terminated with:\n"
            f"\tstatus = {self._code}\n"
            f'\tdetails = "{self._details}"\n'
            f'\tdebug_error_string = "{self._debug_error_string}"\n'
            ">"
        )

    __repr__ = __str__

    def __reduce__(self):
        return (
            type(self),
            (
                self._code,
                self._initial_metadata,
                self._trailing_metadata,
                self._details,
                self._debug_error_string,
            ),
        )


class AbortError(BaseError, *grpcio_bases("aio.AbortError")):
    """Raised inside a server handler by ``await context.abort(...)`` to end it.

    Let it propagate: the call has already ended with the abort's status.
    """


class _EOFType:
    """The value ``read()`` returns once the stream has no more messages (without grpcio).

    Like grpc.aio's: compare with ``is``; it is falsy and has length 0.
    """

    __slots__ = ()
    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self):
        return False

    def __len__(self):
        return 0

    def __repr__(self):
        return "<turbogrpc.aio.EOF>"

    def __reduce__(self):
        return "EOF"


# grpcio's own marker when grpcio is installed: code written for grpc.aio compares read()'s
# result with ``is grpc.aio.EOF``, and that must hold for our calls too.
EOF = grpcio_attr("aio.EOF")
if EOF is None:
    EOF = _EOFType()
EOF_TYPE = type(EOF)
