"""TLS that works: the four call shapes over TLS and mTLS, a key pair chosen by SNI, certificate
rotation with dynamic_ssl_server_credentials, big messages and long streams over TLS, and local
credentials (UDS and LOCAL_TCP). Failures are in test_tls_failures.py."""

from __future__ import annotations

import os
import tempfile
import threading

from e2e.helpers import BIG_OPTIONS, MiB, rpc_error
from e2e.tls_helpers import (
    FAIL_TIMEOUT,
    channel_credentials,
    echo_handlers,
    name_override,
    server_credentials,
    tls_env,
)

import tls_certs


async def assert_four_shapes(env) -> None:
    assert await env.uu("Echo")(b"hello", timeout=FAIL_TIMEOUT) == b"hello"
    assert [m async for m in env.us("Split")(b"a,b,c", timeout=FAIL_TIMEOUT)] == [b"a", b"b", b"c"]
    assert await env.su("Join")(iter([b"x", b"y"]), timeout=FAIL_TIMEOUT) == b"x,y"
    assert [m async for m in env.ss("Bidi")(iter([b"1", b"2", b"3"]), timeout=FAIL_TIMEOUT)] == [
        b"1", b"2", b"3"]


async def test_tls_four_shapes(pairing, pki):
    seen = []
    async with tls_env(pairing, pki, echo_handlers(seen)) as env:
        await assert_four_shapes(env)
    assert len(seen) == 4
    # the server saw TLS on every call, without a client certificate
    for s in seen:
        assert s.auth_context["transport_security_type"] == [b"ssl"], s.auth_context
        assert s.peer_identities is None


async def test_mtls_four_shapes(pairing, pki):
    seen = []
    async with tls_env(pairing, pki, echo_handlers(seen), mtls=True) as env:
        await assert_four_shapes(env)
    assert len(seen) == 4
    for s in seen:
        assert s.auth_context["x509_common_name"] == [tls_certs.CLIENT_CN.encode()]


async def test_target_name_override_checks_that_name(pairing, pki):
    """With grpc.ssl_target_name_override the client checks the certificate against that name
    (not the dialled 127.0.0.1): a covered name (through the wildcard too) passes, another fails."""
    creds = server_credentials(pairing.server, pki.server)
    async with pairing.serve(echo_handlers(), server_credentials=creds) as srv:
        for name in (tls_certs.SERVER_NAME, "bar.test.google.fr", "localhost"):
            async with pairing.connect(srv.target, name_override(name),
                                       channel_credentials(pairing.client, pki.ca1)) as channel:
                assert await channel.unary_unary("/test.Svc/Echo")(
                    b"ok", timeout=FAIL_TIMEOUT) == b"ok", name
        async with pairing.connect(srv.target, name_override(tls_certs.OTHER_NAME),
                                   channel_credentials(pairing.client, pki.ca1)) as channel:
            await rpc_error(pairing, channel.unary_unary("/test.Svc/Echo")(
                b"", timeout=FAIL_TIMEOUT), "UNAVAILABLE")


async def test_sni_selects_the_key_pair(pairing, pki):
    """Two key pairs on one port: the server presents the one matching the client's SNI (the
    override name). other.example.com is only in the second certificate, so the call passes the
    client's hostname check only if the server picked that one; the first stays the default."""
    creds = server_credentials(pairing.server, pki.server, pki.server_other)
    async with pairing.serve(echo_handlers(), server_credentials=creds) as srv:
        for options in (name_override(tls_certs.OTHER_NAME), name_override(tls_certs.SERVER_NAME),
                        None):
            async with pairing.connect(srv.target, options,
                                       channel_credentials(pairing.client, pki.ca1)) as channel:
                assert await channel.unary_unary("/test.Svc/Echo")(
                    b"sni", timeout=FAIL_TIMEOUT) == b"sni", options


async def test_certificate_rotation(pairing, pki):
    """dynamic_ssl_server_credentials: the fetcher's new configuration (a CA2 certificate) serves
    new connections; a channel connected before keeps working on its connection."""
    lib = pairing.server.lib
    config_ca1 = lib.ssl_server_certificate_configuration([pki.server.pair])
    config_ca2 = lib.ssl_server_certificate_configuration([pki.server_ca2.pair])
    lock = threading.Lock()
    state = {"next": None, "fetches": 0}

    def fetcher():
        with lock:
            state["fetches"] += 1
            config, state["next"] = state["next"], None
        return config  # None: keep the current configuration

    creds = lib.dynamic_ssl_server_credentials(config_ca1, fetcher)
    trust_ca1 = channel_credentials(pairing.client, pki.ca1)
    trust_ca2 = channel_credentials(pairing.client, pki.ca2)
    async with pairing.serve(echo_handlers(), server_credentials=creds) as srv:
        async with pairing.connect(srv.target, channel_credentials=trust_ca1) as before:
            assert await before.unary_unary("/test.Svc/Echo")(b"1", timeout=FAIL_TIMEOUT) == b"1"
            async with pairing.connect(srv.target, channel_credentials=trust_ca2) as early:
                await rpc_error(pairing, early.unary_unary("/test.Svc/Echo")(
                    b"", timeout=FAIL_TIMEOUT), "UNAVAILABLE")
            fetches_before_rotation = state["fetches"]
            assert fetches_before_rotation >= 1, "the fetcher is asked at each new handshake"

            with lock:
                state["next"] = config_ca2
            async with pairing.connect(srv.target, channel_credentials=trust_ca2) as after:
                assert await after.unary_unary("/test.Svc/Echo")(
                    b"2", timeout=FAIL_TIMEOUT) == b"2"
            assert state["next"] is None, "the fetcher was not asked for the new handshake"
            # the connection made before the rotation still works
            assert await before.unary_unary("/test.Svc/Echo")(b"3", timeout=FAIL_TIMEOUT) == b"3"
            # and the rotation stays: a new CA1-only client now fails
            async with pairing.connect(srv.target, channel_credentials=trust_ca1) as late:
                await rpc_error(pairing, late.unary_unary("/test.Svc/Echo")(
                    b"", timeout=FAIL_TIMEOUT), "UNAVAILABLE")


async def test_big_unary_over_tls(pairing, pki):
    payload = os.urandom(8 * MiB)
    async with tls_env(pairing, pki, echo_handlers(), server_options=BIG_OPTIONS,
                       channel_options=BIG_OPTIONS) as env:
        assert await env.uu("Echo")(payload, timeout=15) == payload


async def test_long_bidi_stream_over_tls(pairing, pki):
    """200 messages of sizes up to ~64 KiB each way: many TLS records, split across frames."""
    messages = [os.urandom(1 + (i * 331) % (64 * 1024)) for i in range(200)]
    async with tls_env(pairing, pki, echo_handlers(), mtls=True) as env:
        call = env.ss("Bidi")(timeout=15)
        received = []
        for message in messages:
            await call.write(message)
            received.append(await call.read())
        await call.done_writing()
        assert await call.read() == pairing.client.EOF
        assert received == messages
        assert (await call.code()).name == "OK"


async def test_local_credentials_tcp(pairing):
    lib_s, lib_c = pairing.server.lib, pairing.client.lib
    seen = []
    async with pairing.env(
            echo_handlers(seen),
            server_credentials=lib_s.local_server_credentials(lib_s.LocalConnectionType.LOCAL_TCP),
            channel_credentials=lib_c.local_channel_credentials(
                lib_c.LocalConnectionType.LOCAL_TCP)) as env:
        await assert_four_shapes(env)
    assert seen[0].auth_context["transport_security_type"] == [b"local"]


async def test_local_credentials_uds(pairing):
    lib_s, lib_c = pairing.server.lib, pairing.client.lib
    seen = []
    with tempfile.TemporaryDirectory() as tmp:
        async with pairing.env(
                echo_handlers(seen), address=f"unix:{tmp}/tls.sock",
                server_credentials=lib_s.local_server_credentials(lib_s.LocalConnectionType.UDS),
                channel_credentials=lib_c.local_channel_credentials(
                    lib_c.LocalConnectionType.UDS)) as env:
            await assert_four_shapes(env)
    assert seen[0].auth_context["transport_security_type"] == [b"local"]
