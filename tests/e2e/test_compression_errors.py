"""Broken compression from raw HTTP/2 peers (our side; grpc-grpc stands in when validating).

Server side, a raw client sends one request: an encoding the server does not support (br) →
UNIMPLEMENTED, and the response lists what the server accepts in grpc-accept-encoding; the
compressed flag without grpc-encoding, or with grpc-encoding: identity → INTERNAL; a gzip bomb
(64 MiB of zeros, ≈64 KB on the wire) against the default 4 MiB receive limit →
RESOURCE_EXHAUSTED at once; the server keeps serving.
Client side, a raw server answers with the same: an encoding the client never advertised →
INTERNAL; compressed flag with grpc-encoding: identity → INTERNAL (without any grpc-encoding:
test_raw_sockets.test_client_compressed_flag_without_encoding); a bomb → RESOURCE_EXHAUSTED.
Plus the same bombs between real stacks, every pairing, through a CountingProxy: the limit
applies to the inflated size, while only ≈64 KB crossed.
"""

from __future__ import annotations

import asyncio
import gzip
import re
import tempfile
import time
import zlib

import grpc
import pytest

from e2e.helpers import MiB, md_values, rpc_error
from e2e.test_raw_sockets import (
    DATA, END_HEADERS, END_STREAM, HEADERS, frame, grpc_message, h2_peer, hpack, raw_server,
)
from e2e.wire_meter import CountingProxy

MAX_FRAME = 16384  # the HTTP/2 default SETTINGS_MAX_FRAME_SIZE
BOMB_SIZE = 64 * MiB


def gzipped_zeros(size: int) -> bytes:
    """gzip of `size` zero bytes, made in 1 MiB steps (no `size`-byte buffer needed)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # 16+: gzip framing
    zeros = bytes(MiB)
    return b"".join(compressor.compress(zeros) for _ in range(size // MiB)) + compressor.flush()


BOMB = gzipped_zeros(BOMB_SIZE)  # ≈65 KB: fits the default 65,535-byte flow-control window
assert len(BOMB) + 5 <= 65535
ACCEPTED = {"gzip", "deflate", "identity"}
# The gRPC spec (doc/compression.md): a message in an encoding the server does not support gets
# UNIMPLEMENTED and the server's grpc-accept-encoding. grpc.aio's server (grpc-core) answers a
# name it does not know (br) with INTERNAL "Error parsing 'grpc-encoding' metadata" and no list.
GRPC_SERVER_UNSUPPORTED_ENCODING = "INTERNAL"


def echo_handlers():
    async def echo(request, context):
        return request

    return {"Echo": grpc.unary_unary_rpc_method_handler(echo)}


def data_frames(stream_id: int, body: bytes, end_stream: bool) -> bytes:
    chunks = [body[i:i + MAX_FRAME] for i in range(0, len(body), MAX_FRAME)] or [b""]
    return b"".join(frame(DATA, END_STREAM if end_stream and i == len(chunks) - 1 else 0,
                          stream_id, chunk) for i, chunk in enumerate(chunks))


async def raw_request(port: int, extra_headers, body: bytes, timeout: float = 5.0):
    """Sends one gRPC request with `body` as it is, through nghttp (nghttp2's command-line
    client, so the response's HPACK is decoded by nghttp2), and returns the response's header
    fields (headers, then trailers) as (name, value) pairs."""
    headers = [("content-type", "application/grpc"), ("te", "trailers"), *extra_headers]
    with tempfile.NamedTemporaryFile(suffix=".grpc-body") as body_file:
        body_file.write(body)
        body_file.flush()
        args = ["nghttp", "-nv", "-d", body_file.name]
        for name, value in headers:
            args += ["-H", f"{name}: {value}"]
        process = await asyncio.create_subprocess_exec(
            *args, f"http://127.0.0.1:{port}/test.Svc/Echo",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            output, _ = await asyncio.wait_for(process.communicate(), timeout)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
            raise
    return [(m[1], m[2]) for m in RECEIVED_FIELD.finditer(output.decode("utf-8", "replace"))]


# nghttp -v prints each received header field as "[  0.001] recv (stream_id=13) name: value".
RECEIVED_FIELD = re.compile(r"\] recv \(stream_id=\d+\) (:?[^:\n]+): ([^\n]*)")


STATUS_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}


def status_of(fields) -> str:
    values = md_values(fields, "grpc-status")
    assert values, f"no grpc-status in the response: {fields}"
    return STATUS_NAMES[int(values[-1])]


def accepted_encodings(fields) -> set[str]:
    return {e.strip() for k, v in fields if k == "grpc-accept-encoding" for e in v.split(",")}


# ---- our server -----------------------------------------------------------------------------

BAD_REQUESTS = {
    # name: (request headers, body, expected status)
    "unsupported_encoding": ([("grpc-encoding", "br")], grpc_message(b"\x8b" * 64, True),
                             "UNIMPLEMENTED"),
    "compressed_flag_without_encoding": ([], grpc_message(b"not compressed at all", True),
                                         "INTERNAL"),
    "compressed_flag_with_identity": ([("grpc-encoding", "identity")],
                                      grpc_message(b"not compressed at all", True), "INTERNAL"),
    "bomb": ([("grpc-encoding", "gzip")], grpc_message(BOMB, True), "RESOURCE_EXHAUSTED"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
async def test_server_rejects_bad_compressed_request(ours_pairing, case):
    extra_headers, body, expected = BAD_REQUESTS[case]
    async with ours_pairing.env(echo_handlers()) as env:
        started = time.monotonic()
        fields = await raw_request(env.srv.port, extra_headers, body)
        elapsed = time.monotonic() - started
        spec_says_list = case == "unsupported_encoding"
        if spec_says_list and not ours_pairing.server.is_ours:
            expected, spec_says_list = GRPC_SERVER_UNSUPPORTED_ENCODING, False
        assert status_of(fields) == expected, fields
        assert md_values(fields, "grpc-message"), f"no details: {fields}"
        assert elapsed < 2, f"took {elapsed:.1f}s"
        if spec_says_list:
            assert ACCEPTED <= accepted_encodings(fields), fields
        assert await env.uu("Echo")(b"after") == b"after"


async def test_server_accepts_good_raw_compressed_request(ours_pairing):
    # The same raw client, done right: proves the rejections above are about compression.
    async with ours_pairing.env(echo_handlers()) as env:
        body = grpc_message(gzip.compress(b"x" * 1000), compressed=True)
        fields = await raw_request(env.srv.port, [("grpc-encoding", "gzip")], body)
        assert status_of(fields) == "OK", fields


# ---- our client -----------------------------------------------------------------------------

def respond_with(encoding: str | None, message: bytes):
    """A raw server's answer: headers (with `encoding` as grpc-encoding, if any), `message`
    with the compressed flag set, trailers with grpc-status 0."""
    def respond(writer, stream_id):
        headers = [(":status", "200"), ("content-type", "application/grpc")]
        if encoding is not None:
            headers.append(("grpc-encoding", encoding))
        writer.write(frame(HEADERS, END_HEADERS, stream_id, hpack(headers)))
        writer.write(data_frames(stream_id, grpc_message(message, compressed=True), False))
        writer.write(frame(HEADERS, END_HEADERS | END_STREAM, stream_id,
                           hpack([("grpc-status", "0")])))
        return False
    return respond


BAD_RESPONSES = {
    # name: (grpc-encoding, message, expected status)
    "unadvertised_encoding": ("br", b"\x8b" * 64, "INTERNAL"),
    "compressed_flag_with_identity": ("identity", b"not compressed at all", "INTERNAL"),
    "bomb": ("gzip", BOMB, "RESOURCE_EXHAUSTED"),
}


@pytest.mark.parametrize("case", list(BAD_RESPONSES))
async def test_client_rejects_bad_compressed_response(ours_pairing, case):
    encoding, message, expected = BAD_RESPONSES[case]
    async with raw_server(h2_peer(respond_with(encoding, message))) as port:
        async with ours_pairing.connect(f"127.0.0.1:{port}") as channel:
            started = time.monotonic()
            err = await rpc_error(ours_pairing,
                                  channel.unary_unary("/test.Svc/Echo")(b"", timeout=15), expected)
            assert err.details()
            assert time.monotonic() - started < 2


async def test_client_accepts_good_raw_compressed_response(ours_pairing):
    # The same raw server, done right: proves the rejections above are about compression.
    respond = respond_with("gzip", gzip.compress(b"y" * 1000))
    async with raw_server(h2_peer(respond)) as port:
        async with ours_pairing.connect(f"127.0.0.1:{port}") as channel:
            assert await channel.unary_unary("/test.Svc/Echo")(b"", timeout=15) == b"y" * 1000


# ---- bombs between real stacks ----------------------------------------------------------------

UNLIMITED_SEND = [("grpc.max_send_message_length", -1)]


@pytest.mark.parametrize("direction", ["request", "response"])
async def test_bomb_between_stacks_hits_the_receive_limit(pairing, direction):
    """64 MiB of zeros, gzipped by a sender allowed to send it, against the receiver's default
    4 MiB limit: RESOURCE_EXHAUSTED though only ≈64 KB crossed; the channel still works."""
    async def zeros(request, context):
        return bytes(BOMB_SIZE) if request == b"bomb" else request

    h = {"Echo": grpc.unary_unary_rpc_method_handler(zeros)}
    gzip_server = pairing.server.Compression.Gzip
    gzip_client = pairing.client.Compression.Gzip
    if direction == "request":
        server_kwargs, channel_kwargs = {}, {"options": UNLIMITED_SEND, "compression": gzip_client}
    else:
        server_kwargs, channel_kwargs = {"options": UNLIMITED_SEND, "compression": gzip_server}, {}
    request = bytes(BOMB_SIZE) if direction == "request" else b"bomb"
    async with pairing.serve(h, **server_kwargs) as srv:
        async with CountingProxy(srv.port) as proxy:
            async with pairing.connect(proxy.target, **channel_kwargs) as channel:
                echo = channel.unary_unary("/test.Svc/Echo")
                started = time.monotonic()
                with proxy.measure() as wire:
                    await rpc_error(pairing, echo(request, timeout=15), "RESOURCE_EXHAUSTED")
                assert time.monotonic() - started < 5
                assert await echo(b"after") == b"after"
    crossed = wire.up if direction == "request" else wire.down
    assert crossed < MiB, f"the {direction} crossed as {crossed} bytes: not compressed"
