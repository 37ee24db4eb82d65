"""Mistakes turbogrpc's annotations must catch: every line marked ``# error: <code>`` must get
exactly that mypy error (tests/typing/test_typing.py), so the types are not silently Any."""

from __future__ import annotations

from turbogrpc import StatusCode, aio


async def mistakes(channel: aio.Channel, context: aio.ServicerContext[bytes, bytes],
                   echo: aio.UnaryUnaryMultiCallable[bytes, bytes],
                   count: aio.UnaryStreamMultiCallable[bytes, bytes]) -> None:
    reply: int = await echo(b"x")  # error: assignment
    call = echo(b"x")
    if await call.code() == "OK":  # error: comparison-overlap
        pass
    async for item in count(b"3"):
        item.startswith("0")  # error: arg-type
    aio.insecure_channel(50051)  # error: arg-type
    aio.Metadata(("key", 1))  # error: arg-type
    context.set_trailing_metadata(42)  # error: arg-type
    channel.unary_unary(b"/svc/Method")  # error: arg-type
    code: StatusCode = aio.ChannelConnectivity.READY  # error: assignment
    del reply, code
    await context.abort("NOT_FOUND")  # error: arg-type  (last: abort never returns)
