"""The servicer context used the wrong way from a handler (a UsageError in the handler's
face, the call ending with a clear status), a unary method given no request, dispatch failures
and long failure texts. The shared handlers and checks are test_handler_misuse.py's."""

from __future__ import annotations

import asyncio
import threading
import time

import grpc
import pytest

from e2e.helpers import code_name, md_values, ours_only, wait_for_event
from e2e.test_handler_misuse import (
    DEADLINE, MISUSE_LOGS, OUR_SERVER_PAIRINGS, PROMPT, assert_stop_is_immediate, echo, outcome,
)

# ---- the context API used the wrong way: UsageError in the handler's face -------------------

@ours_only
async def test_context_api_misuse_raises_usage_errors(ours_pairing):
    aio = ours_pairing.server.aio
    outcomes = {}

    def attempt(name, operation):
        try:
            result = operation()
        except aio.UsageError as exc:
            outcomes[name] = f"UsageError: {exc}"
        except aio.AbortError:
            outcomes[name] = "AbortError"
        else:
            outcomes[name] = result

    async def unary(request, context):
        await context.send_initial_metadata((("k", "v"),))
        attempt("second initial metadata", lambda: context.send_initial_metadata(()))
        attempt("abort with OK", lambda: context.abort(grpc.StatusCode.OK, "fine?"))
        attempt("abort with a bad code", lambda: context.abort(99, "?"))
        context.set_trailing_metadata((("t", "1"),))
        context.set_code(grpc.StatusCode.OK)
        context.set_details("all good")
        outcomes["getters"] = (context.trailing_metadata(), context.code().name,
                               context.details(), context.peer_identities(),
                               context.peer_identity_key(), context.auth_context(),
                               "ServicerContext /test.Svc/Unary" in repr(context))
        return b"unary"

    async def streaming(request, context):
        await context.write(b"first")
        attempt("compression after headers",
                lambda: context.set_compression(aio.Compression.Gzip))
        attempt("abort_with_status", lambda: context.abort_with_status(
            types_status(grpc.StatusCode.NOT_FOUND, "by status")))
        attempt("abort again", lambda: context.abort(grpc.StatusCode.INTERNAL, "again"))
        raise aio.AbortError("propagated")

    async def bidi(request_iterator, context):
        first = asyncio.ensure_future(context.read())
        await asyncio.sleep(0)  # the first read waits: the client sends only after "ready"
        try:
            await context.read()
        except aio.UsageError as exc:
            outcomes["two readers"] = f"UsageError: {exc}"
        await context.write(b"ready")
        message = await first
        big = b"x" * (256 * 1024)  # past the write-ahead window: the first write waits
        writes = [asyncio.ensure_future(context.write(big)) for _ in range(2)]
        try:
            await writes[1]
        except aio.UsageError as exc:
            outcomes["two writers"] = f"UsageError: {exc}"
        await writes[0]
        await context.write(message)

    handlers = {"Unary": grpc.unary_unary_rpc_method_handler(unary),
                "Stream": grpc.unary_stream_rpc_method_handler(streaming),
                "Bidi": grpc.stream_stream_rpc_method_handler(bidi)}
    async with ours_pairing.env(handlers) as env:
        call = env.uu("Unary")(b"", timeout=DEADLINE)
        assert await call == b"unary"
        assert await call.details() == ""  # an OK status has no details for clients (grpc's)
        assert md_values(await call.trailing_metadata(), "t") == ["1"]
        stream = env.us("Stream")(b"", timeout=DEADLINE)
        assert await stream.read() == b"first"
        with pytest.raises(ours_pairing.client.AioRpcError) as info:
            await stream.read()
        assert code_name(info.value.code()) == "NOT_FOUND"
        assert info.value.details() == "by status"
        bidi_call = env.ss("Bidi")(timeout=DEADLINE)
        assert await bidi_call.read() == b"ready"
        await bidi_call.write(b"ping")
        await bidi_call.done_writing()
        received = [await bidi_call.read(), await bidi_call.read()]
        assert [len(m) for m in received] == [256 * 1024, 4], [len(m) for m in received]
        assert received[-1] == b"ping"
        assert await bidi_call.read() is ours_pairing.client.aio.EOF
    plaintext = {"security_level": [b"TSI_SECURITY_NONE"], "transport_security_type": [b"insecure"]}
    assert outcomes.pop("getters") == ((("t", "1"),), "OK", "all good", None, None, plaintext, True)
    assert outcomes == {
        "second initial metadata": "UsageError: initial metadata was already sent",
        "abort with OK": "UsageError: abort() needs a non-OK status code",
        "abort with a bad code": "UsageError: status code 99 is out of range 0..16",
        "compression after headers": "UsageError: Compression setting must be specified "
                                     "before sending initial metadata",
        "abort_with_status": "AbortError",
        "abort again": "UsageError: Abort already called!",
        "two readers": "UsageError: another read() is already waiting on this call",
        "two writers": "UsageError: another write() is still in progress on this call",
    }, outcomes


def types_status(code, details):
    """A grpc.Status-like object (what abort_with_status takes)."""
    import collections

    status = collections.namedtuple("Status", ("code", "details", "trailing_metadata"))
    return status(code, details, (("from-status", "1"),))


@ours_only
async def test_send_initial_metadata_after_the_end(ours_pairing):
    aio = ours_pairing.server.aio
    kept = []

    async def keep(request, context):
        kept.append(context)
        return b"k"

    async with ours_pairing.env({"Keep": grpc.unary_unary_rpc_method_handler(keep)}) as env:
        assert await env.uu("Keep")(b"", timeout=DEADLINE) == b"k"
    with pytest.raises(aio.UsageError, match="already ended"):
        kept[0].send_initial_metadata((("late", "1"),))


# ---- no request for a unary method; dispatch failures; long failure texts --------------------

@ours_only
@pytest.mark.parametrize("pairing", OUR_SERVER_PAIRINGS, indirect=True)
@pytest.mark.parametrize("method", ["Echo", "SyncEcho"])
async def test_unary_method_without_request(pairing, method):
    """A client streaming no request at all to a unary method: ours says INTERNAL at once
    (grpc.aio's server leaves such a call hanging until its deadline)."""
    handlers = {"Echo": grpc.unary_unary_rpc_method_handler(echo),
                "SyncEcho": grpc.unary_unary_rpc_method_handler(lambda request, context: request)}
    async with pairing.env(handlers) as env:
        started = time.monotonic()
        call = env.channel.stream_unary(f"/test.Svc/{method}")(iter([]), timeout=DEADLINE)
        with pytest.raises(pairing.client.AioRpcError) as info:
            await call
        assert time.monotonic() - started < PROMPT
        assert code_name(info.value.code()) == "INTERNAL"
        assert "Expected one request message" in info.value.details()
        await assert_stop_is_immediate(env)


@ours_only
@pytest.mark.allow_error_logs(r"Cannot run the handler")
async def test_dispatch_failure_still_ends_the_call(ours_pairing, monkeypatch):
    """Whatever goes wrong between the engine's event and the handler ends the call INTERNAL."""
    from turbogrpc.aio import _server

    def broken(*args):
        raise RuntimeError("dispatch broke")

    monkeypatch.setattr(_server, "serve_in_task", broken)
    monkeypatch.setattr(_server, "serve_inline", broken)
    async with ours_pairing.env({"Echo": grpc.unary_unary_rpc_method_handler(echo)}) as env:
        elapsed, err, _ = await outcome(env, "uu", "Echo")
        assert code_name(err.code()) == "INTERNAL" and elapsed < PROMPT
        assert err.details() == "Cannot run the handler: RuntimeError: dispatch broke"
        await assert_stop_is_immediate(env)


@ours_only
@pytest.mark.allow_error_logs(r"Invalid trailing metadata")
async def test_long_failure_details_are_capped(ours_pairing):
    long_key = "K" * 5000  # invalid (upper case), and the engine's message quotes it

    async def handler(request, context):
        context.set_trailing_metadata(((long_key, "v"),))
        return b"ok"

    async with ours_pairing.env({"Long": grpc.unary_unary_rpc_method_handler(handler)}) as env:
        elapsed, err, _ = await outcome(env, "uu", "Long")
        assert code_name(err.code()) == "INTERNAL" and elapsed < PROMPT
        assert err.details().startswith("Invalid trailing metadata: ValueError: metadata key 'KKK")
        assert len(err.details()) == 1024 and err.details().endswith("...")


@ours_only
@pytest.mark.allow_error_logs(r"generic handler failed")
async def test_method_handler_without_behaviour(ours_pairing):
    """A handler object whose shape has no behaviour: refused when registered, UNKNOWN when a
    generic handler computes it per call."""
    empty = grpc.unary_unary_rpc_method_handler(None)
    with pytest.raises(TypeError, match="no behaviour"):
        ours_pairing.server.aio.server().add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("x.Y", {"M": empty}),))

    class Computes(grpc.GenericRpcHandler):
        def service(self, details):
            return empty

    async with ours_pairing.env([Computes()]) as env:
        elapsed, err, _ = await outcome(env, "uu", "Anything")
        assert code_name(err.code()) == "UNKNOWN" and elapsed < PROMPT
        assert "no behaviour" in err.details()
        await assert_stop_is_immediate(env)


@ours_only
async def test_sync_handler_returning_an_awaitable(ours_pairing):
    """A plain function returning a coroutine (a lambda around an async function) works: the
    coroutine is awaited on the loop (a turbogrpc extension: grpc.aio fails the call)."""
    async def later(request):
        await asyncio.sleep(0.01)
        return b"awaited " + request

    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: later(request))
    async with ours_pairing.env({"Lambda": handler}) as env:
        assert await env.uu("Lambda")(b"x", timeout=DEADLINE) == b"awaited x"
