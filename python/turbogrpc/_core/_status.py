"""gRPC status codes: ``grpc.StatusCode`` itself when grpcio is installed.

With grpcio importable, ``turbogrpc.StatusCode is grpc.StatusCode``: every code our API hands
out is grpcio's own member, so code comparing by identity (``code is grpc.StatusCode.OK``),
keying dicts or matching on it behaves exactly as with grpc.aio. Without grpcio it is the
stand-alone enum below, with grpcio's names and values (``(0, 'ok')`` ...).
"""

from __future__ import annotations

import enum
from typing import Union

from ._errors import UsageError
from ._grpcio import grpcio_attr

__all__ = ["StatusCode", "code_to_int", "code_from_int"]


class StatusCode(enum.Enum):
    """The status that ends every RPC (``grpc.StatusCode`` when grpcio is installed).

    Example::

        if await call.code() == StatusCode.NOT_FOUND:
            ...
    """

    OK = (0, "ok")
    CANCELLED = (1, "cancelled")
    UNKNOWN = (2, "unknown")
    INVALID_ARGUMENT = (3, "invalid argument")
    DEADLINE_EXCEEDED = (4, "deadline exceeded")
    NOT_FOUND = (5, "not found")
    ALREADY_EXISTS = (6, "already exists")
    PERMISSION_DENIED = (7, "permission denied")
    RESOURCE_EXHAUSTED = (8, "resource exhausted")
    FAILED_PRECONDITION = (9, "failed precondition")
    ABORTED = (10, "aborted")
    OUT_OF_RANGE = (11, "out of range")
    UNIMPLEMENTED = (12, "unimplemented")
    INTERNAL = (13, "internal")
    UNAVAILABLE = (14, "unavailable")
    DATA_LOSS = (15, "data loss")
    UNAUTHENTICATED = (16, "unauthenticated")


_GRPCIO_STATUS_CODE = grpcio_attr("StatusCode")
if _GRPCIO_STATUS_CODE is not None:
    # grpcio's own enum (same names and values): code comparing members by identity with
    # grpc.StatusCode's must hold. To the type checker StatusCode stays the class above.
    StatusCode = _GRPCIO_STATUS_CODE  # type: ignore[misc]

# Index = wire code; codes outside 0..16 become UNKNOWN (gRPC spec). One tuple lookup per call.
_BY_INT = tuple(sorted(StatusCode, key=lambda code: code.value[0]))
assert [code.value[0] for code in _BY_INT] == list(range(17)), "unexpected StatusCode values"
_UNKNOWN = StatusCode.UNKNOWN


def code_from_int(code: int) -> StatusCode:
    """The StatusCode for a wire code; anything unknown maps to UNKNOWN."""
    if 0 <= code <= 16:
        return _BY_INT[code]
    return _UNKNOWN


def code_to_int(code: Union[StatusCode, int]) -> int:
    """The wire number of a StatusCode-like value (a StatusCode member or a plain int 0..16)."""
    value = getattr(code, "value", None)
    if isinstance(value, tuple) and value and isinstance(value[0], int):
        number = value[0]
    elif isinstance(code, int) and not isinstance(code, bool):
        number = code
    else:
        raise UsageError(f"expected a StatusCode or an int, got {code!r}")
    if not 0 <= number <= 16:
        raise UsageError(f"status code {number} is out of range 0..16")
    return number
