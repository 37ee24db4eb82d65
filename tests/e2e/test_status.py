"""Every status code 1..16 set by the server (abort, set_code/set_details, from async and sync
handlers, with the server stack's enum and with grpc.StatusCode) arrives exactly, with unicode
details, on the client."""

from __future__ import annotations

import grpc
import pytest

from e2e.helpers import UNICODE_DETAILS, code_name

CODE_NAMES = [c.name for c in grpc.StatusCode if c.value[0] != 0]
assert len(CODE_NAMES) == 16


def details_for(name: str) -> str:
    return f"{name}: {UNICODE_DETAILS}"


def handlers(pairing):
    codes = pairing.server.StatusCode

    async def abort(request, context):
        name = request.decode()
        await context.abort(getattr(codes, name), details_for(name))

    async def abort_grpc_enum(request, context):
        # Code written for grpc.aio uses grpc.StatusCode; it must work unchanged on our server.
        name = request.decode()
        await context.abort(getattr(grpc.StatusCode, name), details_for(name))

    async def set_code(request, context):
        name = request.decode()
        context.set_code(getattr(codes, name))
        context.set_details(details_for(name))
        return b""

    def sync_abort(request, context):
        name = request.decode()
        context.abort(getattr(codes, name), details_for(name))

    def sync_set_code(request, context):
        name = request.decode()
        context.set_code(getattr(codes, name))
        context.set_details(details_for(name))
        return b""

    async def stream_abort(request, context):
        name = request.decode()
        yield b"first"
        await context.abort(getattr(codes, name), details_for(name))

    async def ok_with_details(request, context):
        context.set_details("all good")
        return b"r"

    async def raises(request, context):
        raise ValueError("boom")

    return {
        "Abort": grpc.unary_unary_rpc_method_handler(abort),
        "AbortGrpcEnum": grpc.unary_unary_rpc_method_handler(abort_grpc_enum),
        "SetCode": grpc.unary_unary_rpc_method_handler(set_code),
        "SyncAbort": grpc.unary_unary_rpc_method_handler(sync_abort),
        "SyncSetCode": grpc.unary_unary_rpc_method_handler(sync_set_code),
        "StreamAbort": grpc.unary_stream_rpc_method_handler(stream_abort),
        "Raises": grpc.unary_unary_rpc_method_handler(raises),
        "OkWithDetails": grpc.unary_unary_rpc_method_handler(ok_with_details),
    }


@pytest.mark.parametrize("method", ["Abort", "AbortGrpcEnum", "SetCode", "SyncAbort", "SyncSetCode"])
async def test_every_code_unary(pairing, method):
    mismatches = []
    async with pairing.env(handlers(pairing)) as env:
        for name in CODE_NAMES:
            try:
                await env.uu(method)(name.encode())
            except pairing.client.AioRpcError as err:
                got = (code_name(err.code()), err.details())
            else:
                got = ("no error", None)
            if got != (name, details_for(name)):
                mismatches.append(f"sent {name}: got {got}")
    assert not mismatches, "\n".join(mismatches)


async def test_every_code_after_a_streamed_message(pairing):
    mismatches = []
    async with pairing.env(handlers(pairing)) as env:
        for name in CODE_NAMES:
            call = env.us("StreamAbort")(name.encode())
            received = []
            try:
                async for message in call:
                    received.append(message)
            except pairing.client.AioRpcError as err:
                got = (received, code_name(err.code()), err.details())
            else:
                got = (received, "no error", None)
            if got != ([b"first"], name, details_for(name)):
                mismatches.append(f"sent {name}: got {got}")
            assert code_name(await call.code()) == name
            assert await call.details() == details_for(name)
    assert not mismatches, "\n".join(mismatches)


async def test_handler_exception_is_unknown(pairing):
    async with pairing.env(handlers(pairing)) as env:
        with pytest.raises(pairing.client.AioRpcError) as info:
            await env.uu("Raises")(b"")
        assert code_name(info.value.code()) == "UNKNOWN"
        # the channel keeps working
        with pytest.raises(pairing.client.AioRpcError):
            await env.uu("Abort")(b"NOT_FOUND")


async def test_an_ok_status_reports_no_details_whatever_the_server_sent(pairing):
    """grpc-core's clients drop grpc-message on OK; the server side here sends it (both
    servers do when details were set)."""
    async with pairing.env(handlers(pairing)) as env:
        call = env.uu("OkWithDetails")(b"")
        assert await call == b"r"
        assert code_name(await call.code()) == "OK"
        assert await call.details() == ""
