"""Channel connectivity states: ``grpc.ChannelConnectivity`` itself when grpcio is installed
(so ``channel.get_state() is grpc.ChannelConnectivity.READY`` holds), else a stand-alone enum
with its names and values; and the one-shot engine watches that tell a loop of a change."""

from __future__ import annotations

import asyncio
import enum
from typing import TYPE_CHECKING

from .. import _engine
from .._grpcio import grpcio_attr

if TYPE_CHECKING:
    from ._completion import EngineEvent, LoopState

__all__ = ["ChannelConnectivity", "state_of", "state_change"]


class ChannelConnectivity(enum.Enum):
    """Channel states with grpc.ChannelConnectivity's values."""

    IDLE = (0, "idle")
    CONNECTING = (1, "connecting")
    READY = (2, "ready")
    TRANSIENT_FAILURE = (3, "transient failure")
    SHUTDOWN = (4, "shutdown")


_GRPCIO_CONNECTIVITY = grpcio_attr("ChannelConnectivity")
if _GRPCIO_CONNECTIVITY is not None:
    # grpcio's own enum (same names and values), so identity with its members holds. To the
    # type checker ChannelConnectivity stays the class above.
    ChannelConnectivity = _GRPCIO_CONNECTIVITY  # type: ignore[misc]


# The engine's state values (turbogrpc/connectivity.h) are grpcio's first tuple items.
_BY_ENGINE_VALUE: tuple[ChannelConnectivity, ...] = tuple(
    sorted(ChannelConnectivity, key=lambda state: state.value[0]))


def state_of(engine_value: int) -> ChannelConnectivity:
    """The ChannelConnectivity member of an engine state value (0 IDLE ... 4 SHUTDOWN)."""
    return _BY_ENGINE_VALUE[engine_value]


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
