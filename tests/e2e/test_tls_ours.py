"""TLS behaviour only our stack guarantees or reports: session resumption per channel across a
reconnect, :authority from grpc.ssl_target_name_override, bad credentials refused where they
are given (with a clear message), and a certificate fetcher that fails or answers wrongly
(the server keeps its certificates and goes on serving); local credentials dialling only
loopback addresses."""

from __future__ import annotations

import pytest

from e2e.helpers import md_values, ours_only, rpc_error
from e2e.tls_helpers import FAIL_TIMEOUT, channel_credentials, echo_handlers, name_override, tls_env


@ours_only
async def test_channel_resumes_its_tls_session_after_reconnecting(ours_pairing, pki):
    """The server closes idle connections (GOAWAY after 200 ms); the channel's next call
    reconnects and resumes its last session."""
    seen = []
    async with tls_env(ours_pairing, pki, echo_handlers(seen),
                       server_options=[("grpc.max_connection_idle_ms", 200)]) as env:
        assert await env.uu("Echo")(b"1", timeout=FAIL_TIMEOUT) == b"1"
        await _until_reconnected(env, seen)
    assert seen[0].auth_context["ssl_session_reused"] == [b"false"]
    assert seen[-1].auth_context["ssl_session_reused"] == [b"true"]


async def _until_reconnected(env, seen, attempts=10):
    import asyncio

    for _ in range(attempts):
        await asyncio.sleep(0.5)  # longer than the idle time: the server sends GOAWAY
        assert await env.uu("Echo")(b"again", timeout=FAIL_TIMEOUT) == b"again"
        if seen[-1].auth_context["ssl_session_reused"] == [b"true"]:
            return
    raise AssertionError("the channel never reconnected with a resumed session")


@ours_only
async def test_name_override_is_the_authority(ours_pairing, pki):
    authorities = []

    async def echo(request, context):
        authorities.append(context._authority)
        return request

    import grpc

    handlers = {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    async with tls_env(ours_pairing, pki, handlers,
                       channel_options=name_override("foo.test.google.fr")) as env:
        assert await env.uu("Echo")(b"x", timeout=FAIL_TIMEOUT) == b"x"
    assert authorities == ["foo.test.google.fr"]


@ours_only
async def test_bad_credentials_are_refused_where_given(ours_pairing, pki):
    import turbogrpc

    aio = ours_pairing.client.aio
    with pytest.raises(turbogrpc.UsageError, match="root certificates"):
        aio.secure_channel("localhost:1", turbogrpc.ssl_channel_credentials(b"not a pem"))
    with pytest.raises(turbogrpc.UsageError, match="private key does not match"):
        aio.secure_channel("localhost:1", turbogrpc.ssl_channel_credentials(
            pki.ca1.cert_pem, pki.server.key_pem, pki.client.cert_pem))
    with pytest.raises(turbogrpc.UsageError, match="channel credentials"):
        aio.secure_channel("localhost:1", object())
    with pytest.raises(turbogrpc.UsageError, match="needs channel credentials"):
        aio.secure_channel("localhost:1", None)
    with pytest.raises(turbogrpc.UsageError, match="ssl_target_name_override"):
        aio.secure_channel("localhost:1", channel_credentials(ours_pairing.client, pki.ca1),
                           options=[("grpc.ssl_target_name_override", "")])
    local = turbogrpc.LocalConnectionType
    with pytest.raises(turbogrpc.UsageError, match="unix: target"):
        aio.secure_channel("localhost:1", turbogrpc.local_channel_credentials(local.UDS))
    with pytest.raises(turbogrpc.UsageError, match="loopback TCP target"):
        aio.secure_channel("unix:/tmp/x.sock", turbogrpc.local_channel_credentials(local.LOCAL_TCP))
    # A name is checked by the addresses it resolves to, when the channel dials them.
    aio.secure_channel("example.com:1", turbogrpc.local_channel_credentials(local.LOCAL_TCP))
    aio.secure_channel("ipv4:127.0.0.1:1", turbogrpc.local_channel_credentials(local.LOCAL_TCP))
    server = ours_pairing.server.aio.server()
    with pytest.raises(turbogrpc.UsageError, match="invalid certificate chain"):
        server.add_secure_port("127.0.0.1:0", turbogrpc.ssl_server_credentials([(b"k", b"c")]))
    with pytest.raises(turbogrpc.UsageError, match="server credentials"):
        server.add_secure_port("127.0.0.1:0", turbogrpc.ssl_channel_credentials())
    await server.stop(None)


@ours_only
@pytest.mark.parametrize("answer", ["raises", "wrong type", "bad pem"])
async def test_failing_certificate_fetcher_keeps_the_current_certificates(ours_pairing, pki, answer):
    import turbogrpc

    def fetcher():
        if answer == "raises":
            raise RuntimeError("vault unreachable")
        if answer == "wrong type":
            return "not a configuration"
        return turbogrpc.ssl_server_certificate_configuration([(b"bad", b"pem")])

    creds = turbogrpc.dynamic_ssl_server_credentials(
        turbogrpc.ssl_server_certificate_configuration([pki.server.pair]), fetcher)
    async with ours_pairing.serve(echo_handlers(), server_credentials=creds) as srv:
        for _ in range(2):  # a fresh connection each time: the fetcher is asked each time
            async with ours_pairing.connect(
                    srv.target, channel_credentials=channel_credentials(ours_pairing.client, pki.ca1)) as ch:
                assert await ch.unary_unary("/test.Svc/Echo")(b"ok", timeout=FAIL_TIMEOUT) == b"ok"


@ours_only
async def test_plugin_metadata_the_engine_refuses_fails_the_call(ours_pairing, pki):
    import turbogrpc

    class Plugin(turbogrpc.AuthMetadataPlugin):
        def __call__(self, context, callback):
            callback((("grpc-status", "0"),), None)  # reserved: no call may send it

    seen = []
    async with tls_env(ours_pairing, pki, echo_handlers(seen)) as env:
        creds = turbogrpc.metadata_call_credentials(Plugin())
        error = await rpc_error(ours_pairing, env.uu("Echo")(b"", credentials=creds,
                                                             timeout=FAIL_TIMEOUT), "UNAVAILABLE")
        assert "grpc-status" in error.details()
        assert await env.uu("Echo")(b"fine", timeout=FAIL_TIMEOUT) == b"fine"
    assert [md_values(s.metadata, "grpc-status") for s in seen] == [[]]


# TEST-NET-1 (RFC 5737): never a loopback address, and never dialled here.
NOT_LOOPBACK = "192.0.2.1:1"


@ours_only
async def test_local_tcp_credentials_never_dial_a_non_loopback_address(ours_pairing):
    """grpc-core's local handshake refuses a peer that is not loopback; the engine does not even
    dial it: the call fails UNAVAILABLE at once, saying why."""
    import turbogrpc

    credentials = turbogrpc.local_channel_credentials(turbogrpc.LocalConnectionType.LOCAL_TCP)
    async with ours_pairing.connect(f"ipv4:{NOT_LOOPBACK}", channel_credentials=credentials) as channel:
        err = await rpc_error(ours_pairing, channel.unary_unary("/test.Svc/Echo")(b"x", timeout=FAIL_TIMEOUT),
                              "UNAVAILABLE")
    assert f"local credentials (LOCAL_TCP): ipv4:{NOT_LOOPBACK} is not a loopback address" in err.details()


@ours_only
@pytest.mark.parametrize("policy", ["pick_first", "round_robin"])
async def test_local_tcp_credentials_use_only_the_loopback_addresses_of_a_target(ours_pairing, policy):
    import turbogrpc

    local = turbogrpc.LocalConnectionType
    async with ours_pairing.serve(echo_handlers(),
                                  server_credentials=turbogrpc.local_server_credentials(local.LOCAL_TCP)) as srv, \
            ours_pairing.connect(f"ipv4:{NOT_LOOPBACK},127.0.0.1:{srv.port}",
                                 options=[("grpc.lb_policy_name", policy)],
                                 channel_credentials=turbogrpc.local_channel_credentials(local.LOCAL_TCP)) as channel:
        echo = channel.unary_unary("/test.Svc/Echo")
        for _ in range(4):
            assert await echo(b"x", timeout=FAIL_TIMEOUT) == b"x"
