"""The TLS scenarios' certificates, made at run time with the `openssl` CLI into a scratch folder
(nothing is checked in): one self-signed root and one server certificate it signs.

    files = certs.make(directory)   # files.ca, files.server_cert, files.server_key: paths

The server certificate names 127.0.0.1 (and localhost), so the Go client verifies it against the
address it dials with no name override. EC P-256 keys, like most deployments' and grpc's tests.
"""

import os
import subprocess
from dataclasses import dataclass

__all__ = ["TlsFiles", "make", "describe"]

SERVER_SANS = "DNS:localhost,IP:127.0.0.1"
_DAYS = "2"  # one run needs minutes; a left-over folder is useless by the day after


@dataclass(frozen=True)
class TlsFiles:
    ca: str           # the root's certificate (PEM): what clients trust
    server_cert: str  # the server's certificate chain (PEM)
    server_key: str   # the server's private key (PEM)


def _openssl(directory, *args):
    done = subprocess.run(["openssl", *args], cwd=directory, capture_output=True, text=True,
                          timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed ({done.returncode}):\n"
                           f"{done.stderr.strip()}")


def _config(directory, name, common_name, extensions):
    """A config of its own per certificate, so the system's openssl.cnf adds no extension."""
    path = os.path.join(directory, f"{name}.cnf")
    with open(path, "w", encoding="ascii") as handle:
        handle.write("[req]\ndistinguished_name = dn\nprompt = no\n"
                     f"[dn]\nO = turbogrpc bench\nCN = {common_name}\n"
                     "[ext]\n" + "".join(f"{line}\n" for line in extensions))
    return path


def make(directory):
    """Writes ca.pem, server.pem and server.key into directory (created if missing)."""
    os.makedirs(directory, exist_ok=True)
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    ca_config = _config(directory, "ca", "turbogrpc bench root", [
        "basicConstraints = critical, CA:TRUE", "keyUsage = critical, keyCertSign, cRLSign",
        "subjectKeyIdentifier = hash"])
    _openssl(directory, "req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem",
             "-days", _DAYS, "-config", ca_config, "-extensions", "ext")
    server_config = _config(directory, "server", "localhost", [
        "basicConstraints = critical, CA:FALSE", "keyUsage = critical, digitalSignature",
        "extendedKeyUsage = serverAuth", f"subjectAltName = {SERVER_SANS}",
        "authorityKeyIdentifier = keyid"])
    _openssl(directory, "req", *key, "-keyout", "server.key", "-out", "server.csr",
             "-config", server_config)
    _openssl(directory, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-set_serial", "1", "-days", _DAYS, "-out", "server.pem",
             "-extfile", server_config, "-extensions", "ext")
    return TlsFiles(ca=os.path.join(directory, "ca.pem"),
                    server_cert=os.path.join(directory, "server.pem"),
                    server_key=os.path.join(directory, "server.key"))


def describe():
    """One sentence for the report: what the TLS cells' two ends used."""
    done = subprocess.run(["openssl", "version"], capture_output=True, text=True, check=False)
    system = " ".join(done.stdout.split()[:2]) or "unknown"
    return (f"an EC P-256 server certificate from a root made for the run; the Go client "
            f"(crypto/tls) offers h2 by ALPN. turbogrpc's engine links the system's OpenSSL "
            f"({system}), grpcio its bundled BoringSSL, grpclib Python's ssl module.")
