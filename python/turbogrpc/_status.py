"""gRPC status codes, interchangeable with ``grpc.StatusCode``.

Members carry grpcio's values (``(0, 'ok')`` ...) and compare equal to grpcio's members
both ways, so code written against grpcio keeps working with turbogrpc and vice versa.
"""

import enum

from ._errors import UsageError

__all__ = ["StatusCode", "code_to_int", "code_from_int"]


class StatusCode(enum.Enum):
    """The status that ends every RPC.

    Example::

        if await call.code() == StatusCode.NOT_FOUND:
            ...
        assert StatusCode.NOT_FOUND == grpc.StatusCode.NOT_FOUND
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

    def __eq__(self, other):
        if self is other:
            return True
        # grpc.StatusCode compares by identity and returns NotImplemented for our members,
        # so Python falls back to this method in both directions.
        value = getattr(other, "value", None)
        if isinstance(value, tuple) and type(other).__name__ == "StatusCode":
            return value == self.value
        return NotImplemented

    # Enum hashes the member name; grpcio's members do the same, so a dict keyed by
    # grpc.StatusCode finds our members and equal objects keep equal hashes.
    def __hash__(self):
        return hash(self._name_)


# Index = wire code; codes outside 0..16 become UNKNOWN (gRPC spec).
_BY_INT = tuple(StatusCode)
_UNKNOWN = StatusCode.UNKNOWN


def code_from_int(code: int) -> StatusCode:
    """The StatusCode for a wire code; anything unknown maps to UNKNOWN."""
    if 0 <= code <= 16:
        return _BY_INT[code]
    return _UNKNOWN


def code_to_int(code) -> int:
    """The wire number of a StatusCode-like value: ours, grpc's, or a plain int 0..16."""
    value = getattr(code, "value", None)
    if isinstance(value, tuple) and value and isinstance(value[0], int):
        number = value[0]
    elif isinstance(code, int) and not isinstance(code, bool):
        number = code
    else:
        raise UsageError(f"expected a StatusCode (turbogrpc or grpc) or an int, got {code!r}")
    if not 0 <= number <= 16:
        raise UsageError(f"status code {number} is out of range 0..16")
    return number
