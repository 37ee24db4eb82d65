"""What a channel makes of its caller's arguments, the same in both APIs: the authority a
target names (what call credentials see as the host), a method's path, a call's timeout."""

from __future__ import annotations

from typing import Optional

from .. import _engine
from ._errors import UsageError

__all__ = ["authority_of", "method_path", "check_call_options"]


def authority_of(target: str) -> str:
    """The :authority ``target`` names (grpc-core's default authority), from the engine's own
    target parser (cpp/src/io/target.h), so targets are parsed in one place; a malformed target
    is a UsageError naming it and what is wrong, raised when the channel is made."""
    try:
        return _engine.target_authority(target)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def method_path(method: str | bytes) -> str:
    if isinstance(method, bytes):
        method = method.decode("ascii")
    if not isinstance(method, str) or not method.startswith("/"):
        raise UsageError(f"method must be a path like '/package.Service/Method', got {method!r}")
    return method


def check_call_options(timeout: Optional[float]) -> None:
    if timeout is not None and not isinstance(timeout, (int, float)):
        raise UsageError(f"timeout must be a number of seconds or None, got {timeout!r}")
    if timeout is not None and timeout != timeout:
        raise UsageError("timeout is NaN: give a number of seconds, or None for no deadline")
