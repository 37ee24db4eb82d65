"""Channel connectivity states: ``grpc.ChannelConnectivity`` itself when grpcio is installed
(so ``channel.get_state() is grpc.ChannelConnectivity.READY`` holds), else a stand-alone enum
with its names and values; and the member of an engine state value."""

from __future__ import annotations

import enum

from ._grpcio import grpcio_attr

__all__ = ["ChannelConnectivity", "state_of"]


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

