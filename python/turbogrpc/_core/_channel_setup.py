"""What making a channel means for both APIs: checked arguments, the engine's options, the
security (TLS context, call credentials), the authority call credentials see, and the
engine channel itself. ``aio.Channel`` and the blocking ``Channel`` are facades over this.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Union

from .. import _engine
from ._channel_arguments import authority_of
from ._compression import DEFAULT_COMPRESSION_OPTION, compression_value
from ._engine_log import forward_engine_traces
from ._errors import UsageError
from ._options import channel_options, option_value
from ._security import ChannelSecurity, channel_security

if TYPE_CHECKING:
    from ._compression import Compression
    from ._credentials import ChannelCredentials
    from ._typing import ChannelArgumentType

__all__ = ["EngineChannel", "open_channel"]


class EngineChannel:
    """One engine channel and what calls on it need to know."""

    __slots__ = ("target", "generation", "compression", "security", "authority", "channel_id",
                 "engine_state")

    def __init__(self, target: str, generation: int, compression: int, security: ChannelSecurity,
                 authority: str, channel_id: int, engine_state: _engine.ChannelState) -> None:
        self.target = target
        self.generation = generation
        self.compression = compression  # for calls without their own compression=
        self.security = security
        self.authority = authority  # what call credentials see as the host (service_url)
        self.channel_id = channel_id
        self.engine_state = engine_state

    def close(self) -> None:
        """Closes the engine channel (its calls end CANCELLED "Channel closed!"); a channel
        from before fork() has nothing left to close."""
        if self.generation == _engine.generation():
            _engine.close_channel(self.channel_id)


def open_channel(target: str, options: Optional[ChannelArgumentType],
                 compression: Optional[Compression],
                 credentials: Optional[ChannelCredentials]) -> EngineChannel:
    """Checks the arguments of insecure_channel/secure_channel and creates the engine channel
    (which connects lazily: nothing blocks here)."""
    if not isinstance(target, str):
        raise UsageError(f"target must be a str like 'localhost:50051', got {target!r}")
    target_authority = authority_of(target)  # also refuses a malformed target, now
    generation = _engine.generation()
    default_compression = compression_value(
        compression, compression_value(option_value(options, DEFAULT_COMPRESSION_OPTION)))
    engine_options: dict[str, Union[int, str]] = channel_options(options)
    security = channel_security(credentials, target, options, engine_options)
    authority = engine_options.get("authority") or target_authority
    forward_engine_traces()
    channel_id, engine_state = _engine.create_channel(target, engine_options, security.tls)
    return EngineChannel(target, generation, default_compression, security, str(authority),
                         channel_id, engine_state)
