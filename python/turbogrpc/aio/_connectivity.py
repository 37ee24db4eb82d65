"""Channel connectivity states: ``grpc.ChannelConnectivity`` itself when grpcio is installed
(so ``channel.get_state() is grpc.ChannelConnectivity.READY`` holds), else a stand-alone enum
with its names and values."""

import enum

from .._grpcio import grpcio_attr

__all__ = ["ChannelConnectivity"]


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
