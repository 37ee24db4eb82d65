"""Credentials: grpcio's credentials API (names, arguments, construction errors) as plain data.

Users build them with the functions below; channels and servers read the ``_`` fields and hand
call credentials to the runtime in _call_credentials (re-exported here, with its plugin types).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable
from typing import Any, Callable, NamedTuple, Optional, Tuple, TypeVar, Union

from ._call_credentials import (  # noqa: F401  (re-exported: channels import them from here)
    AuthMetadataContext,
    AuthMetadataPlugin,
    AuthMetadataPluginCallback,
    CallCredentialsError,
    MetadataPluginType,
    _AccessTokenPlugin,
    blocking_call_credentials_metadata,
    call_credentials_metadata,
    service_url_and_method,
)
from ._grpcio import grpcio_bases

__all__ = [
    "AuthMetadataContext", "AuthMetadataPlugin", "AuthMetadataPluginCallback", "CallCredentials",
    "ChannelCredentials", "LocalConnectionType", "ServerCertificateConfiguration",
    "ServerCredentials", "access_token_call_credentials", "composite_call_credentials",
    "composite_channel_credentials", "dynamic_ssl_server_credentials",
    "insecure_channel_credentials", "insecure_server_credentials", "local_channel_credentials",
    "local_server_credentials", "metadata_call_credentials", "ssl_channel_credentials",
    "ssl_server_certificate_configuration", "ssl_server_credentials",
]

_ROOTS_ENV = "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"
_NO_PAIRS = "At least one private key-certificate chain pair is required!"

_T = TypeVar("_T")
# A (private key, certificate chain) pair of PEM bytes.
CertificateChainPair = Tuple[bytes, bytes]


@enum.unique
class LocalConnectionType(enum.Enum):
    """Local connection kinds (grpcio's values): unix domain socket, or loopback TCP."""

    UDS = 0
    LOCAL_TCP = 1


_GRPC_LOCAL_TYPE: Tuple[Any, ...] = grpcio_bases("LocalConnectionType")
if _GRPC_LOCAL_TYPE:
    # grpcio's own enum, so `is` holds both ways. To the type checker LocalConnectionType
    # stays the class above (same names and values).
    LocalConnectionType = _GRPC_LOCAL_TYPE[0]  # type: ignore[misc]


# ---- What channels and servers read ----------------------------------------------------------

class SslChannelConfig(NamedTuple):
    root_certificates: Optional[bytes]  # None: the system trust store
    private_key: Optional[bytes]
    certificate_chain: Optional[bytes]


class CallCredentials:
    """Metadata to add to calls: the plugins that make it, in order (see the functions below)."""

    __slots__ = ("_plugins",)

    def __init__(self, plugins: Tuple[Tuple[MetadataPluginType, Optional[str]], ...]) -> None:
        self._plugins = plugins  # (plugin, name) pairs; composites are flattened


class ChannelCredentials:
    """What a secure channel connects with: TLS, local or insecure, plus call credentials."""

    __slots__ = ("_ssl", "_local", "_insecure", "_call_credentials")

    def __init__(self, *, ssl: Optional[SslChannelConfig] = None,
                 local: Optional[LocalConnectionType] = None, insecure: bool = False,
                 call_credentials: Tuple[CallCredentials, ...] = ()) -> None:
        self._ssl = ssl
        self._local = local  # a LocalConnectionType or None
        self._insecure = insecure
        self._call_credentials = call_credentials


class ServerCertificateConfiguration:
    """Key/certificate pairs and client roots, for dynamic_ssl_server_credentials' fetcher."""

    __slots__ = ("_pairs", "_root_certificates")

    def __init__(self, pairs: Tuple[CertificateChainPair, ...],
                 root_certificates: Optional[bytes]) -> None:
        self._pairs = pairs
        self._root_certificates = root_certificates


class SslServerConfig(NamedTuple):
    pairs: Tuple[CertificateChainPair, ...]  # (private_key, certificate_chain)
    root_certificates: Optional[bytes]
    require_client_auth: bool


class DynamicServerConfig(NamedTuple):
    initial: ServerCertificateConfiguration
    fetcher: Callable[[], Optional[ServerCertificateConfiguration]]
    require_client_authentication: bool


class ServerCredentials:
    """What a secure port serves with: static or dynamic TLS, local, or insecure."""

    __slots__ = ("_ssl", "_dynamic", "_local", "_insecure")

    def __init__(self, *, ssl: Optional[SslServerConfig] = None,
                 dynamic: Optional[DynamicServerConfig] = None,
                 local: Optional[LocalConnectionType] = None, insecure: bool = False) -> None:
        self._ssl = ssl
        self._dynamic = dynamic
        self._local = local
        self._insecure = insecure


# ---- Construction, validated as grpcio validates ---------------------------------------------

def ssl_channel_credentials(root_certificates: Optional[bytes] = None,
                            private_key: Optional[bytes] = None,
                            certificate_chain: Optional[bytes] = None) -> ChannelCredentials:
    """TLS channel credentials (PEM bytes); no roots: $GRPC_DEFAULT_SSL_ROOTS_FILE_PATH's file,
    read now, or else the system trust store."""
    if root_certificates is not None and not isinstance(root_certificates, bytes):
        raise TypeError(f"expected certificate to be bytes, got {type(root_certificates)}")
    return ChannelCredentials(ssl=SslChannelConfig(
        root_certificates or _default_root_certificates(),  # grpcio takes b"" as "none given"
        _optional_pem(private_key), _optional_pem(certificate_chain)))


def metadata_call_credentials(metadata_plugin: MetadataPluginType,
                              name: Union[str, bytes, None] = None) -> CallCredentials:
    """Call credentials whose metadata comes from ``metadata_plugin(context, callback)``."""
    if name is None:
        name = getattr(metadata_plugin, "__name__", type(metadata_plugin).__name__)
    elif isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    elif not isinstance(name, str):  # grpcio encodes it, failing thus
        raise AttributeError(f"'{type(name).__name__}' object has no attribute 'encode'")
    return CallCredentials(((metadata_plugin, name),))


def access_token_call_credentials(access_token: str) -> CallCredentials:
    """Call credentials adding ``authorization: Bearer <access_token>``."""
    return CallCredentials(((_AccessTokenPlugin(access_token), "AccessTokenAuthMetadataPlugin"),))


def composite_call_credentials(*call_credentials: CallCredentials) -> CallCredentials:
    """One CallCredentials running the plugins of all of these, in order."""
    plugins: list[Tuple[MetadataPluginType, Optional[str]]] = []
    for credentials in call_credentials:
        plugins.extend(_require(credentials, CallCredentials)._plugins)
    return CallCredentials(tuple(plugins))


def composite_channel_credentials(channel_credentials: ChannelCredentials,
                                  *call_credentials: CallCredentials) -> ChannelCredentials:
    """Channel credentials that also add these call credentials to every call."""
    added = tuple(_require(credentials, CallCredentials) for credentials in call_credentials)
    if isinstance(channel_credentials, CallCredentials):  # grpcio: TypeError from Cython
        raise TypeError("Cannot convert CallCredentials to ChannelCredentials")
    base = _require(channel_credentials, ChannelCredentials)
    return ChannelCredentials(ssl=base._ssl, local=base._local, insecure=base._insecure,
                              call_credentials=base._call_credentials + added)


def ssl_server_credentials(private_key_certificate_chain_pairs: Iterable[CertificateChainPair],
                           root_certificates: Union[bytes, str, None] = None,
                           require_client_auth: bool = False) -> ServerCredentials:
    """TLS server credentials from [(private key, certificate chain)] PEM bytes pairs."""
    if not private_key_certificate_chain_pairs:
        raise ValueError(_NO_PAIRS)
    if require_client_auth and root_certificates is None:
        raise ValueError("Illegal to require client auth without providing root certificates!")
    pairs = _key_certificate_pairs(private_key_certificate_chain_pairs)
    return ServerCredentials(ssl=SslServerConfig(
        pairs, _server_root_certificates(root_certificates), bool(require_client_auth)))


def ssl_server_certificate_configuration(
        private_key_certificate_chain_pairs: Iterable[CertificateChainPair],
        root_certificates: Union[bytes, str, None] = None) -> ServerCertificateConfiguration:
    """A certificate configuration for dynamic_ssl_server_credentials."""
    if not private_key_certificate_chain_pairs:
        raise ValueError(_NO_PAIRS)
    pairs = _key_certificate_pairs(private_key_certificate_chain_pairs)
    return ServerCertificateConfiguration(pairs, _server_root_certificates(root_certificates))


def dynamic_ssl_server_credentials(
        initial_certificate_configuration: ServerCertificateConfiguration,
        certificate_configuration_fetcher: Callable[[], Optional[ServerCertificateConfiguration]],
        require_client_authentication: bool = False) -> ServerCredentials:
    """TLS server credentials whose certificates ``certificate_configuration_fetcher()`` may
    replace before each handshake (it returns a configuration, or None for no change)."""
    if not isinstance(initial_certificate_configuration, ServerCertificateConfiguration):
        raise TypeError("initial_cert_config must be a turbogrpc.ServerCertificateConfiguration")
    if not callable(certificate_configuration_fetcher):
        raise TypeError("cert_config_fetcher must be callable")
    return ServerCredentials(dynamic=DynamicServerConfig(
        initial_certificate_configuration, certificate_configuration_fetcher,
        bool(require_client_authentication)))


def local_channel_credentials(
        local_connect_type: LocalConnectionType = LocalConnectionType.LOCAL_TCP
) -> ChannelCredentials:
    """Unencrypted channel credentials for local connections (call credentials allowed)."""
    return ChannelCredentials(local=_local_type(local_connect_type))


def local_server_credentials(
        local_connect_type: LocalConnectionType = LocalConnectionType.LOCAL_TCP
) -> ServerCredentials:
    """Unencrypted server credentials for local connections."""
    return ServerCredentials(local=_local_type(local_connect_type))


_INSECURE_CHANNEL_CREDENTIALS = ChannelCredentials(insecure=True)  # one object, as grpcio's


def insecure_channel_credentials() -> ChannelCredentials:
    """Channel credentials for plaintext (``turbogrpc.experimental``, as in grpcio)."""
    return _INSECURE_CHANNEL_CREDENTIALS


def insecure_server_credentials() -> ServerCredentials:
    """Server credentials for plaintext (experimental in grpcio too)."""
    return ServerCredentials(insecure=True)


def _default_root_certificates() -> Optional[bytes]:
    path = os.environ.get(_ROOTS_ENV)
    if not path:
        return None
    try:
        with open(path, "rb") as file:
            roots = file.read()
    except OSError as error:
        # grpc-core logs this and falls back to the system store; a clear error is safer
        raise OSError(error.errno, f"cannot read the root certificates named by {_ROOTS_ENV}: "
                                   f"{error.strerror}", path) from error
    if not roots:
        raise ValueError(f"{path!r}, named by {_ROOTS_ENV}, is empty")
    return roots


def _optional_pem(value: object) -> Optional[bytes]:
    if not value:  # grpcio passes any false value as "none"
        return None
    if not isinstance(value, bytes):  # grpcio says so when the channel is made
        raise TypeError(f"expected bytes, {type(value).__name__} found")
    return value


def _key_certificate_pairs(pairs: Iterable[CertificateChainPair]
                           ) -> Tuple[CertificateChainPair, ...]:
    checked: list[CertificateChainPair] = []
    for private_key, certificate_chain in pairs:
        checked.append((_pem_argument(private_key, "private_key"),
                        _pem_argument(certificate_chain, "certificate_chain")))
    if not checked:  # an empty iterator got past the emptiness check
        raise ValueError(_NO_PAIRS)
    return tuple(checked)


def _pem_argument(value: object, name: str) -> bytes:
    if not isinstance(value, bytes):
        raise TypeError(f"Argument '{name}' has incorrect type "
                        f"(expected bytes, got {type(value).__name__})")
    return value


def _server_root_certificates(roots: object) -> Optional[bytes]:
    if roots is None or isinstance(roots, bytes):
        return roots
    if isinstance(roots, str):  # grpcio accepts str here (not for channels)
        return roots.encode()
    raise TypeError(f"Expected bytes, str, or unicode, not {type(roots)}")


def _local_type(local_connect_type: LocalConnectionType) -> LocalConnectionType:
    # grpcio reads .value (AttributeError for anything else); either enum's member maps to ours
    return LocalConnectionType(local_connect_type.value)


def _require(value: object, cls: type[_T]) -> _T:
    # grpcio fails these with AttributeError (it reads value._credentials): same type, clear text
    if not isinstance(value, cls):
        kind = type(value)
        raise AttributeError(f"expected turbogrpc.{cls.__name__}, got "
                             f"{kind.__module__}.{kind.__qualname__}")
    return value
