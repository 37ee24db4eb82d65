"""Fixtures of the blocking-API tests: `client` (the module under test: turbogrpc, or grpc to
validate the tests themselves) × `server_kind` (servers.py), and `env` tying them together."""

from __future__ import annotations

import importlib

import pytest

import generated_protos  # noqa: F401  (compiles the test protos, puts them on sys.path)
from sync.servers import SERVER_KINDS, Service, serve

CLIENTS = ("turbogrpc", "grpc")


@pytest.fixture(params=CLIENTS)
def client(request):
    return importlib.import_module(request.param)


@pytest.fixture(params=SERVER_KINDS)
def server_kind(request):
    return request.param


class Env:
    def __init__(self, client, channel, service, port, server_kind):
        self.client = client
        self.channel = channel
        self.service = service
        self.port = port
        self.server_kind = server_kind

    @property
    def server_sees_cancellation(self):
        """Whether the server's handlers learn of a cancelled RPC (``add_callback``): not
        grpc.aio's ``def`` handlers (see servers._is_active)."""
        return self.server_kind != "grpc-aio"

    def uu(self, name):
        return self.channel.unary_unary(f"/test.Sync/{name}")

    def us(self, name):
        return self.channel.unary_stream(f"/test.Sync/{name}")

    def su(self, name):
        return self.channel.stream_unary(f"/test.Sync/{name}")

    def ss(self, name):
        return self.channel.stream_stream(f"/test.Sync/{name}")


@pytest.fixture
def env(client, server_kind):
    service = Service()
    with serve(server_kind, service) as port:
        with client.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Env(client, channel, service, port, server_kind)
        service.release.set()
