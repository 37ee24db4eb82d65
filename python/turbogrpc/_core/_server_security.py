"""Server-side security: server credentials → listener security for the engine, certificate
rotation (grpc's certificate configuration fetcher), and auth contexts as grpc reports them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Optional

from .. import _engine
from ._credentials import LocalConnectionType, ServerCertificateConfiguration, ServerCredentials
from ._errors import UsageError

__all__ = ["PLAINTEXT", "listener_security", "fetched_tls_context", "install_fetched_certificates",
           "auth_context_dict", "peer_identities", "peer_identity_key"]

# The engine's ListenerSecurity::Kind values.
_PLAINTEXT, _TLS, _LOCAL_UDS, _LOCAL_TCP = 0, 1, 2, 3

# What the engine's start_server takes per listener: (kind, TLS context or None, whether it asks
# for certificates before each handshake).
ListenerSecurity = tuple[int, Optional[_engine.TlsServerContext], bool]
# grpc's certificate configuration fetcher: new certificates, or None to keep the current ones.
CertificateFetcher = Callable[[], Optional[ServerCertificateConfiguration]]
# A secured connection's auth context from the engine: ((property name, value), ...) and the
# name of the property that identifies the peer (None: unauthenticated). None on plaintext.
AuthContext = tuple[Sequence[tuple[str, bytes]], Optional[str]]

PLAINTEXT: ListenerSecurity = (_PLAINTEXT, None, False)


def listener_security(
        credentials: ServerCredentials,
) -> tuple[ListenerSecurity, tuple[CertificateFetcher, bool] | None]:
    """(engine security tuple, (fetcher, require_client_auth) or None) for ``credentials``."""
    if not isinstance(credentials, ServerCredentials):
        raise UsageError(
            f"server_credentials must be grpc server credentials (e.g. ssl_server_credentials()), "
            f"got {credentials!r}")
    if credentials._ssl is not None:
        ssl = credentials._ssl
        tls = _tls_context(ssl.pairs, ssl.root_certificates, ssl.require_client_auth)
        return (_TLS, tls, False), None
    if credentials._dynamic is not None:
        dynamic = credentials._dynamic
        initial = dynamic.initial
        tls = _tls_context(initial._pairs, initial._root_certificates,
                           dynamic.require_client_authentication)
        return (_TLS, tls, True), (dynamic.fetcher, dynamic.require_client_authentication)
    if credentials._local is not None:
        kind = _LOCAL_UDS if credentials._local == LocalConnectionType.UDS else _LOCAL_TCP
        return (kind, None, False), None
    return PLAINTEXT, None


def _tls_context(pairs: Sequence[tuple[bytes, bytes]], root_certificates: bytes | None,
                 require_client_auth: bool) -> _engine.TlsServerContext:
    try:
        return _engine.tls_server_context(pairs, root_certificates, require_client_auth)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def fetched_tls_context(config: object, require_client_auth: bool
                        ) -> _engine.TlsServerContext | None:
    """The engine TLS context of what a certificate fetcher returned (None when it returned
    None: the current certificates stay); TypeError for anything else (see
    install_fetched_certificates)."""
    if config is None:
        return None
    if not isinstance(config, ServerCertificateConfiguration):
        raise TypeError(
            f"the certificate configuration fetcher must return "
            f"ssl_server_certificate_configuration(...) or None, got {config!r}")
    return _engine.tls_server_context(config._pairs, config._root_certificates,
                                      require_client_auth)


def install_fetched_certificates(server_id: int, listener: int, fetcher: CertificateFetcher,
                                 require_client_auth: bool, logger: logging.Logger) -> None:
    """Asks ``fetcher`` for new certificates and hands the answer to the engine, which then lets
    the connections waiting for it handshake. A fetcher that fails or returns None keeps the
    current certificates (as grpc does). Blocks (the fetcher may read files): each API calls
    it off its event loop or dispatcher thread."""
    tls: _engine.TlsServerContext | None = None
    try:
        tls = fetched_tls_context(fetcher(), require_client_auth)
    except Exception:  # noqa: BLE001 - reported; the server keeps serving its current certificates
        logger.warning("turbogrpc: certificate configuration fetcher failed; keeping the "
                       "current certificates", exc_info=True)
    finally:
        _engine.server_certificates(server_id, listener, tls)


def auth_context_dict(auth: AuthContext | None) -> dict[str, list[bytes]]:
    """grpc's ``auth_context()``: {property name: [bytes values]}."""
    if auth is None:
        return {"security_level": [b"TSI_SECURITY_NONE"], "transport_security_type": [b"insecure"]}
    result: dict[str, list[bytes]] = {}
    for key, value in auth[0]:
        result.setdefault(key, []).append(value)
    return result


def peer_identity_key(auth: AuthContext | None) -> str | None:
    return None if auth is None else auth[1]


def peer_identities(auth: AuthContext | None) -> list[bytes] | None:
    key = peer_identity_key(auth)
    if key is None:
        return None
    # A key comes only with an auth context (the checker cannot tell auth is not None).
    return [value for name, value in auth[0] if name == key]  # type: ignore[index]
