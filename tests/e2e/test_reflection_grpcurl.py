"""grpcurl (fullstorydev/grpcurl, pinned by scripts/install_grpc_tools.sh) against our server
through reflection alone — no .proto given to it: list, describe, and calls of all four shapes
with JSON on stdin (`-d @`). Reflection by our servicer and by grpcio-reflection's (v1alpha
only: grpcurl falls back to it); in grpc-only mode, grpc.aio's server with grpcio's servicers.
"""

from __future__ import annotations

import json

import e2e_echo_pb2 as pb
import e2e_echo_pb2_grpc as pb_grpc
import pytest

from e2e.helpers import GRPC_ONLY
from e2e.test_health import health_impl
from e2e.test_reflection import ECHO_SERVICE, IMPLS, reflection_impl
from tools.cli import run, tool_paths

HEALTH = "grpc.health.v1.Health"
GRPCURL_RPC_ERROR_BASE = 64  # grpcurl exits 64 + the status code when the RPC fails


class Echo(pb_grpc.EchoServicer):
    async def Unary(self, request, context):
        return pb.EchoReply(text=request.text.upper(), index=request.count, blob=request.blob)

    async def ServerStream(self, request, context):
        for i in range(request.count):
            yield pb.EchoReply(text=f"{request.text}-{i}", index=i)

    async def ClientStream(self, request_iterator, context):
        texts = [request.text async for request in request_iterator]
        return pb.EchoReply(text="+".join(texts), index=len(texts))

    async def Bidi(self, request_iterator, context):
        async for request in request_iterator:
            yield pb.EchoReply(text=request.text[::-1], index=request.count)


@pytest.fixture(scope="session")
def grpcurl() -> str:
    return tool_paths()["GRPCURL"]


@pytest.fixture(params=IMPLS)
def reflection_name(request) -> str:
    return request.param


def serve_all(pairing, reflection_name):
    """Echo + health + reflection listing both (and reflection itself) on `pairing`'s server."""
    health = health_impl("ours" if pairing.server.is_ours and not GRPC_ONLY else "grpcio")
    reflection_service = ("grpc.reflection.v1.ServerReflection" if reflection_name == "ours"
                          else "grpc.reflection.v1alpha.ServerReflection")
    listed = [ECHO_SERVICE, HEALTH, reflection_service]

    def register(server):
        pb_grpc.add_EchoServicer_to_server(Echo(), server)
        health.register(health.servicer())(server)
        reflection_impl(reflection_name).register(listed)(server)

    return pairing.serve(register), sorted(listed)


async def grpcurl_run(grpcurl, target, *args):
    return await run([grpcurl, "-plaintext", "-max-time", "10", target, *args])


async def call(grpcurl, target, method, *requests):
    """Calls `method` with `requests` (dicts, as JSON on stdin); returns the decoded replies."""
    ran = await run([grpcurl, "-plaintext", "-max-time", "10", "-d", "@", target, method],
                    stdin="\n".join(json.dumps(r) for r in requests))
    assert ran.returncode == 0, ran
    return decode_all(ran.stdout)


def decode_all(text: str) -> list[dict]:
    """The JSON documents grpcurl printed one after another."""
    decoder, out, i = json.JSONDecoder(), [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i == len(text):
            return out
        value, i = decoder.raw_decode(text, i)
        out.append(value)


async def test_grpcurl_list(ours_pairing, grpcurl, reflection_name):
    serving, listed = serve_all(ours_pairing, reflection_name)
    async with serving as srv:
        ran = await grpcurl_run(grpcurl, srv.target, "list")
        assert ran.returncode == 0, ran
        assert ran.stdout.split() == listed
        ran = await grpcurl_run(grpcurl, srv.target, "list", ECHO_SERVICE)
        assert ran.returncode == 0, ran
        assert ran.stdout.split() == sorted(f"{ECHO_SERVICE}.{m}" for m in
                                            ("Unary", "ServerStream", "ClientStream", "Bidi"))


async def test_grpcurl_describe(ours_pairing, grpcurl, reflection_name):
    serving, _ = serve_all(ours_pairing, reflection_name)
    async with serving as srv:
        ran = await grpcurl_run(grpcurl, srv.target, "describe", ECHO_SERVICE)
        assert ran.returncode == 0, ran
        assert f"{ECHO_SERVICE} is a service:" in ran.stdout, ran
        for line in (
                "rpc Unary ( .turbogrpc.e2e.EchoRequest ) returns ( .turbogrpc.e2e.EchoReply );",
                "rpc ServerStream ( .turbogrpc.e2e.EchoRequest ) returns "
                "( stream .turbogrpc.e2e.EchoReply );",
                "rpc ClientStream ( stream .turbogrpc.e2e.EchoRequest ) returns "
                "( .turbogrpc.e2e.EchoReply );",
                "rpc Bidi ( stream .turbogrpc.e2e.EchoRequest ) returns "
                "( stream .turbogrpc.e2e.EchoReply );"):
            assert line in ran.stdout, ran

        if reflection_name == "ours":  # grpcio-reflection finds no methods (upb protobuf)
            ran = await grpcurl_run(grpcurl, srv.target, "describe", f"{ECHO_SERVICE}.Bidi")
            assert ran.returncode == 0, ran
            assert f"{ECHO_SERVICE}.Bidi is a method:" in ran.stdout, ran
            assert ("rpc Bidi ( stream .turbogrpc.e2e.EchoRequest ) returns "
                    "( stream .turbogrpc.e2e.EchoReply );") in ran.stdout, ran

        ran = await grpcurl_run(grpcurl, srv.target, "describe", "turbogrpc.e2e.EchoRequest")
        assert ran.returncode == 0, ran
        assert "turbogrpc.e2e.EchoRequest is a message:" in ran.stdout, ran
        assert "int32 count = 2;" in ran.stdout, ran

        ran = await grpcurl_run(grpcurl, srv.target, "describe", "no.such.Service")
        assert ran.returncode != 0, ran


async def test_grpcurl_calls_all_four_shapes(ours_pairing, grpcurl, reflection_name):
    serving, _ = serve_all(ours_pairing, reflection_name)
    async with serving as srv:
        target = srv.target
        assert await call(grpcurl, target, f"{ECHO_SERVICE}/Unary",
                          {"text": "héllo", "count": 7, "blob": "AP8="}) == [
            {"text": "HÉLLO", "index": 7, "blob": "AP8="}]
        assert await call(grpcurl, target, f"{ECHO_SERVICE}/ServerStream",
                          {"text": "s", "count": 3}) == [
            {"text": "s-0"}, {"text": "s-1", "index": 1}, {"text": "s-2", "index": 2}]
        assert await call(grpcurl, target, f"{ECHO_SERVICE}/ClientStream",
                          {"text": "a"}, {"text": "b"}, {"text": "c"}) == [
            {"text": "a+b+c", "index": 3}]
        assert await call(grpcurl, target, f"{ECHO_SERVICE}/Bidi",
                          {"text": "abc", "count": 1}, {"text": "xy", "count": 2}) == [
            {"text": "cba", "index": 1}, {"text": "yx", "index": 2}]


async def test_grpcurl_health_check(ours_pairing, grpcurl, reflection_name):
    serving, _ = serve_all(ours_pairing, reflection_name)
    async with serving as srv:
        assert await call(grpcurl, srv.target, f"{HEALTH}/Check", {}) == [{"status": "SERVING"}]
        ran = await run([grpcurl, "-plaintext", "-max-time", "10", "-d", '{"service": "nope"}',
                         srv.target, f"{HEALTH}/Check"])
        assert ran.returncode == GRPCURL_RPC_ERROR_BASE + 5, ran  # NOT_FOUND
        assert "NotFound" in ran.stderr, ran
