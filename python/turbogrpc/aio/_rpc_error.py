"""The exception a failed RPC raises on the client, the abort exception, and the
end-of-stream marker (``grpc.aio.EOF`` itself when grpcio is installed). Their base RpcError
is shared with the blocking API (_core/_errors.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Optional

from .._core._errors import BaseError, RpcError
from .._core._grpcio import grpcio_attr, grpcio_bases

if TYPE_CHECKING:
    from .._core._metadata import Metadata
    from .._core._status import StatusCode

__all__ = ["AioRpcError", "RpcError", "EOF", "EOFType", "AbortError"]


# With grpcio, its class of the same name joins the bases (a runtime tuple the type checker
# cannot follow: hence the ignores; statically these derive from the classes named).
class AioRpcError(RpcError, *grpcio_bases("aio.AioRpcError")):  # type: ignore[misc]
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
        code: StatusCode,
        initial_metadata: Optional[Metadata] = None,
        trailing_metadata: Optional[Metadata] = None,
        details: Optional[str] = None,
        debug_error_string: Optional[str] = None,
    ) -> None:
        Exception.__init__(self)  # grpcio's __init__, if it is a base, would set the same fields
        self._code = code
        self._initial_metadata = initial_metadata
        self._trailing_metadata = trailing_metadata
        self._details = details
        self._debug_error_string = debug_error_string

    def code(self) -> StatusCode:
        return self._code

    def details(self) -> Optional[str]:
        return self._details

    def initial_metadata(self) -> Optional[Metadata]:
        return self._initial_metadata

    def trailing_metadata(self) -> Optional[Metadata]:
        return self._trailing_metadata

    def debug_error_string(self) -> Optional[str]:
        return self._debug_error_string

    def __str__(self) -> str:
        return (
            f"<{type(self).__name__} of RPC that terminated with:\n"
            f"\tstatus = {self._code}\n"
            f'\tdetails = "{self._details}"\n'
            f'\tdebug_error_string = "{self._debug_error_string}"\n'
            ">"
        )

    __repr__ = __str__

    def __reduce__(self) -> tuple[Any, ...]:
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


class AbortError(BaseError, *grpcio_bases("aio.AbortError")):  # type: ignore[misc]
    """Raised inside a server handler by ``await context.abort(...)`` to end it.

    Let it propagate: the call has already ended with the abort's status.
    """


class _EOFType:
    """The value ``read()`` returns once the stream has no more messages (without grpcio).

    Like grpc.aio's: compare with ``is``; it is falsy and has length 0.
    """

    __slots__ = ()
    _instance = None

    def __new__(cls) -> _EOFType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __len__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "<turbogrpc.aio.EOF>"

    def __reduce__(self) -> str:
        return "EOF"


# The type of EOF, for annotations (grpc.aio's EOFType): a stream's read() returns
# Union[ResponseType, EOFType]. To the type checker it is the class above; at run time it is
# the class of the EOF in use (grpcio's, below, when grpcio is installed).
EOFType = _EOFType

# grpcio's own marker when grpcio is installed: code written for grpc.aio compares read()'s
# result with ``is grpc.aio.EOF``, and that must hold for our calls too.
_GRPCIO_EOF = grpcio_attr("aio.EOF")
EOF: Final[EOFType] = _EOFType() if _GRPCIO_EOF is None else _GRPCIO_EOF
EOF_TYPE = type(EOF)
if _GRPCIO_EOF is not None:
    EOFType = EOF_TYPE  # type: ignore[misc]  # grpcio's class: isinstance(EOF, EOFType) holds
