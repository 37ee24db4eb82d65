"""Pieces the TLS end-to-end tests share: credentials for either stack made from the test PKI
(tests/tls_certs.py, fixture `pki`), and echo handlers that record what the server saw.

Credentials are stack-specific: server credentials come from `pairing.server.lib`, channel
credentials from `pairing.client.lib` (grpc or turbogrpc). Every name of the credentials API is
looked up when a test runs, so these modules import while turbogrpc still lacks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc

from e2e.helpers import Pairing, Stack, md_pairs

# Failures (bad certificates, wrong protocol) must end long before this per-call timeout.
FAIL_TIMEOUT = 5.0


def server_credentials(stack: Stack, *key_pairs, client_ca=None, require_client_auth=False):
    """ssl_server_credentials of `stack` serving `key_pairs` (tls_certs.KeyPair); `client_ca`
    is the root that client certificates are checked against."""
    return stack.lib.ssl_server_credentials(
        [kp.pair for kp in key_pairs],
        root_certificates=client_ca.cert_pem if client_ca is not None else None,
        require_client_auth=require_client_auth,
    )


def channel_credentials(stack: Stack, ca, client=None):
    """ssl_channel_credentials of `stack` trusting `ca`, presenting `client`'s certificate."""
    if client is None:
        return stack.lib.ssl_channel_credentials(root_certificates=ca.cert_pem)
    return stack.lib.ssl_channel_credentials(
        root_certificates=ca.cert_pem, private_key=client.key_pem,
        certificate_chain=client.cert_pem)


def name_override(name: str) -> list[tuple[str, Any]]:
    return [("grpc.ssl_target_name_override", name)]


def tls_env(pairing: Pairing, pki, handlers, *, mtls: bool = False, **kwargs):
    """pairing.env over TLS: the server presents pki.server (requiring a CA1 client certificate
    if `mtls`); the client trusts CA1 (and presents pki.client if `mtls`)."""
    if mtls:
        server_creds = server_credentials(pairing.server, pki.server, client_ca=pki.ca1,
                                          require_client_auth=True)
        channel_creds = channel_credentials(pairing.client, pki.ca1, pki.client)
    else:
        server_creds = server_credentials(pairing.server, pki.server)
        channel_creds = channel_credentials(pairing.client, pki.ca1)
    return pairing.env(handlers, server_credentials=server_creds,
                       channel_credentials=channel_creds, **kwargs)


@dataclass
class Seen:
    """What a handler saw of its call's security and metadata."""

    metadata: list
    auth_context: dict
    peer_identities: Any
    peer_identity_key: Any
    # None when the server has no is_peer_authenticated (grpc.aio's ServicerContext lacks it).
    is_peer_authenticated: Any


def record(context) -> Seen:
    authenticated = getattr(context, "is_peer_authenticated", None)
    return Seen(
        metadata=md_pairs(context.invocation_metadata()),
        auth_context=context.auth_context(),
        peer_identities=context.peer_identities(),
        peer_identity_key=context.peer_identity_key(),
        is_peer_authenticated=authenticated() if authenticated is not None else None,
    )


def echo_handlers(seen: list[Seen] | None = None) -> dict:
    """Echo (unary), Split (b"a,b" -> a, b), Join (a, b -> b"a,b"), Bidi (echo each); each
    appends a `Seen` to `seen`."""
    seen = seen if seen is not None else []

    async def echo(request, context):
        seen.append(record(context))
        return request

    async def split(request, context):
        seen.append(record(context))
        for part in request.split(b","):
            yield part

    async def join(request_iterator, context):
        seen.append(record(context))
        return b",".join([m async for m in request_iterator])

    async def bidi(request_iterator, context):
        seen.append(record(context))
        async for message in request_iterator:
            yield message

    return {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "Split": grpc.unary_stream_rpc_method_handler(split),
        "Join": grpc.stream_unary_rpc_method_handler(join),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
    }
