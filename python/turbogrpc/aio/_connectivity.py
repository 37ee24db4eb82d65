"""Channel connectivity states: ``grpc.ChannelConnectivity`` itself when grpcio is installed
(so ``channel.get_state() is grpc.ChannelConnectivity.READY`` holds), else a stand-alone enum
with its names and values."""

import enum

from .._grpcio import grpcio_attr

__all__ = ["ChannelConnectivity"]

ChannelConnectivity = grpcio_attr("ChannelConnectivity")

if ChannelConnectivity is None:

    class ChannelConnectivity(enum.Enum):
        """Channel states with grpc.ChannelConnectivity's values."""

        IDLE = (0, "idle")
        CONNECTING = (1, "connecting")
        READY = (2, "ready")
        TRANSIENT_FAILURE = (3, "transient failure")
        SHUTDOWN = (4, "shutdown")
