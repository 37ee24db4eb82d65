"""Channel: a connection target plus the factory of multicallables (client side).

The engine connects lazily, so creating a channel never blocks and needs no running loop.
A channel belongs to the event loop it is first used on; using it from another loop is a
UsageError (each loop has its own completion queue and a call's events stay on it), unless
that first loop has been closed: then the channel moves to the new loop.
"""

import asyncio
import logging

from .. import _engine
from .._errors import UsageError
from .._grpcio import register_with_grpcio
from ._client_interceptor import client_interceptors
from ._completion import check_generation, loop_state
from ._connectivity import ChannelConnectivity
from ._compression import DEFAULT_COMPRESSION_OPTION, compression_value
from ._multicallable import (
    StreamStreamMultiCallable, StreamUnaryMultiCallable, UnaryStreamMultiCallable,
    UnaryUnaryMultiCallable, intercepting_multicallable,
)
from ._options import channel_options, option_value
from ._security import INSECURE, channel_security

__all__ = ["Channel", "ChannelConnectivity", "insecure_channel", "secure_channel"]

_LOGGER = logging.getLogger("turbogrpc.aio")


def insecure_channel(target, options=None, compression=None, interceptors=None):
    """Creates a plaintext (h2c) channel to ``target``.

    ``interceptors``: client interceptors (grpc.aio's UnaryUnaryClientInterceptor etc.), run
    in order on every call of their kind, the first outermost.

    Example::

        async with aio.insecure_channel("localhost:50051") as channel:
            stub = GreeterStub(channel)
            reply = await stub.SayHello(HelloRequest(name="you"))
    """
    return Channel(target, options, compression, interceptors)


def secure_channel(target, credentials, options=None, compression=None, interceptors=None):
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

    def __init__(self, target, options=None, compression=None, interceptors=None,
                 credentials=None):
        if not isinstance(target, str):
            raise UsageError(f"target must be a str like 'localhost:50051', got {target!r}")
        self._target = target
        self._generation = _engine.generation()
        self._loop = None
        self._state = None
        self._closed = False
        # (unary-unary, unary-stream, stream-unary, stream-stream) tuples, or None.
        self._interceptors = client_interceptors(interceptors)
        self._chains = set()  # Tasks of interceptor chains that suspended; close() cancels them
        # Calls without their own ``compression=`` use this (grpcio's option or argument).
        self._compression = compression_value(
            compression, compression_value(option_value(options, DEFAULT_COMPRESSION_OPTION)))
        engine_options = channel_options(options)
        self._security = INSECURE
        self._security = channel_security(credentials, target, options, engine_options)
        # What call credentials see as the host (AuthMetadataContext.service_url).
        self._authority = engine_options.get("authority") or _authority_of(target)
        self._channel_id = _engine.create_channel(target, engine_options, self._security.tls)

    def _loop_state(self):
        """The LoopState calls of this channel use, binding the channel to the running loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise UsageError(
                "turbogrpc.aio calls must be made from a coroutine running in an event loop"
            ) from None
        if loop is self._loop and not self._closed and self._generation == _engine.generation():
            return self._state
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

    def unary_unary(self, method, request_serializer=None, response_deserializer=None,
                    **_ignored):
        if self._interceptors is not None:
            return intercepting_multicallable(0, self._interceptors[0], self,
                                              _method_path(method), request_serializer,
                                              response_deserializer)
        return UnaryUnaryMultiCallable(self, _method_path(method), request_serializer,
                                       response_deserializer)

    def unary_stream(self, method, request_serializer=None, response_deserializer=None,
                     **_ignored):
        if self._interceptors is not None:
            return intercepting_multicallable(1, self._interceptors[1], self,
                                              _method_path(method), request_serializer,
                                              response_deserializer)
        return UnaryStreamMultiCallable(self, _method_path(method), request_serializer,
                                        response_deserializer)

    def stream_unary(self, method, request_serializer=None, response_deserializer=None,
                     **_ignored):
        if self._interceptors is not None:
            return intercepting_multicallable(2, self._interceptors[2], self,
                                              _method_path(method), request_serializer,
                                              response_deserializer)
        return StreamUnaryMultiCallable(self, _method_path(method), request_serializer,
                                        response_deserializer)

    def stream_stream(self, method, request_serializer=None, response_deserializer=None,
                      **_ignored):
        if self._interceptors is not None:
            return intercepting_multicallable(3, self._interceptors[3], self,
                                              _method_path(method), request_serializer,
                                              response_deserializer)
        return StreamStreamMultiCallable(self, _method_path(method), request_serializer,
                                         response_deserializer)

    # -- lifecycle ---------------------------------------------------------------------

    def _running_calls(self):
        state = self._state
        if state is None or state.loop.is_closed():
            return []  # a closed loop's calls can no longer be woken (nor awaited)
        calls = []
        for entry in list(state.calls.values()):
            call = entry.get() if hasattr(entry, "ref") else entry
            if getattr(call, "_channel", None) is self and call._code is None:
                calls.append(call)
        return calls

    async def close(self, grace=None):
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

    def _close_engine_channel(self):
        if self._generation == _engine.generation():
            _engine.close_channel(self._channel_id)

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc, tb):
        await self.close(None)

    def __del__(self):
        if getattr(self, "_closed", True):
            return
        self._closed = True
        try:
            self._close_engine_channel()
        except Exception:
            pass

    def get_state(self, try_to_connect=False):
        """An approximation: SHUTDOWN once closed, READY once used, IDLE before."""
        if self._closed:
            return ChannelConnectivity.SHUTDOWN
        return ChannelConnectivity.IDLE if self._loop is None else ChannelConnectivity.READY

    async def wait_for_state_change(self, last_observed_state):
        """Returns once the (approximate) state differs from ``last_observed_state``."""
        while self.get_state() == last_observed_state:
            await asyncio.sleep(0.05)

    async def channel_ready(self):
        """Returns at once: the engine connects on the first call (and retries there)."""
        if self._closed:
            raise UsageError("Channel is closed")

    def __repr__(self):
        return f"<turbogrpc.aio.Channel target={self._target!r}>"


def _authority_of(target):
    for prefix in ("dns:///", "dns:", "ipv4:", "ipv6:"):
        if target.startswith(prefix):
            target = target[len(prefix):].split(",", 1)[0]
            break
    return "localhost" if target.startswith("unix") else target


def _method_path(method):
    if isinstance(method, bytes):
        method = method.decode("ascii")
    if not isinstance(method, str) or not method.startswith("/"):
        raise UsageError(f"method must be a path like '/package.Service/Method', got {method!r}")
    return method


register_with_grpcio(Channel, "aio.Channel")  # isinstance(channel, grpc.aio.Channel) holds
