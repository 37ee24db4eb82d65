"""TLS that must fail, promptly and as UNAVAILABLE: an untrusted CA, a certificate for another
name, an expired certificate, an mTLS server and a client without (or with an untrusted)
certificate; the server keeps serving good clients. Our client's details say why (grpc's texts
differ, so that part is checked on our client only).

On `ours_pairing` (grpc-grpc when validating the tests): the wrong protocol on either side (a
plaintext client on a TLS port, a TLS client on a plaintext port) fails within seconds, and a
TCP client that never starts its handshake is closed after grpc.server_handshake_timeout_ms.
"""

from __future__ import annotations

import asyncio
import re
import time

from e2e.helpers import rpc_error
from e2e.tls_helpers import (
    FAIL_TIMEOUT,
    channel_credentials,
    echo_handlers,
    server_credentials,
)

# What our client's details must mention (case-insensitive), per failure.
UNTRUSTED_REASON = r"certificate verify failed|unable to get local issuer|unknown ca|self.signed"
WRONG_NAME_REASON = r"hostname|host name|ip address mismatch|name mismatch|does not match"
EXPIRED_REASON = r"expired"
# An mTLS refusal reaches the client after its own handshake: our server sends the TLS alert
# (named in the details); grpc's server closes the connection without one.
MTLS_REFUSED_BY_GRPC = r"closed|reset|tls|ssl"


async def assert_fails(pairing, target, channel_creds, reason: str | None):
    """A call over a new channel ends with UNAVAILABLE well before its deadline."""
    async with pairing.connect(target, channel_credentials=channel_creds) as channel:
        started = time.monotonic()
        err = await rpc_error(pairing, channel.unary_unary("/test.Svc/Echo")(
            b"", timeout=FAIL_TIMEOUT), "UNAVAILABLE")
        assert time.monotonic() - started < FAIL_TIMEOUT - 1
        assert err.details()
        if reason is not None and pairing.client.is_ours:
            assert re.search(reason, err.details(), re.IGNORECASE), err.details()


async def assert_serves(pairing, target, channel_creds):
    async with pairing.connect(target, channel_credentials=channel_creds) as channel:
        assert await channel.unary_unary("/test.Svc/Echo")(b"ok", timeout=FAIL_TIMEOUT) == b"ok"


async def test_untrusted_ca(pairing, pki):
    creds = server_credentials(pairing.server, pki.server)
    async with pairing.serve(echo_handlers(), server_credentials=creds) as srv:
        await assert_fails(pairing, srv.target, channel_credentials(pairing.client, pki.ca2),
                           UNTRUSTED_REASON)
        await assert_serves(pairing, srv.target, channel_credentials(pairing.client, pki.ca1))


async def test_wrong_hostname(pairing, pki):
    """The certificate names only wrong.example.com; the client dials 127.0.0.1."""
    creds = server_credentials(pairing.server, pki.server_wrong_name)
    async with pairing.serve(echo_handlers(), server_credentials=creds) as srv:
        await assert_fails(pairing, srv.target, channel_credentials(pairing.client, pki.ca1),
                           WRONG_NAME_REASON)


async def test_expired_certificate(pairing, pki):
    creds = server_credentials(pairing.server, pki.server_expired)
    async with pairing.serve(echo_handlers(), server_credentials=creds) as srv:
        await assert_fails(pairing, srv.target, channel_credentials(pairing.client, pki.ca1),
                           EXPIRED_REASON)


async def test_mtls_client_without_certificate(pairing, pki):
    creds = server_credentials(pairing.server, pki.server, client_ca=pki.ca1,
                               require_client_auth=True)
    reason = r"certificate required" if pairing.server.is_ours else MTLS_REFUSED_BY_GRPC
    async with pairing.serve(echo_handlers(), server_credentials=creds) as srv:
        await assert_fails(pairing, srv.target, channel_credentials(pairing.client, pki.ca1),
                           reason)
        await assert_serves(pairing, srv.target,
                            channel_credentials(pairing.client, pki.ca1, pki.client))


async def test_mtls_client_certificate_from_untrusted_ca(pairing, pki):
    """The client's certificate is from CA1; this server accepts only CA2's."""
    creds = server_credentials(pairing.server, pki.server, client_ca=pki.ca2,
                               require_client_auth=True)
    reason = r"unknown ca" if pairing.server.is_ours else MTLS_REFUSED_BY_GRPC
    async with pairing.serve(echo_handlers(), server_credentials=creds) as srv:
        await assert_fails(pairing, srv.target,
                           channel_credentials(pairing.client, pki.ca1, pki.client), reason)


# ---- the wrong protocol, and a silent peer (our stack; grpc-grpc when validating) ---------

async def test_plaintext_client_on_tls_port(ours_pairing, pki):
    pairing = ours_pairing
    creds = server_credentials(pairing.server, pki.server)
    async with pairing.serve(echo_handlers(), server_credentials=creds) as srv:
        await assert_fails(pairing, srv.target, None, None)
        await assert_serves(pairing, srv.target, channel_credentials(pairing.client, pki.ca1))


async def test_tls_client_on_plaintext_port(ours_pairing, pki):
    pairing = ours_pairing
    async with pairing.serve(echo_handlers()) as srv:
        await assert_fails(pairing, srv.target, channel_credentials(pairing.client, pki.ca1), None)
        await assert_serves(pairing, srv.target, None)


async def test_silent_tcp_client_closed_after_handshake_timeout(ours_pairing, pki):
    """A TCP client that connects to a TLS port and sends nothing is closed by the server once
    grpc.server_handshake_timeout_ms (300 ms) has passed, without a byte from the server."""
    pairing = ours_pairing
    creds = server_credentials(pairing.server, pki.server)
    options = [("grpc.server_handshake_timeout_ms", 300)]
    async with pairing.serve(echo_handlers(), options=options, server_credentials=creds) as srv:
        started = time.monotonic()
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", srv.port), FAIL_TIMEOUT)
        try:
            try:
                data = await asyncio.wait_for(reader.read(1024), FAIL_TIMEOUT)
            except ConnectionResetError:
                data = b""
            except asyncio.TimeoutError:
                raise AssertionError(f"still open after {FAIL_TIMEOUT} s") from None
            elapsed = time.monotonic() - started
        finally:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), FAIL_TIMEOUT)
            except (ConnectionError, OSError):
                pass
        assert data == b"", f"the server sent {data!r} before any ClientHello"
        assert 0.2 < elapsed < 3.0, f"closed after {elapsed:.2f} s"
        await assert_serves(pairing, srv.target, channel_credentials(pairing.client, pki.ca1))
