"""Handlers that hand the server something it cannot send: a response that is not bytes (async
before or after an await, sync, streaming, from a serializer that raises or returns the wrong
type), metadata keys or values of the wrong type or form (initial and trailing, unary and
streaming, from the loop and from a sync handler's thread), details that are not text. Each call
ends promptly (well under its deadline) with a clear status, and `stop(grace)` returns at once
afterwards: no call is left counted as active. Our server ends them INTERNAL and names the
problem; grpc.aio's server mostly says UNKNOWN ("Unexpected <class 'TypeError'>: ..."), so the
code expected from it is given per case. Trailing metadata of the wrong types is refused where it
is set, as grpc.aio does (TypeError in the handler's face, so UNKNOWN on both servers). Also: a
handler that returns (even garbage) after the client cancelled is ignored quietly."""

from __future__ import annotations

import asyncio
import threading
import time

import grpc
import pytest

from e2e.helpers import code_name, md_values, ours_only, wait_for_event

DEADLINE = 5.0  # seconds a call may take; every case here must end far sooner
PROMPT = 1.0
# What our server logs for these handler bugs (ERROR, as grpc.aio does for handler exceptions).
MISUSE_LOGS = (r"Exception serializing response", r"Invalid (initial|trailing) metadata",
               r"Invalid status details", r"^Unexpected \[UsageTypeError\] raised by servicer")


def boom(message):
    raise ValueError("boom")


def wrong_type(message):
    return 42


# ---- handlers, one per kind of misuse -----------------------------------------------------

async def return_int(request, context):
    return 42


async def return_int_after_await(request, context):
    await asyncio.sleep(0.01)
    return 42


def sync_return_int(request, context):
    return 42


async def return_none(request, context):
    return None


async def stream_unary_return_int(request_iterator, context):
    async for _ in request_iterator:
        pass
    return 42


async def yield_int(request, context):
    yield b"first"
    yield 42


async def write_int(request, context):
    await context.write(b"first")
    await context.write(42)


def sync_yield_int(request, context):
    yield b"first"
    yield 42


async def bidi_write_int(request_iterator, context):
    async for message in request_iterator:
        await context.write(message)
        await context.write({"not": "bytes"})


async def echo(request, context):
    return request


async def repeat(request, context):
    yield request


async def initial_key_int(request, context):
    await context.send_initial_metadata(((1, "x"),))
    return b"ok"


async def streaming_initial_key_bytes(request, context):
    await context.send_initial_metadata(((b"k", "v"),))
    yield b"never"


def sync_streaming_initial_key_int(request, context):
    context.send_initial_metadata(((1, "x"),))
    yield b"never"


async def initial_key_uppercase(request, context):
    await context.send_initial_metadata((("Bad-Key", "x"),))
    return b"ok"


async def trailing_key_int(request, context):
    context.set_trailing_metadata(((1, "x"),))
    return b"ok"


async def trailing_key_bytes(request, context):
    context.set_trailing_metadata(((b"k", "v"),))
    return b"ok"


async def trailing_value_int(request, context):
    context.set_trailing_metadata((("k", 1),))
    return b"ok"


async def streaming_trailing_key_int(request, context):
    context.set_trailing_metadata(((1, "x"),))
    yield b"first"


def sync_trailing_key_int(request, context):
    context.set_trailing_metadata(((1, "x"),))
    return b"ok"


async def abort_with_bad_trailing(request, context):
    await context.abort(grpc.StatusCode.NOT_FOUND, "not here", ((1, "x"),))


async def details_int(request, context):
    context.set_code(grpc.StatusCode.NOT_FOUND)
    context.set_details(42)


U, S = grpc.unary_unary_rpc_method_handler, grpc.unary_stream_rpc_method_handler
HANDLERS = {
    "ReturnInt": U(return_int),
    "ReturnIntAfterAwait": U(return_int_after_await),
    "SyncReturnInt": U(sync_return_int),
    "ReturnNone": U(return_none),
    "StreamUnaryReturnInt": grpc.stream_unary_rpc_method_handler(stream_unary_return_int),
    "YieldInt": S(yield_int),
    "WriteInt": S(write_int),
    "SyncYieldInt": S(sync_yield_int),
    "BidiWriteInt": grpc.stream_stream_rpc_method_handler(bidi_write_int),
    "UnarySerializerRaises": U(echo, response_serializer=boom),
    "UnarySerializerReturnsInt": U(echo, response_serializer=wrong_type),
    "StreamSerializerRaises": S(repeat, response_serializer=boom),
    "InitialKeyInt": U(initial_key_int),
    "StreamingInitialKeyBytes": S(streaming_initial_key_bytes),
    "SyncStreamingInitialKeyInt": S(sync_streaming_initial_key_int),
    "InitialKeyUppercase": U(initial_key_uppercase),
    "TrailingKeyInt": U(trailing_key_int),
    "TrailingKeyBytes": U(trailing_key_bytes),
    "TrailingValueInt": U(trailing_value_int),
    "StreamingTrailingKeyInt": S(streaming_trailing_key_int),
    "SyncTrailingKeyInt": U(sync_trailing_key_int),
    "AbortWithBadTrailing": U(abort_with_bad_trailing),
    "DetailsInt": U(details_int),
    "Echo": U(echo),
}

# method -> (shape, what our server's details must contain, code from grpc.aio's server)
SERIALIZING = "Exception serializing response!"
CASES = {
    "ReturnInt": ("uu", f"{SERIALIZING} TypeError", "UNKNOWN"),
    "ReturnIntAfterAwait": ("uu", f"{SERIALIZING} TypeError", "UNKNOWN"),
    "SyncReturnInt": ("uu", f"{SERIALIZING} TypeError", "UNKNOWN"),
    "ReturnNone": ("uu", "returned None", "OK"),  # grpc.aio sends an empty message
    "StreamUnaryReturnInt": ("su", f"{SERIALIZING} TypeError", "UNKNOWN"),
    "YieldInt": ("us", f"{SERIALIZING} TypeError", "UNKNOWN"),
    "WriteInt": ("us", f"{SERIALIZING} TypeError", "UNKNOWN"),
    "SyncYieldInt": ("us", f"{SERIALIZING} TypeError", "UNKNOWN"),
    "BidiWriteInt": ("ss", f"{SERIALIZING} TypeError", "UNKNOWN"),
    "UnarySerializerRaises": ("uu", f"{SERIALIZING} ValueError: boom", "UNKNOWN"),
    "UnarySerializerReturnsInt": ("uu", f"{SERIALIZING} TypeError", "UNKNOWN"),
    "StreamSerializerRaises": ("us", f"{SERIALIZING} ValueError: boom", "UNKNOWN"),
    "InitialKeyInt": ("uu", "Invalid initial metadata: TypeError", "UNKNOWN"),
    # grpc.aio accepts bytes keys
    "StreamingInitialKeyBytes": ("us", "Invalid initial metadata: TypeError", "OK"),
    "SyncStreamingInitialKeyInt": ("us", "Invalid initial metadata: TypeError", "UNKNOWN"),
    "InitialKeyUppercase": ("uu", "Invalid initial metadata: ValueError", "INTERNAL"),
    "TrailingKeyInt": ("uu", "Invalid trailing metadata: expected", "UNKNOWN"),
    "TrailingKeyBytes": ("uu", "Invalid trailing metadata: expected", "UNKNOWN"),
    "TrailingValueInt": ("uu", "Invalid trailing metadata: expected", "UNKNOWN"),
    "StreamingTrailingKeyInt": ("us", "Invalid trailing metadata: expected", "UNKNOWN"),
    "SyncTrailingKeyInt": ("uu", "Invalid trailing metadata: expected", "UNKNOWN"),
    "AbortWithBadTrailing": ("uu", "Invalid trailing metadata: expected", "UNKNOWN"),
    # grpc.aio keeps the code the handler set and reports the TypeError as the details
    "DetailsInt": ("uu", "Invalid status details: expected str, got int", "NOT_FOUND"),
}
# Cases where our server does not say INTERNAL: set_trailing_metadata() and abort() check the
# types at once and raise TypeError in the handler, which then ends UNKNOWN (as grpc.aio's).
OUR_CODES = {method: "UNKNOWN" for method in (
    "TrailingKeyInt", "TrailingKeyBytes", "TrailingValueInt", "StreamingTrailingKeyInt",
    "SyncTrailingKeyInt", "AbortWithBadTrailing")}


async def outcome(env, shape, method):
    """Runs one call of `shape`; returns (elapsed seconds, AioRpcError or None, responses)."""
    started = time.monotonic()
    responses = []
    try:
        if shape == "uu":
            responses.append(await env.uu(method)(b"x", timeout=DEADLINE))
        elif shape == "su":
            responses.append(await env.su(method)(iter([b"a", b"b"]), timeout=DEADLINE))
        elif shape == "us":
            async for response in env.us(method)(b"x", timeout=DEADLINE):
                responses.append(response)
        else:
            async for response in env.ss(method)(iter([b"a"]), timeout=DEADLINE):
                responses.append(response)
    except env.pairing.client.AioRpcError as err:
        return time.monotonic() - started, err, responses
    return time.monotonic() - started, None, responses


async def assert_stop_is_immediate(env):
    started = time.monotonic()
    await env.server.stop(2.0)
    elapsed = time.monotonic() - started
    assert elapsed < 0.5, f"stop(2.0) took {elapsed:.2f}s: a call was left counted as active"


@pytest.mark.allow_error_logs(*MISUSE_LOGS)
@pytest.mark.parametrize("method", sorted(CASES))
async def test_misuse_ends_the_call_promptly(pairing, method):
    shape, our_details, grpc_code = CASES[method]
    async with pairing.env(HANDLERS) as env:
        elapsed, err, responses = await outcome(env, shape, method)
        assert elapsed < PROMPT, f"{method} took {elapsed:.2f}s (hang until the deadline?)"
        if pairing.server.is_ours:
            assert err is not None, f"{method} succeeded with {responses!r}"
            assert code_name(err.code()) == OUR_CODES.get(method, "INTERNAL"), (
                err.code(), err.details())
            assert our_details in err.details(), err.details()
            if (shape in ("us", "ss") and "Serializer" not in method and "Initial" not in method
                    and method not in OUR_CODES):
                assert responses[:1] in ([b"first"], [b"a"]), responses  # what came before
        elif grpc_code == "OK":
            assert err is None, (err.code(), err.details())
        else:
            assert err is not None, f"{method} succeeded with {responses!r}"
            assert code_name(err.code()) == grpc_code, (err.code(), err.details())
        # the server keeps serving, then stops at once: nothing is still counted as running
        assert await env.uu("Echo")(b"fine", timeout=DEADLINE) == b"fine"
        await assert_stop_is_immediate(env)


@ours_only
@pytest.mark.allow_error_logs(r"Invalid (initial|trailing) metadata")
@pytest.mark.parametrize("bad", ["initial", "trailing"])
async def test_both_metadata_sets_and_one_is_wrong(ours_pairing, bad):
    """With initial and trailing metadata both set, the details say which set is wrong; when the
    initial set is fine, it still reaches the client. (The wrong trailing set has the right
    types, which set_trailing_metadata checks at once, and a key the engine refuses.)"""
    good = (("good", "1"),)
    wrong, error = (((1, "x"),), "TypeError") if bad == "initial" else (
        (("Bad-Key", "x"),), "ValueError")

    async def handler(request, context):
        await context.send_initial_metadata(wrong if bad == "initial" else good)
        context.set_trailing_metadata(wrong if bad == "trailing" else (("trailer", "2"),))
        return b"ok"

    async with ours_pairing.env({"Both": grpc.unary_unary_rpc_method_handler(handler),
                                 "Echo": grpc.unary_unary_rpc_method_handler(echo)}) as env:
        call = env.uu("Both")(b"x", timeout=DEADLINE)
        with pytest.raises(ours_pairing.client.AioRpcError) as info:
            await call
        err = info.value
        assert code_name(err.code()) == "INTERNAL"
        assert err.details().startswith(f"Invalid {bad} metadata: {error}"), err.details()
        initial = await call.initial_metadata()
        assert md_values(initial, "good") == (["1"] if bad == "trailing" else [])
        await assert_stop_is_immediate(env)


@ours_only
@pytest.mark.allow_error_logs(r"Exception serializing response")
async def test_write_raises_to_the_handler_and_later_writes_fail(ours_pairing):
    """The handler sees the serialization error itself (so it stops), and a write after it finds
    the call over; the client gets INTERNAL at once."""
    seen = []
    done = asyncio.Event()

    async def handler(request, context):
        try:
            await context.write(42)
        except TypeError as exc:
            seen.append(type(exc))
        try:
            await context.write(b"after")
        except Exception as exc:  # noqa: BLE001
            seen.append(type(exc))
        seen.append(context.done())
        done.set()

    async with ours_pairing.env({"W": grpc.unary_stream_rpc_method_handler(handler)}) as env:
        elapsed, err, responses = await outcome(env, "us", "W")
        assert code_name(err.code()) == "INTERNAL" and elapsed < PROMPT
        await wait_for_event(done, 5, "handler end")
        assert seen == [TypeError, ours_pairing.server.aio.AbortError, True]
        assert responses == []
        await assert_stop_is_immediate(env)


@ours_only
@pytest.mark.allow_error_logs(r"Exception serializing response")
async def test_response_view_and_odd_buffers(ours_pairing):
    """Buffers are fine responses (bytearray, memoryview of wider items: sent as their bytes);
    a non-contiguous buffer is not, and says so."""
    import array

    wide = array.array("i", [1, 2, 3])

    async def handler(request, context):
        kind = bytes(request)
        if kind == b"bytearray":
            return bytearray(b"ba")
        if kind == b"wide":
            return memoryview(wide)
        return memoryview(b"abcdef")[::2]  # not contiguous

    async def stream(request, context):
        await context.write(memoryview(wide))
        await context.write(bytearray(b"z"))

    async with ours_pairing.env({"B": grpc.unary_unary_rpc_method_handler(handler),
                                 "S": grpc.unary_stream_rpc_method_handler(stream)}) as env:
        assert await env.uu("B")(b"bytearray") == b"ba"
        assert await env.uu("B")(b"wide") == wide.tobytes()
        assert [m async for m in env.us("S")(b"")] == [wide.tobytes(), b"z"]
        elapsed, err, _ = await outcome(env, "uu", "B")
        assert code_name(err.code()) == "INTERNAL" and elapsed < PROMPT
        assert "memoryview" in err.details(), err.details()
        await assert_stop_is_immediate(env)


@ours_only
@pytest.mark.allow_error_logs(r"Invalid status details")
async def test_details_that_are_not_utf8(ours_pairing):
    async def handler(request, context):
        context.set_code(grpc.StatusCode.NOT_FOUND)
        context.set_details("lone surrogate \ud800")

    async with ours_pairing.env({"D": grpc.unary_unary_rpc_method_handler(handler)}) as env:
        elapsed, err, _ = await outcome(env, "uu", "D")
        assert code_name(err.code()) == "INTERNAL" and elapsed < PROMPT
        assert "UTF-8" in err.details(), err.details()
        await assert_stop_is_immediate(env)


@ours_only
@pytest.mark.allow_error_logs(r"Unexpected \[Broken\]")
async def test_exception_whose_str_raises(ours_pairing):
    class Broken(Exception):
        def __str__(self):
            raise RuntimeError("no text")

    async def handler(request, context):
        raise Broken()

    async with ours_pairing.env({"X": grpc.unary_unary_rpc_method_handler(handler)}) as env:
        elapsed, err, _ = await outcome(env, "uu", "X")
        assert code_name(err.code()) == "UNKNOWN" and elapsed < PROMPT
        assert "Broken" in err.details(), err.details()
        await assert_stop_is_immediate(env)


# ---- handlers that end after the client cancelled -------------------------------------------

# grpc.aio's server differs here (its context.cancelled() stays False in the handler, and its
# sync handlers are not told), so this is about our server, with both clients.
OUR_SERVER_PAIRINGS = ["ours-ours", "grpc-ours"]


@ours_only
@pytest.mark.parametrize("pairing", OUR_SERVER_PAIRINGS, indirect=True)
@pytest.mark.parametrize("kind", ["async", "async returning garbage", "sync", "streaming"])
async def test_handler_returning_after_client_cancel(pairing, kind):
    """The client cancels while the handler runs; the handler then returns anyway (an async one
    swallows the CancelledError). Nothing is sent, nothing is logged, the call is not counted
    as active any more: stop(grace) returns at once."""
    started = threading.Event()
    release = threading.Event()
    finished = asyncio.Event()
    loop = asyncio.get_running_loop()
    seen = {}

    async def swallow(request, context):
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            pass
        seen["cancelled"] = context.cancelled()
        finished.set()
        return 42 if kind == "async returning garbage" else b"late"

    def sync_handler(request, context):
        started.set()
        release.wait(10)
        seen["cancelled"] = context.cancelled()
        loop.call_soon_threadsafe(finished.set)
        return b"late"

    async def streaming(request, context):
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            pass
        seen["cancelled"] = context.cancelled()
        finished.set()
        yield 42

    handlers = {
        "Swallow": grpc.unary_unary_rpc_method_handler(swallow),
        "Sync": grpc.unary_unary_rpc_method_handler(sync_handler),
        "Streaming": grpc.unary_stream_rpc_method_handler(streaming),
    }
    method = {"sync": "Sync", "streaming": "Streaming"}.get(kind, "Swallow")
    async with pairing.env(handlers) as env:
        if method == "Streaming":
            call = env.us(method)(b"x", timeout=DEADLINE)
        else:
            call = env.uu(method)(b"x", timeout=DEADLINE)
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
        assert call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await (call.read() if method == "Streaming" else call)
        if method == "Sync":
            await asyncio.sleep(0.1)  # let the cancellation reach the server first
            release.set()
        await wait_for_event(finished, 5, "handler end after the cancel")
        assert seen["cancelled"] is True
        assert code_name(await call.code()) == "CANCELLED"
        await asyncio.sleep(0.05)  # the late response, if anything sent it, would be processed
        await assert_stop_is_immediate(env)
