"""gRPC-level strictness on received metadata: a -bin header that is not base64 ends the call
INTERNAL naming the header (before, the undecoded text reached the handler or the
application as if it were the value), on both sides."""

from __future__ import annotations

import grpc
import pytest

from e2e.helpers import code_name, md_values, ours_only
from e2e.test_compression_errors import grpc_message, raw_request, status_of
from e2e.test_raw_sockets import (DATA, END_HEADERS, END_STREAM, HEADERS, frame, h2_peer, hpack,
                                  raw_server, response_headers)

NOT_BASE64 = ["!!!!", "abc=d", "a", "ab=c=", "a b c"]


def echo_handlers(seen):
    async def echo(request, context):
        seen.append(context.invocation_metadata())
        return request

    return {"Echo": grpc.unary_unary_rpc_method_handler(echo)}


@ours_only
@pytest.mark.parametrize("value", NOT_BASE64)
async def test_server_refuses_binary_header_that_is_not_base64(ours_pairing, value):
    seen = []
    async with ours_pairing.env(echo_handlers(seen)) as env:
        fields = await raw_request(env.srv.port, [("x-data-bin", value)], grpc_message(b"hi"))
        assert status_of(fields) == "INTERNAL", fields
        (message,) = md_values(fields, "grpc-message")
        assert "x-data-bin" in message, message
        assert seen == [], "the handler ran with an undecodable binary header"
        fields = await raw_request(env.srv.port, [("x-data-bin", "AAEC")], grpc_message(b"ok"))
        assert status_of(fields) == "OK"
        assert ("x-data-bin", b"\x00\x01\x02") in list(seen[0])


def trailers_with(value):
    def respond(writer, stream_id):
        writer.write(frame(HEADERS, END_HEADERS, stream_id, response_headers()))
        writer.write(frame(DATA, 0, stream_id, grpc_message(b"reply")))
        trailers = hpack([("grpc-status", "0"), ("x-trail-bin", value)])
        writer.write(frame(HEADERS, END_HEADERS | END_STREAM, stream_id, trailers))
        return False
    return respond


@ours_only
@pytest.mark.parametrize("value", NOT_BASE64)
async def test_client_refuses_binary_trailer_that_is_not_base64(ours_pairing, value):
    async with raw_server(h2_peer(trailers_with(value))) as port:
        async with ours_pairing.connect(f"127.0.0.1:{port}") as channel:
            with pytest.raises(ours_pairing.client.AioRpcError) as info:
                await channel.unary_unary("/test.Svc/Echo")(b"", timeout=5)
            assert code_name(info.value.code()) == "INTERNAL"
            assert "x-trail-bin" in info.value.details()
