"""Channel: a connection target plus the factory of multicallables (client side).

The engine connects lazily, so creating a channel never blocks and needs no running loop.
A channel belongs to the event loop it is first used on; using it from another loop is a
UsageError (each loop has its own completion queue and a call's events stay on it), unless
that first loop has been closed: then the channel moves to the new loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Optional

from .. import _engine
from .._core._channel_arguments import method_path
from .._core._channel_setup import open_channel
from .._core._connectivity import ChannelConnectivity, state_of
from .._core._errors import UsageError
from .._core._generation import check_generation
from .._core._grpcio import register_with_grpcio
from .._core._typing import ChannelArgumentType
from ._client_interceptor import client_interceptors
from ._completion import loop_state
from ._connectivity import state_change
from ._multicallable import (
    StreamStreamMultiCallable, StreamUnaryMultiCallable, UnaryStreamMultiCallable,
    UnaryUnaryMultiCallable, intercepting_multicallable,
)

if TYPE_CHECKING:
    from typing_extensions import Self, TypeVar

    from .._core._compression import Compression
    from .._core._credentials import ChannelCredentials
    from ._call import Call
    from ._client_interceptor import ClientInterceptor
    from ._completion import LoopState
    from ._multicallable import RequestSerializer, ResponseDeserializer

    # A multicallable's request and response types come from its serializers, as in grpc.aio;
    # without one, the messages are bytes (the defaults, for type checkers that know PEP 696).
    _Request = TypeVar("_Request", default=bytes)
    _Response = TypeVar("_Response", default=bytes)

__all__ = ["Channel", "ChannelConnectivity", "insecure_channel", "secure_channel"]



def insecure_channel(target: str, options: Optional[ChannelArgumentType] = None,
                     compression: Optional[Compression] = None,
                     interceptors: Optional[Sequence[ClientInterceptor]] = None) -> Channel:
    """Creates a plaintext (h2c) channel to ``target``.

    ``interceptors``: client interceptors (grpc.aio's UnaryUnaryClientInterceptor etc.), run
    in order on every call of their kind, the first outermost.

    Example::

        async with aio.insecure_channel("localhost:50051") as channel:
            stub = GreeterStub(channel)
            reply = await stub.SayHello(HelloRequest(name="you"))
    """
    return Channel(target, options, compression, interceptors)


def secure_channel(target: str, credentials: ChannelCredentials,
                   options: Optional[ChannelArgumentType] = None,
                   compression: Optional[Compression] = None,
                   interceptors: Optional[Sequence[ClientInterceptor]] = None) -> Channel:
    """Creates a channel secured by ``credentials`` (TLS, or local credentials).

    Example::

        credentials = turbogrpc.ssl_channel_credentials(root_certificates=ca_pem)
        async with aio.secure_channel("api.example.com:443", credentials) as channel:
            reply = await GreeterStub(channel).SayHello(HelloRequest(name="you"))
    """
    if credentials is None:
        raise UsageError("secure_channel() needs channel credentials, e.g. ssl_channel_credentials()")
    return Channel(target, options, compression, interceptors, credentials)


class Channel:
    """A channel to one target; safe to share between the tasks of one event loop.

    Example::

        channel = aio.insecure_channel("localhost:50051",
                                       options=[("grpc.max_receive_message_length", -1)])
        say_hello = channel.unary_unary("/helloworld.Greeter/SayHello")
        reply = await say_hello(b"raw request bytes")
        await channel.close()
    """

    def __init__(self, target: str, options: Optional[ChannelArgumentType] = None,
                 compression: Optional[Compression] = None,
                 interceptors: Optional[Sequence[ClientInterceptor]] = None,
                 credentials: Optional[ChannelCredentials] = None) -> None:
        # (unary-unary, unary-stream, stream-unary, stream-stream) tuples, or None.
        self._interceptors = client_interceptors(interceptors)
        engine_channel = open_channel(target, options, compression, credentials)
        self._target = target
        self._generation = engine_channel.generation
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._state: Optional[LoopState] = None
        self._closed = False
        # Tasks of interceptor chains that suspended; close() cancels them.
        self._chains: set[asyncio.Task[Any]] = set()
        # Calls without their own ``compression=`` use this (grpcio's option or argument).
        self._compression = engine_channel.compression
        self._security = engine_channel.security
        # What call credentials see as the host (AuthMetadataContext.service_url).
        self._authority = engine_channel.authority
        self._channel_id = engine_channel.channel_id
        self._engine_state = engine_channel.engine_state
        # last state seen -> the future of the next one: one engine watch per state, shared
        # by every waiter (bounded however often callers time out and ask again).
        self._watches: dict[ChannelConnectivity, asyncio.Future[ChannelConnectivity]] = {}

    def _loop_state(self) -> LoopState:
        """The LoopState calls of this channel use, binding the channel to the running loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise UsageError(
                "turbogrpc.aio calls must be made from a coroutine running in an event loop"
            ) from None
        if loop is self._loop and not self._closed and self._generation == _engine.generation():
            return self._state  # type: ignore[return-value]  # set together with _loop
        if self._closed:
            raise UsageError("Channel is closed")
        check_generation(self._generation, "channel")
        if self._loop is not None and self._loop is not loop and not self._loop.is_closed():
            raise UsageError(
                "this channel is bound to another event loop (the one it was first used on); "
                "create one channel per event loop"
            )
        self._state = loop_state(loop)
        self._loop = loop
        return self._state

    # -- multicallables ----------------------------------------------------------------

    def unary_unary(
        self, method: str,
        request_serializer: Optional[RequestSerializer[_Request]] = None,
        response_deserializer: Optional[ResponseDeserializer[_Response]] = None,
        _registered_method: Optional[bool] = False,
    ) -> UnaryUnaryMultiCallable[_Request, _Response]:
        if self._interceptors is not None:
            return intercepting_multicallable(0, self._interceptors[0], self,
                                              method_path(method), request_serializer,
                                              response_deserializer)
        return UnaryUnaryMultiCallable(self, method_path(method), request_serializer,
                                       response_deserializer)

    def unary_stream(
        self, method: str,
        request_serializer: Optional[RequestSerializer[_Request]] = None,
        response_deserializer: Optional[ResponseDeserializer[_Response]] = None,
        _registered_method: Optional[bool] = False,
    ) -> UnaryStreamMultiCallable[_Request, _Response]:
        if self._interceptors is not None:
            return intercepting_multicallable(1, self._interceptors[1], self,
                                              method_path(method), request_serializer,
                                              response_deserializer)
        return UnaryStreamMultiCallable(self, method_path(method), request_serializer,
                                        response_deserializer)

    def stream_unary(
        self, method: str,
        request_serializer: Optional[RequestSerializer[_Request]] = None,
        response_deserializer: Optional[ResponseDeserializer[_Response]] = None,
        _registered_method: Optional[bool] = False,
    ) -> StreamUnaryMultiCallable[_Request, _Response]:
        if self._interceptors is not None:
            return intercepting_multicallable(2, self._interceptors[2], self,
                                              method_path(method), request_serializer,
                                              response_deserializer)
        return StreamUnaryMultiCallable(self, method_path(method), request_serializer,
                                        response_deserializer)

    def stream_stream(
        self, method: str,
        request_serializer: Optional[RequestSerializer[_Request]] = None,
        response_deserializer: Optional[ResponseDeserializer[_Response]] = None,
        _registered_method: Optional[bool] = False,
    ) -> StreamStreamMultiCallable[_Request, _Response]:
        if self._interceptors is not None:
            return intercepting_multicallable(3, self._interceptors[3], self,
                                              method_path(method), request_serializer,
                                              response_deserializer)
        return StreamStreamMultiCallable(self, method_path(method), request_serializer,
                                         response_deserializer)

    # -- lifecycle ---------------------------------------------------------------------

    def _running_calls(self) -> list[Call]:
        state = self._state
        if state is None or state.loop.is_closed():
            return []  # a closed loop's calls can no longer be woken (nor awaited)
        calls: list[Call] = []
        entry: Any  # the loop's table holds every receiver: ours, _WeakEntry, servers' calls
        for entry in list(state.calls.values()):
            call = entry.get() if hasattr(entry, "ref") else entry
            if getattr(call, "_channel", None) is self and call._code is None:
                calls.append(call)
        return calls

    async def close(self, grace: Optional[float] = None) -> None:
        """Closes the channel; running calls end CANCELLED (after ``grace`` seconds if given).

        Idempotent. Awaiting a call cancelled this way raises asyncio.CancelledError, as in
        grpc.aio.
        """
        if self._closed:
            return
        self._closed = True
        if grace:
            waiters = [call._new_waiter() for call in self._running_calls()]
            waiters.extend(self._chains)
            if waiters:
                await asyncio.wait(waiters, timeout=grace)
        for chain in list(self._chains):
            chain.cancel()  # an interceptor still working: grpc.aio cancels its Task too
        for call in self._running_calls():
            call.cancel()
        self._close_engine_channel()

    def _close_engine_channel(self) -> None:
        if self._generation == _engine.generation():
            _engine.close_channel(self._channel_id)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: Optional[type[BaseException]],
                        exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        await self.close(None)

    def __del__(self) -> None:
        if getattr(self, "_closed", True):
            return
        self._closed = True
        try:
            self._close_engine_channel()
        except Exception:
            pass

    def get_state(self, try_to_connect: bool = False) -> ChannelConnectivity:
        """The channel's connectivity state, as the engine last published it.

        ``try_to_connect``: an IDLE channel starts connecting (the state then moves to
        CONNECTING, and on to READY or TRANSIENT_FAILURE).
        """
        if self._closed:
            return ChannelConnectivity.SHUTDOWN
        state = state_of(self._engine_state.get())
        if try_to_connect and state is ChannelConnectivity.IDLE:
            _engine.connect_channel(self._channel_id)
        return state

    def _state_change(self, last_seen: ChannelConnectivity,
                      state: Optional[LoopState] = None) -> asyncio.Future[ChannelConnectivity]:
        """The shared watch for the next state after ``last_seen``, on ``state``'s loop (by
        default the running one, which binds the channel)."""
        watch = self._watches.get(last_seen)
        if watch is None or watch.done():
            watch = self._watches[last_seen] = state_change(
                state if state is not None else self._loop_state(), self._channel_id, last_seen)
        return watch

    async def wait_for_state_change(self, last_observed_state: ChannelConnectivity) -> None:
        """Returns once the state is not ``last_observed_state`` (at once if it already is
        not). Raises UsageError on a closed channel, as grpc.aio does.

        Example::

            state = channel.get_state(try_to_connect=True)
            while state is not ChannelConnectivity.READY:
                await channel.wait_for_state_change(state)
                state = channel.get_state()
        """
        if self._closed:
            raise UsageError("Channel is closed")
        # Shielded: a waiter that gives up (a timeout) leaves the shared watch to the others.
        await asyncio.shield(self._state_change(last_observed_state))

    async def channel_ready(self) -> None:
        """Connects if IDLE and returns once the channel is READY; a channel that cannot
        connect keeps retrying (with backoff) meanwhile. Raises UsageError once closed."""
        state = self.get_state(try_to_connect=True)
        while state is not ChannelConnectivity.READY:
            await self.wait_for_state_change(state)
            state = self.get_state(try_to_connect=True)

    def __repr__(self) -> str:
        return f"<turbogrpc.aio.Channel target={self._target!r}>"


register_with_grpcio(Channel, "aio.Channel")  # isinstance(channel, grpc.aio.Channel) holds
