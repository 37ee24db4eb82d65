"""Client-side security: credentials → the engine's TLS context, and call credentials.

A channel made with ``secure_channel`` gets its TLS context here (built once per channel,
PEM checked at once). Calls that carry call credentials start held in the engine; the API
then fetches the plugins' metadata off its caller (``_call_credentials``; the asyncio API's
task is aio/_security_tasks.py) and releases the call, or ends it UNAVAILABLE with the
plugin's reason, as grpcio does.
"""

from __future__ import annotations

from typing import Optional, Union

from .. import _engine
from ._credentials import CallCredentials, ChannelCredentials, LocalConnectionType
from ._errors import UsageError
from ._options import option_value
from ._typing import ChannelArgumentType

__all__ = ["channel_security", "check_call_credentials"]

class ChannelSecurity:
    """What a channel knows of its security: the engine TLS context (or None), the call
    credentials every call carries, and whether call credentials may be sent at all."""

    __slots__ = ("tls", "call_credentials", "allows_call_credentials")

    def __init__(self, tls: Optional[_engine.TlsClientContext] = None,
                 call_credentials: tuple[CallCredentials, ...] = (),
                 allows_call_credentials: bool = False) -> None:
        self.tls = tls
        self.call_credentials = call_credentials
        self.allows_call_credentials = allows_call_credentials


INSECURE = ChannelSecurity()


def channel_security(credentials: Optional[ChannelCredentials], target: str,
                     options: Optional[ChannelArgumentType],
                     engine_options: dict[str, Union[int, str]]) -> ChannelSecurity:
    """The ChannelSecurity of ``credentials``; puts the TLS name override and the local
    credentials' kind into ``engine_options``."""
    if credentials is None:
        return INSECURE
    if not isinstance(credentials, ChannelCredentials):
        raise UsageError(
            f"credentials must be grpc channel credentials (e.g. ssl_channel_credentials()), "
            f"got {credentials!r}")
    call_credentials = tuple(credentials._call_credentials)
    if credentials._ssl is not None:
        ssl = credentials._ssl
        try:
            tls = _engine.tls_client_context(ssl.root_certificates, ssl.private_key,
                                             ssl.certificate_chain)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        override = option_value(options, "grpc.ssl_target_name_override")
        if override is not None:
            if not isinstance(override, str) or not override:
                raise UsageError(f"option 'grpc.ssl_target_name_override' takes a host name, got {override!r}")
            engine_options["tls_server_name"] = override
            # grpc-core also sends it as :authority unless grpc.default_authority says otherwise.
            engine_options.setdefault("authority", override)
        return ChannelSecurity(tls, call_credentials, True)
    if credentials._local is not None:
        engine_options["local_connection"] = _local_connection(credentials._local, target)
        return ChannelSecurity(None, call_credentials, True)
    return ChannelSecurity(None, call_credentials, False)  # experimental insecure credentials


def _local_connection(kind: LocalConnectionType, target: str) -> str:
    """The engine's local_connection option for ``kind``. A target of the wrong scheme is refused
    here; which addresses a name resolves to is checked by the engine before it dials each one
    (a non-loopback address fails to connect, saying so), as grpc-core's local handshake does."""
    is_unix = target.startswith(("unix:", "unix-abstract:"))
    if kind == LocalConnectionType.UDS:
        if not is_unix:
            raise UsageError(f"local credentials of type UDS need a unix: target, got {target!r}")
        return "uds"
    if is_unix:
        raise UsageError(f"local credentials of type LOCAL_TCP need a loopback TCP target, got {target!r}")
    return "local_tcp"


def check_call_credentials(security: ChannelSecurity, credentials: Optional[CallCredentials],
                           ) -> tuple[CallCredentials, ...]:
    """The call credentials a call on a channel with ``security`` carries (the channel's, then
    the call's own), or () for none."""
    if credentials is None:
        return security.call_credentials
    if not isinstance(credentials, CallCredentials):
        raise UsageError(f"credentials must be grpc call credentials, got {credentials!r}")
    if not security.allows_call_credentials:
        # grpc.aio's words, raised at the call as it does.
        raise UsageError("Call credentials are only valid on secure channels")
    return security.call_credentials + (credentials,)

