"""gRPC target names (gRPC's naming doc), end to end: each form reaches a real server of ours
(turbogrpc.aio) on 127.0.0.1, [::1], a unix socket or a Linux abstract socket, through our
asyncio channel, our blocking channel and grpcio's client; all three must send the same
:authority (the server reads it), which checks ours against grpcio's. An ipv4:/ipv6: list whose
first address refuses connections still works (pick_first tries the next). A malformed target
is refused when the channel is made, with a UsageError naming the target and what is wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from typing import Callable, NamedTuple

import grpc
import grpc.aio
import pytest

import turbogrpc
import turbogrpc.aio
from e2e.helpers import free_port_refusing, ipv6_loopback_available, ours_only, settle_grpc_tasks

METHOD = "/test.Svc/Who"
NO_IPV6 = pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback here")


async def _who(request, context):
    # What the server saw: the :authority the client sent, and the peer it names.
    return f"{context._authority}\n{context.peer()}".encode()


@contextlib.asynccontextmanager
async def _our_server(address: str):
    server = turbogrpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "test.Svc", {"Who": grpc.unary_unary_rpc_method_handler(_who)}),))
    port = server.add_insecure_port(address)
    assert port != 0, f"bind {address} failed"
    await server.start()
    try:
        yield port
    finally:
        await server.stop(None)


def _blocking_call(target: str) -> bytes:
    with turbogrpc.insecure_channel(target) as channel:
        return channel.unary_unary(METHOD)(b"", timeout=10)


async def _calls(target: str) -> dict[str, list[str]]:
    """(authority, peer) as the server saw them, per client: ours (asyncio), ours (blocking),
    grpcio's."""
    seen: dict[str, bytes] = {}
    async with turbogrpc.aio.insecure_channel(target) as channel:
        seen["ours-aio"] = await channel.unary_unary(METHOD)(b"", timeout=10)
    seen["ours-blocking"] = await asyncio.to_thread(_blocking_call, target)
    channel = grpc.aio.insecure_channel(target)
    try:
        seen["grpcio"] = await channel.unary_unary(METHOD)(b"", timeout=10)
    finally:
        await channel.close()
        await settle_grpc_tasks(server_side=False)
    return {client: answer.decode().split("\n") for client, answer in seen.items()}


class Form(NamedTuple):
    listen: str                       # the server's address ("...:0": any port)
    target: Callable[[int], str]      # the client's target, given the bound port
    authority: Callable[[int], str]   # the :authority grpcio sends for it (measured, 1.85)
    peer_prefix: str                  # how the server names the client


def _abstract_name() -> str:
    return f"turbogrpc-e2e-{uuid.uuid4().hex[:12]}"


_ABSTRACT = _abstract_name()
# A NUL (written %00), a space and a colon: an abstract name may hold any bytes.
_ABSTRACT_ODD = f"odd%00name :{uuid.uuid4().hex[:8]}"

TCP_FORMS = {
    "host:port": Form("127.0.0.1:0", lambda p: f"127.0.0.1:{p}", lambda p: f"127.0.0.1:{p}",
                      "ipv4:"),
    "localhost": Form("127.0.0.1:0", lambda p: f"localhost:{p}", lambda p: f"localhost:{p}",
                      "ipv4:"),
    "dns:///host": Form("127.0.0.1:0", lambda p: f"dns:///localhost:{p}",
                        lambda p: f"localhost:{p}", "ipv4:"),
    "dns:addr": Form("127.0.0.1:0", lambda p: f"dns:127.0.0.1:{p}", lambda p: f"127.0.0.1:{p}",
                     "ipv4:"),
    "ipv4:": Form("127.0.0.1:0", lambda p: f"ipv4:127.0.0.1:{p}", lambda p: f"127.0.0.1:{p}",
                  "ipv4:"),
    "ipv4:///": Form("127.0.0.1:0", lambda p: f"ipv4:///127.0.0.1:{p}",
                     lambda p: f"127.0.0.1:{p}", "ipv4:"),
}
IPV6_FORMS = {
    "[v6]:port": Form("[::1]:0", lambda p: f"[::1]:{p}", lambda p: f"[::1]:{p}", "ipv6:[::1]:"),
    "ipv6:": Form("[::1]:0", lambda p: f"ipv6:[::1]:{p}", lambda p: f"[::1]:{p}", "ipv6:[::1]:"),
}


async def _check_form(f: Form) -> None:
    """Every client reaches a server listening on `f.listen` through `f.target`, sending the
    expected :authority from the expected kind of address."""
    async with _our_server(f.listen) as port:
        seen = await _calls(f.target(port))
    for client, (authority, peer) in seen.items():
        assert authority == f.authority(port), (client, authority)
        assert peer.startswith(f.peer_prefix), (client, peer)


@ours_only
@pytest.mark.parametrize("form", list(TCP_FORMS))
async def test_tcp_forms(form):
    await _check_form(TCP_FORMS[form])


@ours_only
@NO_IPV6
@pytest.mark.parametrize("form", list(IPV6_FORMS))
async def test_ipv6_forms(form):
    await _check_form(IPV6_FORMS[form])


@ours_only
async def test_ipv4_list_fails_over_from_a_dead_first_address():
    dead = free_port_refusing()  # bound, not listening: connecting is refused
    try:
        dead_port = dead.getsockname()[1]
        async with _our_server("127.0.0.1:0") as port:
            target = f"ipv4:127.0.0.1:{dead_port},127.0.0.1:{port}"
            seen = await _calls(target)
    finally:
        dead.close()
    for client, (authority, _) in seen.items():
        assert authority == f"127.0.0.1:{dead_port},127.0.0.1:{port}", (client, authority)


@ours_only
@NO_IPV6
async def test_ipv6_list_fails_over_from_a_dead_first_address():
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as dead:
        dead.bind(("::1", 0))
        dead_port = dead.getsockname()[1]
        async with _our_server("[::1]:0") as port:
            seen = await _calls(f"ipv6:[::1]:{dead_port},[::1]:{port}")
    for client, (authority, _) in seen.items():
        assert authority == f"[::1]:{dead_port},[::1]:{port}", (client, authority)


@ours_only
@pytest.mark.parametrize("form", ["unix:/abs", "unix:///abs", "unix:relative"])
async def test_unix_forms(form, tmp_path, monkeypatch):
    path = str(tmp_path / "s.sock")
    if form == "unix:/abs":
        address = target = f"unix:{path}"
    elif form == "unix:///abs":
        address, target = f"unix:{path}", f"unix://{path}"
    else:
        monkeypatch.chdir(tmp_path)  # the server binds and the clients connect relative to it
        address = target = "unix:rel.sock"
        path = "rel.sock"
    async with _our_server(address):
        assert os.path.exists(path)
        seen = await _calls(target)
    # grpcio's: the path without its first '/', percent-encoded ("tmp%2Fx%2Fs.sock").
    expected = path.lstrip("/").replace("/", "%2F")
    for client, (authority, peer) in seen.items():
        assert authority == expected, (client, authority)
        assert peer.startswith("unix:"), (client, peer)


@ours_only
@pytest.mark.parametrize("name", [_ABSTRACT, _ABSTRACT_ODD], ids=["plain", "odd-bytes"])
async def test_unix_abstract(name):
    async with _our_server(f"unix-abstract:{name}"):
        # Abstract: no file anywhere; the kernel lists it with a leading '@'.
        decoded = name.replace("%00", "@")
        with open("/proc/net/unix") as table:
            assert any(line.rstrip("\n").endswith("@" + decoded) for line in table), decoded
        seen = await _calls(f"unix-abstract:{name}")
    encoded = name.replace(" ", "%20")  # the authority and peer are percent-encoded
    for client, (authority, peer) in seen.items():
        assert authority == encoded, (client, authority)
        assert peer == f"unix-abstract:{encoded}", (client, peer)


@ours_only
async def test_abstract_and_path_names_are_distinct():
    """unix-abstract:NAME is not the file NAME: a client of the one never reaches the other."""
    name = _abstract_name()
    async with _our_server(f"unix-abstract:{name}"):
        async with turbogrpc.aio.insecure_channel(f"unix:{name}") as channel:
            with pytest.raises(turbogrpc.aio.AioRpcError) as info:
                await channel.unary_unary(METHOD)(b"", timeout=5)
    assert info.value.code() == turbogrpc.aio.StatusCode.UNAVAILABLE


MALFORMED = [
    ("", "it names no host"),
    (":50051", "the host is empty"),
    ("localhost:abc", "port 'abc' is not a number"),
    ("localhost:70000", "port '70000' is out of range (0-65535)"),
    ("[::1", "has a '[' with no matching ']'"),
    ("ho st:50051", "'ho st' is not a host name or an IP address"),
    ("http://localhost:50051", "unknown scheme 'http'"),
    ("dns://ns.example/localhost:50051", "DNS server 'ns.example' is not an IP address"),
    ("dns://localhost:50051", "write 'dns:///localhost:50051'"),
    ("ipv4:", "it lists no addresses"),
    ("ipv4:1.2.3:50051", "'1.2.3' is not an IPv4 address"),
    ("ipv4:[::1]:50051", "'::1' is not an IPv4 address"),
    ("ipv4:127.0.0.1:1,", "entry 2 of its address list is empty"),
    ("ipv4:127.0.0.1:1,,127.0.0.1:2", "entry 2 of its address list is empty"),
    ("ipv6:127.0.0.1:50051", "'127.0.0.1' is not an IPv6 address"),
    ("ipv6:[::1]:50051,", "entry 2 of its address list is empty"),
    ("ipv6:[::1]:65536", "port '65536' is out of range"),
    ("unix:", "the socket path is empty"),
    ("unix://host/tmp/x.sock", "unix: takes no authority ('host')"),
    ("unix:/" + "p" * 107, "the socket path is 108 bytes, over the 107"),
    ("unix-abstract:", "the abstract socket name is empty"),
    ("unix-abstract:" + "n" * 108, "the abstract socket name is 108 bytes, over the 107"),
]


@ours_only
@pytest.mark.parametrize("target, wrong", MALFORMED, ids=[t or "empty" for t, _ in MALFORMED])
async def test_malformed_target_refused_at_channel_creation(target, wrong):
    makers = {
        "aio": lambda: turbogrpc.aio.insecure_channel(target),
        "blocking": lambda: turbogrpc.insecure_channel(target),
        # grpc.default_authority replaces the authority, not the check of the target
        "aio-default-authority": lambda: turbogrpc.aio.insecure_channel(
            target, options=[("grpc.default_authority", "x.example")]),
    }
    for kind, make in makers.items():
        with pytest.raises(turbogrpc.UsageError) as info:
            make()
        message = str(info.value)
        assert message.startswith(f"invalid target '{target}': "), (kind, message)
        assert wrong in message, (kind, message)
        assert isinstance(info.value, ValueError)  # grpc.aio.UsageError's base, as grpcio's

