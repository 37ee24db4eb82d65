"""Large received messages are views that own an engine buffer (bindings/received_message.cc);
the buffer must go back when the view goes, whichever way the message was consumed. A leak of
one buffer per message would grow this process by hundreds of MiB here."""

from __future__ import annotations

import gc

import grpc
from google.protobuf import wrappers_pb2

import turbogrpc.aio
from e2e.helpers import BIG_OPTIONS, MiB, rss_bytes

SIZE = 2 * MiB
CALLS = 60
ALLOWED_GROWTH = 48 * MiB  # a leak would be CALLS x 4 messages x 2 MiB = 480 MiB


def handlers():
    parse, dump = wrappers_pb2.BytesValue.FromString, wrappers_pb2.BytesValue.SerializeToString

    async def parsed_echo(request, context):  # its request arrives as a view
        return wrappers_pb2.BytesValue(value=request.value)

    async def raw_echo(request, context):  # its request arrives as bytes
        return request

    async def dropped(request, context):  # parsed, then the request is never looked at
        return wrappers_pb2.BytesValue()

    return grpc.method_handlers_generic_handler("leaks.Svc", {
        "Parsed": grpc.unary_unary_rpc_method_handler(parsed_echo, parse, dump),
        "Raw": grpc.unary_unary_rpc_method_handler(raw_echo),
        "Dropped": grpc.unary_unary_rpc_method_handler(dropped, parse, dump),
    })


async def test_large_message_buffers_are_returned():
    server = turbogrpc.aio.server(options=BIG_OPTIONS)
    server.add_generic_rpc_handlers((handlers(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    parse, dump = wrappers_pb2.BytesValue.FromString, wrappers_pb2.BytesValue.SerializeToString
    try:
        async with turbogrpc.aio.insecure_channel(f"127.0.0.1:{port}", options=BIG_OPTIONS) as ch:
            parsed = ch.unary_unary("/leaks.Svc/Parsed", request_serializer=dump,
                                    response_deserializer=parse)
            raw = ch.unary_unary("/leaks.Svc/Raw")
            dropped = ch.unary_unary("/leaks.Svc/Dropped", request_serializer=dump,
                                     response_deserializer=parse)
            message = wrappers_pb2.BytesValue(value=b"m" * SIZE)

            async def round_of_calls():
                assert len((await parsed(message)).value) == SIZE
                assert len(await raw(b"r" * SIZE)) == SIZE
                assert (await dropped(message)).value == b""

            for _ in range(5):
                await round_of_calls()
            gc.collect()
            baseline = rss_bytes()
            for _ in range(CALLS):
                await round_of_calls()
            gc.collect()
            growth = rss_bytes() - baseline
    finally:
        await server.stop(None)
    assert growth < ALLOWED_GROWTH, f"RSS grew {growth / MiB:.0f} MiB over {CALLS} rounds"
