"""What the server's context says about the peer's security: auth_context(), peer_identities(),
peer_identity_key() (and is_peer_authenticated() on our server; grpc.aio's context has none) on
plaintext, TLS, TLS with an unrequested client certificate, mTLS and local connections.
Values are grpc.aio's: keys are str, values lists of bytes."""

from __future__ import annotations

import tempfile

from e2e.tls_helpers import (
    FAIL_TIMEOUT,
    channel_credentials,
    echo_handlers,
    server_credentials,
    tls_env,
)

import tls_certs

PRIVACY = [b"TSI_PRIVACY_AND_INTEGRITY"]
X509_KEYS = ("x509_common_name", "x509_subject", "x509_subject_alternative_name",
             "x509_pem_cert", "peer_dns", "peer_uri", "peer_spiffe_id")


async def one_call(env):
    assert await env.uu("Echo")(b"", timeout=FAIL_TIMEOUT) == b""


def assert_unauthenticated(pairing, seen):
    assert seen.peer_identities is None
    assert seen.peer_identity_key is None
    if pairing.server.is_ours:
        assert seen.is_peer_authenticated is False


def assert_tls_without_client_identity(seen):
    auth = seen.auth_context
    assert auth["transport_security_type"] == [b"ssl"]
    assert auth["security_level"] == PRIVACY
    assert auth["ssl_session_reused"] == [b"false"]
    present = [k for k in X509_KEYS if k in auth]
    assert present == [], f"no client certificate, yet {present} in {auth}"


def assert_local(pairing, seen):
    """grpc names the local transport as the peer's identity."""
    assert seen.auth_context == {"transport_security_type": [b"local"],
                                 "security_level": PRIVACY}
    assert seen.peer_identity_key == "transport_security_type"
    assert seen.peer_identities == [b"local"]
    if pairing.server.is_ours:
        assert seen.is_peer_authenticated is True


async def test_plaintext(pairing):
    seen = []
    async with pairing.env(echo_handlers(seen)) as env:
        await one_call(env)
    assert seen[0].auth_context == {"transport_security_type": [b"insecure"],
                                    "security_level": [b"TSI_SECURITY_NONE"]}
    assert_unauthenticated(pairing, seen[0])


async def test_tls_without_client_certificate(pairing, pki):
    seen = []
    async with tls_env(pairing, pki, echo_handlers(seen)) as env:
        await one_call(env)
    assert_tls_without_client_identity(seen[0])
    assert_unauthenticated(pairing, seen[0])


async def test_client_certificate_not_requested(pairing, pki):
    """require_client_auth=False: the server does not ask for a certificate, so the one the
    client has is not sent and the peer stays unauthenticated, even with a client CA set."""
    seen = []
    creds = server_credentials(pairing.server, pki.server, client_ca=pki.ca1,
                               require_client_auth=False)
    async with pairing.env(echo_handlers(seen), server_credentials=creds,
                           channel_credentials=channel_credentials(pairing.client, pki.ca1,
                                                                   pki.client)) as env:
        await one_call(env)
    assert_tls_without_client_identity(seen[0])
    assert_unauthenticated(pairing, seen[0])


async def test_mtls(pairing, pki):
    seen = []
    async with tls_env(pairing, pki, echo_handlers(seen), mtls=True) as env:
        await one_call(env)
    auth = seen[0].auth_context
    sans = [tls_certs.CLIENT_DNS.encode(), tls_certs.CLIENT_URI.encode()]
    assert auth["transport_security_type"] == [b"ssl"]
    assert auth["security_level"] == PRIVACY
    assert auth["ssl_session_reused"] == [b"false"]
    assert auth["x509_common_name"] == [tls_certs.CLIENT_CN.encode()]
    assert auth["x509_subject_alternative_name"] == sans
    assert auth["x509_pem_cert"] == [pki.client.cert_pem]
    assert seen[0].peer_identity_key == "x509_subject_alternative_name"
    assert seen[0].peer_identities == sans
    if pairing.server.is_ours:
        assert seen[0].is_peer_authenticated is True


async def test_mtls_identity_details(pairing, pki):
    """The rest of grpc's view of a client certificate: subject (RFC 2253 order), the SANs by
    type, the SPIFFE ID, and the TLS version."""
    seen = []
    async with tls_env(pairing, pki, echo_handlers(seen), mtls=True) as env:
        await one_call(env)
    auth = seen[0].auth_context
    assert auth["x509_subject"] == [f"CN={tls_certs.CLIENT_CN},O=turbogrpc tests".encode()]
    assert auth["peer_dns"] == [tls_certs.CLIENT_DNS.encode()]
    assert auth["peer_uri"] == [tls_certs.CLIENT_URI.encode()]
    assert auth["peer_spiffe_id"] == [tls_certs.CLIENT_URI.encode()]
    assert auth["ssl_tls_version"] == [b"TLSv1.3"]


async def test_local_tcp(pairing):
    seen = []
    lib_s, lib_c = pairing.server.lib, pairing.client.lib
    async with pairing.env(
            echo_handlers(seen),
            server_credentials=lib_s.local_server_credentials(lib_s.LocalConnectionType.LOCAL_TCP),
            channel_credentials=lib_c.local_channel_credentials(
                lib_c.LocalConnectionType.LOCAL_TCP)) as env:
        await one_call(env)
    assert_local(pairing, seen[0])


async def test_local_uds(pairing):
    seen = []
    lib_s, lib_c = pairing.server.lib, pairing.client.lib
    with tempfile.TemporaryDirectory() as tmp:
        async with pairing.env(
                echo_handlers(seen), address=f"unix:{tmp}/auth.sock",
                server_credentials=lib_s.local_server_credentials(lib_s.LocalConnectionType.UDS),
                channel_credentials=lib_c.local_channel_credentials(
                    lib_c.LocalConnectionType.UDS)) as env:
            await one_call(env)
    assert_local(pairing, seen[0])
