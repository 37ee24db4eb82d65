"""What server.py and client.py share: where make_certs.sh puts the PKI, and the access token."""

from __future__ import annotations

import pathlib

CERT_DIR = pathlib.Path(__file__).resolve().parent / "_certs"

# The bearer token every call must carry. A real service would check a signed token (a JWT, an
# OAuth2 access token) against its issuer instead of comparing with a constant.
ACCESS_TOKEN = "example-token-do-not-use"


def read_pem(name: str) -> bytes:
    """The bytes of _certs/<name>; says to run make_certs.sh when it is missing."""
    path = CERT_DIR / name
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SystemExit(f"{path} is missing: run `bash make_certs.sh` first") from None
