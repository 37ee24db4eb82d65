"""The server's checks of what crosses between a handler and the engine, and the texts of its
failures, for both APIs: a response serialized and checked to be bytes or a contiguous buffer,
status details checked to be text, exception texts for details, and the last resort that ends
a call INTERNAL with our own text when the engine refused what the handler gave.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional, TypeGuard

from .. import _engine

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

    from ._typing import MetadatumType, SerializingFunction

__all__ = ["SERIALIZE_RESPONSE_FAILED", "DESERIALIZE_REQUEST_FAILED", "NO_REQUEST",
           "MAX_FAILURE_DETAILS", "serialize_response", "is_contiguous_buffer", "exception_text",
           "describe_exception", "details_problem", "send_internal", "finish_refused", "BadRequest",
           "METHOD_NOT_FOUND", "CONCURRENCY_EXCEEDED", "SHUTTING_DOWN"]

# The asyncio API's logger, as before these checks were shared.
_LOGGER = logging.getLogger("turbogrpc.aio")
_INTERNAL = 13
SERIALIZE_RESPONSE_FAILED = "Exception serializing response!"
DESERIALIZE_REQUEST_FAILED = "Exception deserializing request!"
NO_REQUEST = "Expected one request message, the client sent none"
MAX_FAILURE_DETAILS = 1024  # characters of our own failure text sent as grpc-message
# How a server refuses a call before any handler runs (grpc's texts, but the last).
METHOD_NOT_FOUND = "Method not found!"
CONCURRENCY_EXCEEDED = "Concurrent RPC limit exceeded!"
SHUTTING_DOWN = "Server is shutting down"


def serialize_response(message: object, serializer: SerializingFunction | None
                       ) -> ReadableBuffer:
    """One response as the engine takes it: serialized (or a str encoded), and checked to be
    bytes or a contiguous buffer. Raises what the serializer raised, or TypeError."""
    if serializer is not None:
        message = serializer(message)
    elif isinstance(message, str):
        return message.encode("utf-8")
    if type(message) is bytes:
        return message
    if message is None and serializer is None:
        raise TypeError("the handler returned None instead of a response message")
    if not is_contiguous_buffer(message):
        where = "the response serializer returned" if serializer is not None else (
            "the method has no response_serializer and the handler gave")
        raise TypeError(f"a response must be bytes or a buffer; {where} {type(message).__name__}")
    return message


def is_contiguous_buffer(obj: Any) -> TypeGuard[ReadableBuffer]:
    try:
        with memoryview(obj) as view:
            return view.contiguous
    except TypeError:
        return False


def exception_text(exc: BaseException) -> str:
    """``str(exc)``, even when the exception's __str__ raises."""
    try:
        return str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not stop the call from ending
        return f"<{type(exc).__name__} whose str() failed>"


def describe_exception(exc: BaseException) -> str:
    """``TypeName: message`` of an exception (just the name when it has no message)."""
    text = exception_text(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def details_problem(details: object) -> str | None:
    """Why ``details`` cannot be a status message, or None."""
    if not isinstance(details, str):
        return f"Invalid status details: expected str, got {type(details).__name__}"
    try:
        details.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"Invalid status details: not encodable as UTF-8 ({exc.reason})"
    return None


def send_internal(call_id: int, text: str) -> None:
    """Ends a server call INTERNAL with our own ``text`` and nothing from the handler."""
    if len(text) > MAX_FAILURE_DETAILS:
        text = text[:MAX_FAILURE_DETAILS - 3] + "..."
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    try:
        _engine.finish(call_id, None, None, _INTERNAL, text, ())
        return
    except Exception:  # noqa: BLE001 - MemoryError or a dead engine: reset the stream instead
        _LOGGER.exception("turbogrpc: cannot end call %d with INTERNAL; resetting it", call_id)
    try:
        _engine.cancel(call_id, _INTERNAL, "")
    except Exception:  # noqa: BLE001 - nothing left to try; the engine's deadline or stop ends it
        _LOGGER.exception("turbogrpc: cannot reset call %d", call_id)


def finish_refused(call_id: int, method: str, exc: Exception,
                   initial: Optional[Sequence[MetadatumType]],
                   trailing: Sequence[MetadatumType], message: Optional[ReadableBuffer],
                   details: object, logger: logging.Logger) -> None:
    """The engine refused a server call's finish with ``exc``: say (on ``logger``) which part
    was wrong, and end the call INTERNAL.

    Status code and compression were validated when they were set, so what is left is the
    details, the response, and the two metadata sets. The engine checks the initial metadata
    first: if both sets are present, a second try with the initial set alone tells which one
    is wrong (and still delivers the initial set when it is fine).
    """
    text = details_problem(details)
    if text is None and message is not None and not is_contiguous_buffer(message):
        text = f"{SERIALIZE_RESPONSE_FAILED} {describe_exception(exc)}"
    metadata = initial or trailing
    if text is None and metadata and isinstance(exc, (TypeError, ValueError)):
        where = "initial" if initial else "trailing"
        if initial and trailing:
            text = f"Invalid trailing metadata: {describe_exception(exc)}"
            try:
                _engine.finish(call_id, initial, None, _INTERNAL, text[:MAX_FAILURE_DETAILS], ())
            except Exception as initial_exc:  # noqa: BLE001 - the initial set is wrong
                exc = initial_exc
            else:
                logger.error("turbogrpc: %s: %s", method, text)
                return
        text = f"Invalid {where} metadata: {describe_exception(exc)}"
    if text is None:
        text = f"Cannot end the call: {describe_exception(exc)}"
    logger.error("turbogrpc: %s: %s", method, text)
    send_internal(call_id, text)


class BadRequest(Exception):
    """A request message could not be deserialized (the call ends INTERNAL, not UNKNOWN)."""
