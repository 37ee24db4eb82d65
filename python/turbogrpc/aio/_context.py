"""ServicerContext: one server call as a handler sees it (also its event sink).

The context holds the status the handler builds (code, details, trailing metadata), reads
and writes the call's streams, and sends exactly one ``_engine.finish`` at the end.
Methods that grpcio's sync API calls from worker threads (``abort``, ``set_code``,
``send_initial_metadata``) work both from the loop and from a sync handler's thread.
"""

import logging
import time

from .. import _engine
from .._errors import UsageError
from .._status import code_from_int, code_to_int
from ._completion import MESSAGE, SERVER_DONE, WRITE_DONE, run_done_callbacks, settle
from ._compression import compression_value
from ._message_reader import as_bytes
from ._metadata import as_pairs
from ._write_window import WriteWindow
from ._rpc_error import EOF, AbortError

__all__ = ["ServicerContext", "BadRequest"]

_LOGGER = logging.getLogger("turbogrpc.aio")
_OK, _CANCELLED, _INTERNAL = 0, 1, 13


class BadRequest(Exception):
    """A request message could not be deserialized (the call ends INTERNAL, not UNKNOWN)."""


class _Metadatum(tuple):
    """A (key, value) pair that also has .key and .value, like grpc's."""

    __slots__ = ()
    key = property(lambda self: self[0])
    value = property(lambda self: self[1])


class _Ready:
    """Awaitable that is already done: lets a method work with and without ``await``."""

    __slots__ = ()

    def __await__(self):
        return
        yield  # pragma: no cover - makes this a generator


_READY = _Ready()


class ServicerContext:
    """The per-call context a handler receives.

    Example::

        async def GetFeature(self, request, context):
            if context.invocation_metadata() ...:
                await context.abort(StatusCode.PERMISSION_DENIED, "no access")
            context.set_trailing_metadata((("cost", "3"),))
            return feature
    """

    __slots__ = (
        "_server", "_state", "_call_id", "_method", "_raw_metadata", "_metadata", "_deadline",
        "_peer", "_authority", "_serializer", "_deserializer", "_defer_initial",
        "_code", "_details", "_trailing", "_initial_pending", "_initial_sent", "_finished",
        "_cancelled", "_aborted", "_task", "_done_callbacks", "_messages", "_reads_pending",
        "_request_ended", "_read_waiter", "_write_waiter", "_compression", "_compress_next",
        "_compressed_flags", "_request_compressed", "_writes", "__weakref__",
    )

    def __init__(self, server, state, call_id, method, metadata, timeout, peer, authority):
        self._server = server
        self._state = state
        self._call_id = call_id
        self._method = method
        self._raw_metadata = metadata
        self._metadata = None
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._peer = peer
        self._authority = authority
        self._serializer = None
        self._deserializer = None
        self._defer_initial = True  # unary responses send initial metadata with finish
        self._code = None  # set_code() value (int) or None
        self._details = None
        self._trailing = ()
        self._initial_pending = None
        self._initial_sent = False
        self._finished = False  # finish sent, or the engine ended the call
        self._cancelled = False
        self._aborted = False
        self._task = None
        self._done_callbacks = None
        self._messages = None
        self._reads_pending = 0
        self._request_ended = False
        self._read_waiter = None
        self._write_waiter = None
        self._compression = server._compression  # for the responses (engine numbering)
        self._compress_next = True  # False after disable_next_message_compression()
        self._compressed_flags = None  # with _messages: how each held request arrived
        self._request_compressed = False
        self._writes = WriteWindow()

    # -- ending the call ----------------------------------------------------------------

    def _finish(self, message, code, details):
        """Sends the one finish (response, status, trailers) unless the call already ended."""
        if self._finished:
            return
        self._finished = True
        if self._task is not None or self._messages is not None:  # registered: see _handlers
            self._state.calls.pop(self._call_id, None)
        initial = self._initial_pending
        self._initial_pending = None
        try:
            _engine.finish(self._call_id, initial, message, code, details, self._trailing,
                           self._compression, self._compress_next)
        except ValueError as exc:  # bad trailing metadata: tell the client something useful
            _LOGGER.error("turbogrpc: invalid trailing metadata for %s: %s", self._method, exc)
            _engine.finish(self._call_id, None, None, _INTERNAL, f"Invalid metadata: {exc}", ())
        self._server._call_ended()
        if self._done_callbacks:
            self._run_done_callbacks()

    def _finish_with_status(self, message=None):
        """Finish with the status the handler set (OK when it set none)."""
        code = _OK if self._code is None else self._code
        self._finish(message if code == _OK else None, code, self._details or "")

    def _on_event(self, event):
        kind = event[0]
        if kind == MESSAGE:
            if self._reads_pending:
                self._reads_pending -= 1
            if event[2] is None:
                self._request_ended = True
            else:
                self._messages.append(event[2])
                self._compressed_flags.append(event[3])
            self._wake(False)
        elif kind == WRITE_DONE:
            if self._writes.acked(event[2]):
                waiter, self._write_waiter = self._write_waiter, None
                settle(waiter, event[2])
        elif kind == SERVER_DONE:
            self._ended_by_engine(event[2], event[3])

    def _ended_by_engine(self, code, details):
        """The call ended without our finish: client cancel, deadline, stop, lost connection."""
        if self._finished:
            return
        self._finished = True
        self._cancelled = True
        self._state.calls.pop(self._call_id, None)
        task = self._task
        if task is not None and not task.done():
            task.cancel()  # cancel first so pending awaits raise CancelledError
        self._wake(True)
        self._server._call_ended()
        self._run_done_callbacks()

    def _wake(self, write_too):
        waiter, self._read_waiter = self._read_waiter, None
        settle(waiter, None)
        if write_too:
            waiter, self._write_waiter = self._write_waiter, None
            settle(waiter, False)

    def _run_done_callbacks(self):
        callbacks = self._done_callbacks
        if callbacks:
            self._done_callbacks = None
            run_done_callbacks(callbacks, self)

    # -- streams ------------------------------------------------------------------------

    async def read(self):
        """The next request of a request stream, or ``EOF`` at its end."""
        raw = await self._read_raw()
        if raw is EOF:
            return raw
        if self._deserializer is None:
            return as_bytes(raw)
        try:
            return self._deserializer(raw)
        except Exception as exc:
            raise BadRequest(f"cannot deserialize a request of {self._method}") from exc

    async def _read_raw(self):
        while True:
            if self._messages:
                self._request_compressed = self._compressed_flags.popleft()
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

    async def write(self, message):
        """Sends one response of a response stream; waits only while the engine holds too much
        unsent data for this call (flow control)."""
        if self._finished:
            raise AbortError("the RPC has already ended")
        if self._write_waiter is not None:
            raise UsageError("another write() is still in progress on this call")
        serializer = self._serializer
        if serializer is not None:
            message = serializer(message)
        elif isinstance(message, str):
            message = message.encode("utf-8")
        self._flush_initial_metadata()
        self._initial_sent = True  # the first message carries the headers
        _engine.send_message(self._call_id, message, False, self._compress_next, self._compression,
                             self._writes.would_wait(len(message)))
        self._compress_next = True
        if not self._writes.sent(len(message)):
            return
        waiter = self._write_waiter = self._state.loop.create_future()
        try:
            accepted = await waiter
        finally:
            self._write_waiter = None
        if not accepted:
            raise AbortError("the RPC has ended; the message was not sent")

    def _flush_initial_metadata(self):
        if self._initial_pending is not None:
            initial, self._initial_pending = self._initial_pending, None
            _engine.send_initial_metadata(self._call_id, initial, self._compression)

    # -- metadata and status -------------------------------------------------------------

    def invocation_metadata(self):
        """The client's metadata: a tuple of (key, value) pairs (with .key and .value)."""
        if self._metadata is None:
            self._metadata = tuple(_Metadatum(pair) for pair in self._raw_metadata)
        return self._metadata

    def send_initial_metadata(self, initial_metadata):
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

    def set_trailing_metadata(self, trailing_metadata):
        self._trailing = tuple(as_pairs(trailing_metadata))

    def trailing_metadata(self):
        return self._trailing

    def set_code(self, code):
        self._code = code_to_int(code)

    def code(self):
        return None if self._code is None else code_from_int(self._code)

    def set_details(self, details):
        self._details = details

    def details(self):
        return self._details

    def abort(self, code, details="", trailing_metadata=()):
        """Ends the RPC with a non-OK status by raising AbortError; let it propagate.

        Use ``await context.abort(...)`` in async handlers; in sync handlers it raises
        directly, as grpcio's sync API does.
        """
        if self._aborted:
            raise UsageError("Abort already called!")
        number = code_to_int(code)
        if number == _OK:
            raise UsageError("abort() needs a non-OK status code")
        self._aborted = True
        self._code = number
        if details or not self._details:
            self._details = details
        if trailing_metadata:
            self._trailing = tuple(as_pairs(trailing_metadata))
        raise AbortError("Locally aborted.")

    def abort_with_status(self, status):
        self.abort(status.code, status.details, getattr(status, "trailing_metadata", ()))

    def set_compression(self, compression):
        """Compresses this call's responses with ``compression`` (if the client accepts it).

        Must come before the response headers go out (the first write, or an explicit
        ``send_initial_metadata`` on a streaming call).
        """
        if self._initial_sent and self._initial_pending is None:
            raise UsageError("Compression setting must be specified before sending initial metadata")
        self._compression = compression_value(compression)

    def disable_next_message_compression(self):
        """Sends the next response message uncompressed, whatever the call's compression."""
        self._compress_next = False

    def last_request_compressed(self) -> bool:
        """Whether the request message last returned to the handler crossed the wire compressed.

        A turbogrpc extension (grpc.aio has no equivalent), e.g. for the interop tests.
        """
        return self._request_compressed

    # -- call state -------------------------------------------------------------------------

    def time_remaining(self):
        if self._deadline is None:
            return None
        return max(self._deadline - time.monotonic(), 0.0)

    def cancelled(self):
        return self._cancelled

    def done(self):
        return self._finished

    def is_active(self):
        return not self._finished

    def add_done_callback(self, callback):
        if self._finished:
            callback(self)
        elif self._done_callbacks is None:
            self._done_callbacks = [callback]
        else:
            self._done_callbacks.append(callback)

    add_callback = add_done_callback  # grpcio's sync name

    def peer(self):
        return self._peer

    def peer_identities(self):
        return None

    def peer_identity_key(self):
        return None

    def auth_context(self):
        return {}

    def __repr__(self):
        return f"<ServicerContext {self._method} call_id={self._call_id}>"
