"""Binding a grpc-shaped server (grpc's or turbogrpc's, blocking or asyncio) to its address."""


def add_port(server, package, address, tls):
    """Adds `address` to `server`, plaintext or with `tls` = (cert path, key path), using
    `package`'s credentials; returns the bound port."""
    if tls is None:
        return server.add_insecure_port(address)
    cert_path, key_path = tls
    with open(cert_path, "rb") as cert, open(key_path, "rb") as key:
        credentials = package.ssl_server_credentials([(key.read(), cert.read())])
    return server.add_secure_port(address, credentials)
