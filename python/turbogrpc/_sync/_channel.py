"""The blocking API's Channel (grpcio's ``grpc.Channel``) and its connectivity subscriptions.

A blocking channel is an engine channel of its own (not shared with aio channels to the same
target: each has its own connections, as two grpcio channels do). Safe to share between
threads: calls only submit engine commands.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Optional

from .. import _engine
from .._core._channel_arguments import method_path
from .._core._channel_setup import open_channel
from .._core._connectivity import ChannelConnectivity, state_of
from .._core._errors import UsageError
from .._core._grpcio import register_with_grpcio
from ._multicallable import (
    Deserializer, Serializer, StreamStreamMultiCallable, StreamUnaryMultiCallable,
    UnaryStreamMultiCallable, UnaryUnaryMultiCallable,
)
from ._queues import dispatcher

if TYPE_CHECKING:
    from typing_extensions import Self

    from .._core._compression import Compression
    from .._core._credentials import ChannelCredentials
    from .._core._typing import ChannelArgumentType

__all__ = ["Channel", "insecure_channel", "secure_channel"]

_LOGGER = logging.getLogger("turbogrpc")
_SHUTDOWN = 4
Subscriber = Callable[[ChannelConnectivity], None]


def insecure_channel(target: str, options: Optional[ChannelArgumentType] = None,
                     compression: Optional[Compression] = None) -> Channel:
    """A plaintext (h2c) channel to ``target``.

    Example::

        with turbogrpc.insecure_channel("localhost:50051") as channel:
            reply = GreeterStub(channel).SayHello(HelloRequest(name="you"))
    """
    return Channel(target, options, compression)


def secure_channel(target: str, credentials: ChannelCredentials,
                   options: Optional[ChannelArgumentType] = None,
                   compression: Optional[Compression] = None) -> Channel:
    """A channel secured by ``credentials`` (TLS, or local credentials).

    Example::

        credentials = turbogrpc.ssl_channel_credentials(root_certificates=ca_pem)
        with turbogrpc.secure_channel("api.example.com:443", credentials) as channel:
            ...
    """
    if credentials is None:
        raise UsageError("secure_channel() needs channel credentials, e.g. ssl_channel_credentials()")
    return Channel(target, options, compression, credentials)


class _Subscriptions:
    """The channel's connectivity callbacks, fed by engine watches on the dispatcher thread.

    Each callback is told every state it has not been told yet (the current one first, on
    subscribing); one watch is outstanding while anyone listens (plus one per new subscriber,
    answered at once with the current state)."""

    def __init__(self, channel_id: int) -> None:
        self._channel_id = channel_id
        self._token = _engine.next_id()
        self._lock = threading.Lock()
        self._told: dict[Subscriber, Optional[ChannelConnectivity]] = {}
        self._outstanding = 0
        self._closed = False

    def add(self, callback: Subscriber) -> None:
        with self._lock:
            if self._closed:
                return
            self._told[callback] = None
            if not self._outstanding:
                dispatcher().register(self._token, self)
            self._outstanding += 1
            # The engine answers at once: SHUTDOWN is never the state of a channel still open.
            _engine.watch_channel(self._channel_id, dispatcher().cq, self._token, _SHUTDOWN)

    def remove(self, callback: Subscriber) -> None:
        with self._lock:
            self._told.pop(callback, None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._told.clear()

    def _on_event(self, event: tuple[Any, ...]) -> None:  # the dispatcher thread
        state = state_of(event[2])
        with self._lock:
            self._outstanding -= 1
            due = [callback for callback, told in self._told.items() if told is not state]
            for callback in due:
                self._told[callback] = state
            if self._told and not self._outstanding and state is not ChannelConnectivity.SHUTDOWN:
                self._outstanding += 1
                _engine.watch_channel(self._channel_id, dispatcher().cq, self._token, state.value[0])
            elif not self._outstanding:
                dispatcher().unregister(self._token)
        for callback in due:
            try:
                callback(state)
            except Exception:
                _LOGGER.exception("turbogrpc: a connectivity callback raised")


class Channel:
    """A channel to one target (grpcio's ``grpc.Channel``); safe to share between threads.

    Example::

        channel = turbogrpc.insecure_channel("localhost:50051")
        say_hello = channel.unary_unary("/helloworld.Greeter/SayHello")
        reply = say_hello(b"raw request bytes", timeout=1)
        channel.close()
    """

    def __init__(self, target: str, options: Optional[ChannelArgumentType] = None,
                 compression: Optional[Compression] = None,
                 credentials: Optional[ChannelCredentials] = None) -> None:
        self._engine_channel = open_channel(target, options, compression, credentials)
        self._subscriptions = _Subscriptions(self._engine_channel.channel_id)
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise UsageError("Channel is closed")

    def unary_unary(self, method: str, request_serializer: Optional[Serializer] = None,
                    response_deserializer: Optional[Deserializer] = None,
                    _registered_method: Optional[bool] = False) -> UnaryUnaryMultiCallable:
        self._check_open()
        return UnaryUnaryMultiCallable(self._engine_channel, method_path(method),
                                       request_serializer, response_deserializer)

    def unary_stream(self, method: str, request_serializer: Optional[Serializer] = None,
                     response_deserializer: Optional[Deserializer] = None,
                     _registered_method: Optional[bool] = False) -> UnaryStreamMultiCallable:
        self._check_open()
        return UnaryStreamMultiCallable(self._engine_channel, method_path(method),
                                        request_serializer, response_deserializer)

    def stream_unary(self, method: str, request_serializer: Optional[Serializer] = None,
                     response_deserializer: Optional[Deserializer] = None,
                     _registered_method: Optional[bool] = False) -> StreamUnaryMultiCallable:
        self._check_open()
        return StreamUnaryMultiCallable(self._engine_channel, method_path(method),
                                        request_serializer, response_deserializer)

    def stream_stream(self, method: str, request_serializer: Optional[Serializer] = None,
                      response_deserializer: Optional[Deserializer] = None,
                      _registered_method: Optional[bool] = False) -> StreamStreamMultiCallable:
        self._check_open()
        return StreamStreamMultiCallable(self._engine_channel, method_path(method),
                                         request_serializer, response_deserializer)

    def subscribe(self, callback: Subscriber, try_to_connect: bool = False) -> None:
        """Calls ``callback(state)`` with the current connectivity state and then with each
        change (on turbogrpc's dispatcher thread); ``try_to_connect`` starts connecting."""
        self._check_open()
        self._subscriptions.add(callback)
        if try_to_connect:
            _engine.connect_channel(self._engine_channel.channel_id)

    def unsubscribe(self, callback: Subscriber) -> None:
        self._subscriptions.remove(callback)

    def close(self) -> None:
        """Closes the channel: calls still running end CANCELLED ("Channel closed!").
        Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._subscriptions.close()
        self._engine_channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            try:
                self._engine_channel.close()
            except Exception:
                pass


register_with_grpcio(Channel, "Channel")
