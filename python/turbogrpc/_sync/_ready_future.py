"""``channel_ready_future``: a Future that is done once a blocking channel is READY."""

from __future__ import annotations

import logging
import threading
import types
from typing import Any, Callable, Optional

from .._core._connectivity import ChannelConnectivity
from .._core._errors import UsageError
from ._channel import Channel
from ._interfaces import Future, FutureCancelledError, FutureTimeoutError

__all__ = ["channel_ready_future"]

_LOGGER = logging.getLogger("turbogrpc")


class _ChannelReadyFuture(Future):
    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._condition = threading.Condition()
        self._ready = False
        self._cancelled = False
        self._callbacks: list[Callable[[Any], None]] = []

    def _on_state(self, state: ChannelConnectivity) -> None:
        if state is not ChannelConnectivity.READY:
            return
        with self._condition:
            if self._ready or self._cancelled:
                return
            self._ready = True
            self._condition.notify_all()
        self._finish()

    def _finish(self) -> None:
        self._channel.unsubscribe(self._on_state)
        callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            try:
                fn(self)
            except Exception:
                _LOGGER.exception("turbogrpc: a done callback raised")

    def cancel(self) -> bool:
        with self._condition:
            if self._ready or self._cancelled:
                return False
            self._cancelled = True
            self._condition.notify_all()
        self._finish()
        return True

    def cancelled(self) -> bool:
        return self._cancelled

    def running(self) -> bool:
        return not (self._ready or self._cancelled)

    def done(self) -> bool:
        return self._ready or self._cancelled

    def result(self, timeout: Optional[float] = None) -> None:
        with self._condition:
            if not self._condition.wait_for(lambda: self._ready or self._cancelled, timeout):
                raise FutureTimeoutError()
            if self._cancelled:
                raise FutureCancelledError()
        return None

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        self.result(timeout)
        return None

    def traceback(self, timeout: Optional[float] = None) -> Optional[types.TracebackType]:
        self.result(timeout)
        return None

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        with self._condition:
            if not (self._ready or self._cancelled):
                self._callbacks.append(fn)
                return
        fn(self)


def channel_ready_future(channel: Channel) -> Future:
    """A Future that is done once ``channel`` is READY (it starts connecting); ``result(t)``
    raises FutureTimeoutError if it is not by then.

    Example::

        turbogrpc.channel_ready_future(channel).result(timeout=10)
    """
    if not isinstance(channel, Channel):
        raise UsageError(f"channel_ready_future() takes a turbogrpc blocking Channel, got {channel!r}")
    future = _ChannelReadyFuture(channel)
    channel.subscribe(future._on_state, try_to_connect=True)
    return future
