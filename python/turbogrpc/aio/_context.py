"""ServicerContext: one server call as a handler sees it.

The context holds the status the handler builds (code, details, trailing metadata) and reads
and writes the call's streams; ending the call (the one ``_engine.finish``, or INTERNAL when
what the handler hands over is unusable) is its base's, ServerCall (_server_call.py).
Methods that grpcio's sync API calls from worker threads (``abort``, ``set_code``,
``send_initial_metadata``) work both from the loop and from a sync handler's thread.

Where grpc.aio checks at once, so does this context: trailing metadata of the wrong types
raises TypeError from ``set_trailing_metadata`` / ``abort``, and ``set_compression`` after the
response headers raises RuntimeError (both are UsageErrors too).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, NoReturn, Protocol

from .. import _engine
from .._core._compression import compression_value
from .._core._errors import UsageError, UsageRuntimeError
from .._core._grpcio import register_with_grpcio
from .._core._message_reader import as_bytes
from .._core._metadata import _Metadatum, as_pairs, checked_pairs
from .._core._server_checks import (
    SERIALIZE_RESPONSE_FAILED, BadRequest, describe_exception, serialize_response,
)
from .._core._server_security import auth_context_dict, peer_identities, peer_identity_key
from .._core._status import code_from_int, code_to_int
from .._core._typing import (
    DoneCallbackType, MetadataType, MetadatumType, RequestType, ResponseType,
)
from ._rpc_error import EOF, AbortError
from ._server_call import ServerCall

if TYPE_CHECKING:
    from .._core._compression import Compression
    from .._core._message_reader import RawMessage
    from .._core._status import StatusCode
    from ._rpc_error import _EOFType

__all__ = ["ServicerContext"]

_OK = 0


def _CHECK_ONLY(message: bytes) -> bytes:  # a serializer that already ran: only checked
    return message


class _Status(Protocol):
    """What ``abort_with_status`` reads of a grpc.Status (``trailing_metadata`` if it has it)."""

    @property
    def code(self) -> StatusCode: ...
    @property
    def details(self) -> str: ...


class _Ready:
    """Awaitable that is already done: lets a method work with and without ``await``."""

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        return
        yield  # pragma: no cover - makes this a generator


_READY = _Ready()


class ServicerContext(ServerCall[RequestType, ResponseType]):
    """The per-call context a handler receives (ServicerContext[Request, Response], as grpc.aio's).

    Example::

        async def GetFeature(self, request, context):
            if context.invocation_metadata() ...:
                await context.abort(StatusCode.PERMISSION_DENIED, "no access")
            context.set_trailing_metadata((("cost", "3"),))
            return feature
    """

    __slots__ = ()  # ServerCall's

    # -- streams ------------------------------------------------------------------------

    async def read(self) -> RequestType:
        """The next request of a request stream, or ``EOF`` at its end."""
        raw = await self._read_raw()
        if raw is EOF:
            return raw  # type: ignore[return-value]  # grpc.aio's read() -> RequestType too
        # (``is EOF`` does not narrow raw for the checker; no deserializer: requests are bytes)
        if self._deserializer is None:
            return as_bytes(raw)  # type: ignore[arg-type, return-value]
        try:
            return self._deserializer(raw)  # type: ignore[arg-type]
        except Exception as exc:
            raise BadRequest(f"cannot deserialize a request of {self._method}") from exc

    async def _read_raw(self) -> RawMessage | _EOFType:
        while True:
            if self._messages:
                # Both deques or neither (see _hold_request).
                self._request_compressed = (
                    self._compressed_flags.popleft())  # type: ignore[union-attr]
                return self._messages.popleft()
            if self._request_ended or self._finished:
                return EOF
            if self._read_waiter is not None:
                raise UsageError("another read() is already waiting on this call")
            if not self._reads_pending:
                self._reads_pending = 1
                _engine.read(self._call_id)
            waiter = self._read_waiter = self._state.loop.create_future()
            try:
                await waiter
            finally:
                self._read_waiter = None

    async def write(self, message: ResponseType) -> None:
        """Sends one response of a response stream; waits only while the engine holds too much
        unsent data for this call (flow control)."""
        if self._finished:
            raise AbortError("the RPC has already ended")
        if self._write_waiter is not None:
            raise UsageError("another write() is still in progress on this call")
        # The common case (a serializer that returns bytes) costs no call beyond the serializer:
        # streamed writes are the hot path of server streaming.
        serializer = self._serializer
        try:
            # From here on ``message`` is what the engine sends (bytes or a buffer).
            if serializer is not None:
                message = serializer(message)  # type: ignore[assignment]
            if type(message) is not bytes:
                message = serialize_response(  # type: ignore[assignment]
                    message, None if serializer is None else _CHECK_ONLY)
        except Exception as exc:
            self._fail(f"{SERIALIZE_RESPONSE_FAILED} {describe_exception(exc)}", exc)
            raise
        size = (len(message) if type(message) is bytes  # type: ignore[arg-type]
                else memoryview(message).nbytes)  # type: ignore[arg-type]
        self._flush_initial_metadata()
        self._initial_sent = True  # the first message carries the headers
        try:
            _engine.send_message(self._call_id, message, False, self._compress_next,
                                 self._compression, self._writes.would_wait(size))
        except Exception as exc:  # noqa: BLE001 - MemoryError copying it: end the call
            self._fail(f"Cannot send a response: {describe_exception(exc)}", exc)
            raise
        self._compress_next = True
        if not self._writes.sent(size):
            return
        waiter = self._write_waiter = self._state.loop.create_future()
        try:
            accepted = await waiter
        finally:
            self._write_waiter = None
        if not accepted:
            raise AbortError("the RPC has ended; the message was not sent")

    def _flush_initial_metadata(self) -> None:
        if self._initial_pending is not None:
            initial, self._initial_pending = self._initial_pending, None
            try:
                _engine.send_initial_metadata(self._call_id, initial, self._compression)
            except Exception as exc:  # noqa: BLE001 - wrong types or values from the handler
                self._fail(f"Invalid initial metadata: {describe_exception(exc)}", exc)
                raise

    # -- metadata and status -------------------------------------------------------------

    def invocation_metadata(self) -> tuple[_Metadatum, ...]:
        """The client's metadata: a tuple of (key, value) pairs (with .key and .value)."""
        if self._metadata is None:
            self._metadata = tuple(_Metadatum(pair) for pair in self._raw_metadata)
        return self._metadata

    def send_initial_metadata(self, initial_metadata: MetadataType) -> Awaitable[None]:
        """Sends initial metadata now (streaming) or with the response (unary). Awaitable."""
        if self._initial_sent:
            raise UsageError("initial metadata was already sent")
        if self._finished:
            raise UsageError("the RPC has already ended")
        self._initial_sent = True
        self._initial_pending = tuple(as_pairs(initial_metadata))
        if not self._defer_initial:
            self._flush_initial_metadata()
        return _READY

    def set_trailing_metadata(self, trailing_metadata: MetadataType) -> None:
        """Sets the trailing metadata sent with the status; raises TypeError (a UsageError too)
        at once for anything but (str, str or bytes) pairs, as grpc.aio does."""
        self._trailing = checked_pairs(trailing_metadata, "trailing")

    def trailing_metadata(self) -> tuple[MetadatumType, ...]:
        return self._trailing

    def set_code(self, code: StatusCode) -> None:
        self._code = code_to_int(code)

    def code(self) -> StatusCode | None:
        return None if self._code is None else code_from_int(self._code)

    def set_details(self, details: str) -> None:
        self._details = details

    def details(self) -> str | None:
        return self._details

    def abort(self, code: StatusCode, details: str = "",
              trailing_metadata: MetadataType = ()) -> NoReturn:
        """Ends the RPC with a non-OK status by raising AbortError; let it propagate.

        Use ``await context.abort(...)`` in async handlers; in sync handlers it raises
        directly, as grpcio's sync API does.
        """
        if self._aborted:
            raise UsageError("Abort already called!")
        number = code_to_int(code)
        if number == _OK:
            raise UsageError("abort() needs a non-OK status code")
        trailing = checked_pairs(trailing_metadata, "trailing") if trailing_metadata else None
        self._aborted = True
        self._code = number
        if details or not self._details:
            self._details = details
        if trailing:
            self._trailing = trailing
        raise AbortError("Locally aborted.")

    def abort_with_status(self, status: _Status) -> NoReturn:
        self.abort(status.code, status.details, getattr(status, "trailing_metadata", ()))

    def set_compression(self, compression: Compression) -> None:
        """Compresses this call's responses with ``compression`` (if the client accepts it).

        Must come before the response headers go out (the first write, or an explicit
        ``send_initial_metadata`` on a streaming call); after, it raises RuntimeError (a
        UsageError too), as grpc.aio does.
        """
        if self._initial_sent and self._initial_pending is None:
            raise UsageRuntimeError(
                "Compression setting must be specified before sending initial metadata")
        self._compression = compression_value(compression)

    def disable_next_message_compression(self) -> None:
        """Sends the next response message uncompressed, whatever the call's compression."""
        self._compress_next = False

    def last_request_compressed(self) -> bool:
        """Whether the request message last returned to the handler crossed the wire compressed.

        A turbogrpc extension (grpc.aio has no equivalent), e.g. for the interop tests.
        """
        return self._request_compressed

    # -- call state -------------------------------------------------------------------------

    def time_remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(self._deadline - time.monotonic(), 0.0)

    def cancelled(self) -> bool:
        return self._cancelled

    def done(self) -> bool:
        return self._finished

    def is_active(self) -> bool:
        return not self._finished

    def add_done_callback(self, callback: DoneCallbackType) -> None:
        """Calls ``callback(context)`` once the RPC has ended (finished, cancelled or aborted);
        at once if it already has. A callback that raises is logged; the others still run."""
        if self._finished:
            callback(self)
        elif self._done_callbacks is None:
            self._done_callbacks = [callback]
        else:
            self._done_callbacks.append(callback)

    def add_callback(self, callback: Callable[[], None]) -> bool:
        """grpc's sync API: ``callback()`` (no argument) runs once the RPC has ended. Returns
        False, without calling it, if the RPC already ended (grpc's rule)."""
        if self._finished:
            return False
        self.add_done_callback(lambda _context: callback())
        return True

    def peer(self) -> str:
        return self._peer

    def peer_identities(self) -> list[bytes] | None:
        """The peer's identities (bytes; its certificate's names), or None if unauthenticated."""
        return peer_identities(self._auth)

    def peer_identity_key(self) -> str | None:
        """The auth_context() key that identifies the peer, or None if unauthenticated."""
        return peer_identity_key(self._auth)

    def is_peer_authenticated(self) -> bool:
        return peer_identity_key(self._auth) is not None

    def auth_context(self) -> dict[str, list[bytes]]:
        """The connection's security as grpc reports it: {name: [bytes values]}."""
        return auth_context_dict(self._auth)

    def __repr__(self) -> str:
        return f"<ServicerContext {self._method} call_id={self._call_id}>"


register_with_grpcio(ServicerContext, "aio.ServicerContext")
register_with_grpcio(ServicerContext, "ServicerContext")  # sync handlers get it too
