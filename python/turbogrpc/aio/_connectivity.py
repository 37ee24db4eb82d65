"""Connectivity watches on an event loop: the one-shot engine watches that tell a loop a
channel's state changed (the states themselves are _core/_connectivity.py's)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .. import _engine
from .._core._connectivity import ChannelConnectivity, state_of

if TYPE_CHECKING:
    from .._core._events import EngineEvent
    from ._completion import LoopState

__all__ = ["state_change"]


class _StateWatch:
    """One engine watch (``_engine.watch_channel``): its CONNECTIVITY event settles ``future``
    with the channel's new state."""

    __slots__ = ("future",)

    def __init__(self, future: asyncio.Future[ChannelConnectivity]) -> None:
        self.future = future

    def _on_event(self, event: EngineEvent) -> None:
        if not self.future.done():
            self.future.set_result(state_of(event[2]))


def state_change(state: LoopState, channel_id: int,
                 last_seen: ChannelConnectivity) -> asyncio.Future[ChannelConnectivity]:
    """A future of the channel's next state other than ``last_seen`` (done at once if it
    already is another), settled on ``state``'s loop. One engine watch per call: callers
    share futures rather than asking again (Channel._state_change)."""
    token = _engine.next_id()
    future: asyncio.Future[ChannelConnectivity] = state.loop.create_future()
    state.calls[token] = _StateWatch(future)
    _engine.watch_channel(token=token, channel_id=channel_id, cq=state.cq,
                          last_seen=last_seen.value[0])
    return future
