"""Our blocking server's secure ports against grpcio's blocking client and ours: TLS with client
certificates (the peer's identity as the handler sees it), and certificates fetched per
connection (dynamic_ssl_server_credentials), which the server's fetcher thread answers."""

from __future__ import annotations

import threading
from concurrent import futures

import grpc
import pytest

import tls_certs
import turbogrpc
from sync.blocking_server import SERVICE, uu


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return tls_certs.make_pki(tmp_path_factory.mktemp("pki"))


def _who(request, context):
    return repr((context.peer_identity_key(), context.peer_identities(),
                 context.auth_context().get("transport_security_type"))).encode()


def _secure_server(credentials):
    pool = futures.ThreadPoolExecutor(max_workers=2)
    server = turbogrpc.server(pool, handlers=(turbogrpc.method_handlers_generic_handler(
        SERVICE, {"Who": uu(_who)}),))
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    return server, pool, port


def test_mutual_tls_shows_the_client_identity(client, pki):
    server, pool, port = _secure_server(turbogrpc.ssl_server_credentials(
        [pki.server.pair], root_certificates=pki.ca1.cert_pem, require_client_auth=True))
    try:
        credentials = client.ssl_channel_credentials(
            root_certificates=pki.ca1.cert_pem, private_key=pki.client.key_pem,
            certificate_chain=pki.client.cert_pem)
        with client.secure_channel(f"localhost:{port}", credentials) as channel:
            seen = channel.unary_unary(f"/{SERVICE}/Who")(b"", timeout=10).decode()
        assert "'x509_common_name'" in seen or "'x509_subject_alternative_name'" in seen, seen
        assert "client-1" in seen and "[b'ssl']" in seen
        without = client.ssl_channel_credentials(root_certificates=pki.ca1.cert_pem)
        with client.secure_channel(f"localhost:{port}", without) as channel:
            with pytest.raises(grpc.RpcError) as info:
                channel.unary_unary(f"/{SERVICE}/Who")(b"", timeout=10)
            assert info.value.code() is grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop(None)
        pool.shutdown()


def test_certificates_fetched_per_connection(client, pki):
    fetches = []
    fetcher_threads = set()
    current = [pki.server]

    def fetch():
        fetches.append(current[0].name)
        fetcher_threads.add(threading.current_thread().name)
        return turbogrpc.ssl_server_certificate_configuration([current[0].pair])

    initial = turbogrpc.ssl_server_certificate_configuration([pki.server.pair])
    server, pool, port = _secure_server(
        turbogrpc.dynamic_ssl_server_credentials(initial, fetch))
    try:
        for root in (pki.ca1, pki.ca2):
            credentials = client.ssl_channel_credentials(root_certificates=root.cert_pem)
            with client.secure_channel(f"localhost:{port}", credentials) as channel:
                seen = channel.unary_unary(f"/{SERVICE}/Who")(b"", timeout=10)
            assert seen == repr((None, None, [b"ssl"])).encode()
            current[0] = pki.server_ca2  # the next connection gets the rotated certificate
        assert fetches[:2] == ["server", "server_ca2"]
        assert fetcher_threads == {"turbogrpc-certificates"}
    finally:
        server.stop(None)
        pool.shutdown()
