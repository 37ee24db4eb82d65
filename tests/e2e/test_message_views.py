"""Large received messages (64 KiB and up) reach protobuf parsers as views of the engine's buffer
(python/turbogrpc/_core/_message_reader.py). What the application sees must not change: the raw
API and custom deserializers get ``bytes`` in every shape, and parsed messages stay intact after
the buffer they came from is reused for the next message."""

from __future__ import annotations

import e2e_echo_pb2 as pb
import e2e_echo_pb2_grpc as pb_grpc
import grpc

from e2e.helpers import BIG_OPTIONS, MiB

LARGE = 1 * MiB + 17  # well above the 64 KiB where views start


def filled(size: int, seed: int) -> bytes:
    return bytes([seed & 0xFF]) * size


def raw_handlers(seen: list, eof):
    """Handlers that record the type of every request they get, and echo."""

    async def unary(request, context):
        seen.append(type(request))
        return request

    async def server_stream(request, context):
        seen.append(type(request))
        for seed in range(3):
            yield filled(len(request), seed)

    async def client_stream(request_iterator, context):
        total = 0
        async for message in request_iterator:
            seen.append(type(message))
            total += len(message)
        return filled(total, 1)

    async def bidi(request_iterator, context):
        while (message := await context.read()) is not eof:
            seen.append(type(message))
            yield message

    return {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
    }


async def test_raw_api_sees_bytes_in_every_shape(pairing):
    seen = []
    big = filled(LARGE, 5)
    async with pairing.env(raw_handlers(seen, pairing.server.aio.EOF), server_options=BIG_OPTIONS,
                           channel_options=BIG_OPTIONS) as env:
        reply = await env.uu("Unary")(big)
        assert type(reply) is bytes and reply == big
        replies = [m async for m in env.us("ServerStream")(big)]
        assert [type(m) for m in replies] == [bytes] * 3
        assert replies == [filled(LARGE, seed) for seed in range(3)]
        reply = await env.su("ClientStream")(iter([big, b"small", big]))
        assert type(reply) is bytes and len(reply) == 2 * LARGE + 5
        call = env.ss("Bidi")()
        for message in (big, b"tiny", big):
            await call.write(message)
            echoed = await call.read()
            assert type(echoed) is bytes and echoed == message
        await call.done_writing()
        assert await call.read() is pairing.client.aio.EOF
    assert seen == [bytes] * 8


async def test_custom_deserializers_get_bytes(pairing):
    seen_by_server = []

    def server_deserializer(raw):
        seen_by_server.append(type(raw))
        return raw

    async def echo(request, context):
        return request

    handler = grpc.unary_unary_rpc_method_handler(echo, request_deserializer=server_deserializer)
    seen_by_client = []

    def client_deserializer(raw):
        seen_by_client.append(type(raw))
        return len(raw)

    async with pairing.env({"Echo": handler}, server_options=BIG_OPTIONS,
                           channel_options=BIG_OPTIONS) as env:
        echo_call = env.channel.unary_unary("/test.Svc/Echo", response_deserializer=client_deserializer)
        assert await echo_call(filled(LARGE, 3)) == LARGE
        assert await echo_call(b"small") == 5
    assert seen_by_server == [bytes, bytes]
    assert seen_by_client == [bytes, bytes]


class KeepingServicer(pb_grpc.EchoServicer):
    """Keeps every parsed request; answers each with a large reply of its own content."""

    def __init__(self):
        self.kept = []

    async def Bidi(self, request_iterator, context):
        async for request in request_iterator:
            self.kept.append(request)
            yield pb.EchoReply(index=request.count, blob=filled(LARGE, request.count + 100))


async def test_parsed_messages_outlive_their_buffers(pairing):
    """Each large message lands in a buffer that is recycled for the next one, so a message that
    still pointed into its buffer would change under our feet. They must all stay as sent."""
    servicer = KeepingServicer()
    register = lambda server: pb_grpc.add_EchoServicer_to_server(servicer, server)  # noqa: E731
    async with pairing.env(register, server_options=BIG_OPTIONS, channel_options=BIG_OPTIONS) as env:
        stub = pb_grpc.EchoStub(env.channel)
        requests = [pb.EchoRequest(count=i, blob=filled(LARGE, i)) for i in range(6)]
        replies = [reply async for reply in stub.Bidi(iter(requests))]
    assert [r.index for r in replies] == list(range(6))
    for i, reply in enumerate(replies):
        assert reply.blob == filled(LARGE, i + 100), f"reply {i} changed after it was parsed"
    assert [r.count for r in servicer.kept] == list(range(6))
    for i, request in enumerate(servicer.kept):
        assert request.blob == filled(LARGE, i), f"request {i} changed after it was parsed"
