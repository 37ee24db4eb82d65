"""Test PKI made at test time with the `openssl` CLI, for the TLS tests of every layer.

`make_pki(directory)` writes EC P-256 keys and certificates into `directory` (nothing is checked
in) and returns a `Pki` whose entries expose paths and PEM bytes:

    ca1, ca2          two unrelated self-signed roots
    server            from CA1; SANs localhost, *.test.google.fr, foo.test.google.fr, 127.0.0.1, ::1
    server_other      from CA1; CN "other", SAN other.example.com (a second key pair, chosen by SNI)
    server_ca2        from CA2; same SANs as `server` (the certificate a rotation switches to)
    server_expired    from CA1; same SANs as `server`, valid 2020-01-01 to 2021-01-01 only
    server_wrong_name from CA1; SAN wrong.example.com only
    client            from CA1; CN "client-1", SANs client-1.example.com, spiffe://test/client-1

The test session makes it once (`pki` fixture in tests/e2e/conftest.py).
"""

from __future__ import annotations

import pathlib
import subprocess
from dataclasses import dataclass

SERVER_SANS = ("DNS:localhost", "DNS:*.test.google.fr", "DNS:foo.test.google.fr",
               "IP:127.0.0.1", "IP:::1")
CLIENT_CN = "client-1"
CLIENT_DNS = "client-1.example.com"
CLIENT_URI = "spiffe://test/client-1"
OTHER_NAME = "other.example.com"
WRONG_NAME = "wrong.example.com"
# A name the server certificate covers, for grpc.ssl_target_name_override.
SERVER_NAME = "foo.test.google.fr"


@dataclass(frozen=True)
class KeyPair:
    """A certificate (and its private key; a root's key signs the leaves)."""

    name: str
    key_path: pathlib.Path
    cert_path: pathlib.Path

    @property
    def key_pem(self) -> bytes:
        return self.key_path.read_bytes()

    @property
    def cert_pem(self) -> bytes:
        return self.cert_path.read_bytes()

    @property
    def pair(self) -> tuple[bytes, bytes]:
        """(private key, certificate chain) as ssl_server_credentials takes them."""
        return self.key_pem, self.cert_pem


@dataclass(frozen=True)
class Pki:
    directory: pathlib.Path
    ca1: KeyPair
    ca2: KeyPair
    server: KeyPair
    server_other: KeyPair
    server_ca2: KeyPair
    server_expired: KeyPair
    server_wrong_name: KeyPair
    client: KeyPair


def _openssl(*args: str, cwd: pathlib.Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{done.stderr}")


def _req_config(directory: pathlib.Path, name: str, cn: str, extensions: list[str]) -> pathlib.Path:
    """A config of its own for each certificate, so the system openssl.cnf adds nothing."""
    path = directory / f"{name}.cnf"
    path.write_text(
        "[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = ext\n"
        f"[dn]\nO = turbogrpc tests\nCN = {cn}\n"
        "[ext]\n" + "\n".join(extensions) + "\n"
    )
    return path


def _root(directory: pathlib.Path, name: str, cn: str) -> KeyPair:
    config = _req_config(directory, name, cn, [
        "basicConstraints = critical,CA:TRUE",
        "keyUsage = critical,keyCertSign,cRLSign",
        "subjectKeyIdentifier = hash",
    ])
    pair = KeyPair(name, directory / f"{name}.key", directory / f"{name}.pem")
    _openssl("req", "-x509", "-new", "-config", str(config), "-newkey", "ec",
             "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-sha256", "-days", "3650",
             "-keyout", str(pair.key_path), "-out", str(pair.cert_path), cwd=directory)
    return pair


def _leaf_extensions(sans) -> list[str]:
    return [
        "basicConstraints = critical,CA:FALSE",
        "keyUsage = critical,digitalSignature,keyAgreement",
        "extendedKeyUsage = serverAuth,clientAuth",
        "subjectKeyIdentifier = hash",
        "authorityKeyIdentifier = keyid",
        "subjectAltName = " + ",".join(sans),
    ]


def _leaf(directory: pathlib.Path, name: str, cn: str, sans, ca: KeyPair) -> KeyPair:
    config = _req_config(directory, name, cn, _leaf_extensions(sans))
    pair = KeyPair(name, directory / f"{name}.key", directory / f"{name}.pem")
    _openssl("req", "-x509", "-new", "-config", str(config), "-newkey", "ec",
             "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-sha256", "-days", "3650",
             "-CA", str(ca.cert_path), "-CAkey", str(ca.key_path),
             "-keyout", str(pair.key_path), "-out", str(pair.cert_path), cwd=directory)
    return pair


def _expired_leaf(directory: pathlib.Path, name: str, cn: str, sans, ca: KeyPair) -> KeyPair:
    """Valid 2020-01-01 .. 2021-01-01: `openssl ca` takes explicit dates (OpenSSL 3.0's `x509`
    and `req` have no -not_before)."""
    config = _req_config(directory, name, cn, _leaf_extensions(sans))
    pair = KeyPair(name, directory / f"{name}.key", directory / f"{name}.pem")
    csr = directory / f"{name}.csr"
    _openssl("req", "-new", "-config", str(config), "-newkey", "ec",
             "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(pair.key_path),
             "-out", str(csr), cwd=directory)
    ca_dir = directory / f"{name}-ca"
    ca_dir.mkdir(exist_ok=True)
    (ca_dir / "index.txt").write_text("")
    (ca_dir / "serial").write_text("1000\n")
    ca_config = directory / f"{name}-ca.cnf"
    ca_config.write_text(
        "[ca]\ndefault_ca = ca_default\n"
        f"[ca_default]\ndatabase = {ca_dir / 'index.txt'}\nserial = {ca_dir / 'serial'}\n"
        f"new_certs_dir = {ca_dir}\n"
        "default_md = sha256\npolicy = policy_any\nunique_subject = no\n"
        "[policy_any]\ncommonName = supplied\norganizationName = optional\n"
    )
    _openssl("ca", "-batch", "-config", str(ca_config), "-cert", str(ca.cert_path),
             "-keyfile", str(ca.key_path), "-in", str(csr), "-out", str(pair.cert_path),
             "-startdate", "20200101000000Z", "-enddate", "20210101000000Z",
             "-notext", "-extfile", str(config), "-extensions", "ext", cwd=directory)
    return pair


def make_pki(directory: pathlib.Path) -> Pki:
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ca1 = _root(directory, "ca1", "turbogrpc test CA 1")
    ca2 = _root(directory, "ca2", "turbogrpc test CA 2")
    return Pki(
        directory=directory,
        ca1=ca1,
        ca2=ca2,
        server=_leaf(directory, "server", "server", SERVER_SANS, ca1),
        server_other=_leaf(directory, "server_other", "other", [f"DNS:{OTHER_NAME}"], ca1),
        server_ca2=_leaf(directory, "server_ca2", "server-ca2", SERVER_SANS, ca2),
        server_expired=_expired_leaf(directory, "server_expired", "expired", SERVER_SANS, ca1),
        server_wrong_name=_leaf(directory, "server_wrong_name", "wrong",
                                [f"DNS:{WRONG_NAME}"], ca1),
        client=_leaf(directory, "client", CLIENT_CN,
                     [f"DNS:{CLIENT_DNS}", f"URI:{CLIENT_URI}"], ca1),
    )
