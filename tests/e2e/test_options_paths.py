"""Server and channel paths no other test reaches: `maximum_concurrent_rpcs` (over-limit calls get
RESOURCE_EXHAUSTED, as from grpc.aio), generic handlers that compute the handler in `service()`
(and their order against dictionary handlers and registered methods), done callbacks on client
calls and on the server's context, `time_remaining()` on both sides, a large received message
reaching a protobuf parser as a view, and the API's misuse errors and small lifecycle paths
(server and channel) that only our stack defines."""

from __future__ import annotations

import asyncio
import os
import time

import e2e_echo_pb2 as pb
import grpc
import pytest

from e2e.helpers import (
    BIG_OPTIONS, SERVICE, MiB, eventually, ours_only, rpc_error, wait_for_event,
)


# ---- maximum_concurrent_rpcs ------------------------------------------------------------------

class Gate:
    """Handlers of every shape that hold their call until `open` is set."""

    def __init__(self):
        self.open = asyncio.Event()
        self.running = 0

    async def _hold(self):
        self.running += 1
        try:
            await self.open.wait()
        finally:
            self.running -= 1

    async def unary(self, request, context):
        await self._hold()
        return request

    async def server_stream(self, request, context):
        await self._hold()
        yield request

    async def bidi(self, request_iterator, context):
        await self._hold()
        async for message in request_iterator:
            yield message

    def handlers(self):
        return {
            "Hold": grpc.unary_unary_rpc_method_handler(self.unary),
            "HoldStream": grpc.unary_stream_rpc_method_handler(self.server_stream),
            "HoldBidi": grpc.stream_stream_rpc_method_handler(self.bidi),
        }


async def test_maximum_concurrent_rpcs_rejects_over_limit_calls(pairing):
    gate = Gate()
    async with pairing.env(gate.handlers(), maximum_concurrent_rpcs=2) as env:
        first = env.uu("Hold")(b"1", timeout=10)
        second = env.us("HoldStream")(b"2", timeout=10)
        await eventually(lambda: gate.running == 2, what="two calls held by the server")
        # a third call of any shape is refused at once, without reaching its handler
        err = await rpc_error(pairing, env.uu("Hold")(b"3", timeout=10), "RESOURCE_EXHAUSTED")
        assert "Concurrent RPC limit exceeded" in err.details(), err.details()
        # (no requests: grpc.aio's client races when a call ends while it still writes)
        await rpc_error(pairing, env.ss("HoldBidi")(timeout=10).read(), "RESOURCE_EXHAUSTED")
        assert gate.running == 2
        # refused calls hold no slot: once the held ones end, calls go through again
        gate.open.set()
        assert await first == b"1"
        assert [m async for m in second] == [b"2"]
        assert await env.uu("Hold")(b"5", timeout=10) == b"5"
        calls = [env.uu("Hold")(bytes([i]), timeout=10) for i in range(2)]
        assert await asyncio.gather(*calls) == [b"\x00", b"\x01"]


async def test_maximum_concurrent_rpcs_slot_freed_by_cancel(pairing):
    gate = Gate()
    async with pairing.env(gate.handlers(), maximum_concurrent_rpcs=1) as env:
        held = env.uu("Hold")(b"1", timeout=10)
        await eventually(lambda: gate.running == 1, what="the call held")
        await rpc_error(pairing, env.uu("Hold")(b"2", timeout=10), "RESOURCE_EXHAUSTED")
        held.cancel()
        await eventually(lambda: gate.running == 0, what="the cancelled handler's end")
        gate.open.set()
        assert await env.uu("Hold")(b"3", timeout=10) == b"3"


# ---- generic handlers that compute the handler --------------------------------------------------

class ComputedHandlers(grpc.GenericRpcHandler):
    """Serves any method of package "dyn": the handler is built per call from its name and
    sees the call's metadata; "Boom" makes service() itself raise; other paths: None."""

    def __init__(self):
        self.asked = []

    def service(self, handler_call_details):
        method = handler_call_details.method
        self.asked.append(method)
        if not method.startswith("/dyn."):
            return None
        name = method.rsplit("/", 1)[1]
        if name == "Boom":
            raise RuntimeError("service() failed")
        metadata = dict(handler_call_details.invocation_metadata)
        if name == "Stream":
            async def stream(request, context):
                for part in request.split(b","):
                    yield part

            return grpc.unary_stream_rpc_method_handler(stream)

        async def unary(request, context):
            return f"{name}:{metadata.get('who', '-')}:".encode() + request

        return grpc.unary_unary_rpc_method_handler(unary)


async def echo(request, context):
    return request


@pytest.mark.allow_error_logs(r"generic handler failed for /dyn\.S/Boom")
async def test_generic_handler_computing_the_handler(pairing):
    computed = ComputedHandlers()
    async with pairing.env([computed]) as env:
        call = env.channel.unary_unary("/dyn.S/Hello")
        assert await call(b"r", metadata=(("who", "me"),), timeout=10) == b"Hello:me:r"
        assert await env.channel.unary_unary("/dyn.Other/Bye")(b"x", timeout=10) == b"Bye:-:x"
        stream = env.channel.unary_stream("/dyn.S/Stream")(b"a,b,c", timeout=10)
        assert [m async for m in stream] == [b"a", b"b", b"c"]
        await rpc_error(pairing, env.channel.unary_unary("/other.S/X")(b"", timeout=10),
                        "UNIMPLEMENTED")
        err = await rpc_error(pairing, env.channel.unary_unary("/dyn.S/Boom")(b"", timeout=10),
                              "UNKNOWN")
        assert "service() failed" in err.details(), err.details()
        # service() is asked for every call: nothing is cached across calls
        assert await call(b"again", timeout=10) == b"Hello:-:again"
    assert computed.asked.count("/dyn.S/Hello") == 2


async def test_generic_handlers_are_asked_in_order(pairing):
    """A computed handler ahead of a dictionary handler wins for the paths it serves; a
    dictionary handler ahead of it wins over it; paths it declines go on to the next one."""

    class Claims(grpc.GenericRpcHandler):
        def __init__(self, paths, reply):
            self.paths, self.reply = paths, reply

        def service(self, details):
            if details.method not in self.paths:
                return None

            async def handler(request, context):
                return self.reply

            return grpc.unary_unary_rpc_method_handler(handler)

    first_dict = grpc.method_handlers_generic_handler(
        SERVICE, {"A": grpc.unary_unary_rpc_method_handler(echo)})
    claims = Claims({f"/{SERVICE}/A", f"/{SERVICE}/B"}, b"claimed")
    last_dict = grpc.method_handlers_generic_handler(
        SERVICE, {"B": grpc.unary_unary_rpc_method_handler(echo),
                  "C": grpc.unary_unary_rpc_method_handler(echo)})
    async with pairing.env([first_dict, claims, last_dict]) as env:
        assert await env.uu("A")(b"a", timeout=10) == b"a"  # the first dictionary wins
        assert await env.uu("B")(b"b", timeout=10) == b"claimed"  # the computed one wins
        assert await env.uu("C")(b"c", timeout=10) == b"c"  # declined: the last one serves it


async def test_registered_method_handlers_win_over_generic(pairing):
    async def registered(request, context):
        return b"registered " + request

    def register(server):
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            SERVICE, {"M": grpc.unary_unary_rpc_method_handler(echo),
                      "Other": grpc.unary_unary_rpc_method_handler(echo)}),))
        server.add_registered_method_handlers(
            SERVICE, {"M": grpc.unary_unary_rpc_method_handler(registered)})

    async with pairing.env(register) as env:
        assert await env.uu("M")(b"x", timeout=10) == b"registered x"
        assert await env.uu("Other")(b"y", timeout=10) == b"y"


# ---- done callbacks ----------------------------------------------------------------------------

async def test_client_call_done_callbacks(pairing):
    release = asyncio.Event()

    async def slow(request, context):
        await release.wait()
        return request

    async with pairing.env({"Slow": grpc.unary_unary_rpc_method_handler(slow),
                            "Echo": grpc.unary_unary_rpc_method_handler(echo)}) as env:
        seen = []
        call = env.uu("Slow")(b"x", timeout=10)
        call.add_done_callback(lambda c: seen.append(("first", c)))
        call.add_done_callback(lambda c: seen.append(("second", c)))
        await asyncio.sleep(0.05)
        assert seen == [] and not call.done()
        release.set()
        assert await call == b"x"
        await eventually(lambda: len(seen) == 2, what="done callbacks")
        assert [name for name, _ in seen] == ["first", "second"]
        assert all(c is call for _, c in seen)
        # added after the end: called too (soon, or at once)
        call.add_done_callback(lambda c: seen.append(("late", c)))
        await eventually(lambda: len(seen) == 3, what="the late done callback")

        # a failing call and a streaming call run theirs as well
        failed = env.uu("Nope")(b"", timeout=10)
        codes = []
        failed.add_done_callback(lambda c: codes.append(c.done()))
        await rpc_error(pairing, failed, "UNIMPLEMENTED")
        stream = env.us("Nope")(b"", timeout=10)
        stream.add_done_callback(lambda c: codes.append(c.done()))
        await rpc_error(pairing, stream.read(), "UNIMPLEMENTED")
        await eventually(lambda: len(codes) == 2, what="done callbacks of failed calls")
        assert codes == [True, True]


@ours_only
@pytest.mark.allow_error_logs(r"done callback .* raised")
async def test_client_done_callback_raising_is_logged_and_removal(our_client_pairing):
    async with our_client_pairing.env({"Echo": grpc.unary_unary_rpc_method_handler(echo)}) as env:
        seen = []

        def bad(call):
            raise ValueError("callback bug")

        call = env.uu("Echo")(b"x", timeout=10)
        call.add_done_callback(bad)
        call.add_done_callback(seen.append)
        removed = lambda c: seen.append("removed")  # noqa: E731 - grpc.aio has no remove
        call.add_done_callback(removed)
        call.remove_done_callback(removed)
        call.remove_done_callback(removed)  # not there any more: nothing happens
        assert await call == b"x"
        await eventually(lambda: seen == [call], what="the callback after the raising one")


async def test_server_context_done_callbacks(pairing):
    """context.add_done_callback runs when the call ends: normally, by abort, by the client's
    cancel; one added after the end runs at once."""
    ended = {}
    handler_started = asyncio.Event()

    def record(name):
        event = asyncio.Event()
        loop = asyncio.get_running_loop()

        def callback(context):
            ended[name] = context
            loop.call_soon_threadsafe(event.set)

        return callback, event

    events = {}

    async def normal(request, context):
        callback, events["normal"] = record("normal")
        context.add_done_callback(callback)
        return request

    async def aborting(request, context):
        callback, events["abort"] = record("abort")
        context.add_done_callback(callback)
        await context.abort(grpc.StatusCode.NOT_FOUND, "no")

    async def cancelled(request, context):
        callback, events["cancel"] = record("cancel")
        context.add_done_callback(callback)
        handler_started.set()
        await asyncio.sleep(30)

    async def streaming(request, context):
        callback, events["stream"] = record("stream")
        context.add_done_callback(callback)
        yield b"one"
        yield b"two"

    handlers = {
        "Normal": grpc.unary_unary_rpc_method_handler(normal),
        "Abort": grpc.unary_unary_rpc_method_handler(aborting),
        "Cancel": grpc.unary_unary_rpc_method_handler(cancelled),
        "Stream": grpc.unary_stream_rpc_method_handler(streaming),
    }
    async with pairing.env(handlers) as env:
        assert await env.uu("Normal")(b"n", timeout=10) == b"n"
        await wait_for_event(events["normal"], 5, "done callback after a normal end")
        await rpc_error(pairing, env.uu("Abort")(b"", timeout=10), "NOT_FOUND")
        await wait_for_event(events["abort"], 5, "done callback after abort")
        assert [m async for m in env.us("Stream")(b"", timeout=10)] == [b"one", b"two"]
        await wait_for_event(events["stream"], 5, "done callback of a streaming call")
        call = env.uu("Cancel")(b"", timeout=10)
        await wait_for_event(handler_started, 5, "handler start")
        call.cancel()
        await wait_for_event(events["cancel"], 5, "done callback after the client's cancel")
    assert set(ended) == {"normal", "abort", "stream", "cancel"}


@ours_only
async def test_server_done_callback_added_after_the_end_runs_at_once(ours_pairing):
    kept = []

    async def keep(request, context):
        kept.append(context)
        return request

    async with ours_pairing.env({"Keep": grpc.unary_unary_rpc_method_handler(keep)}) as env:
        assert await env.uu("Keep")(b"k", timeout=10) == b"k"
        context = kept[0]
        assert context.done() and not context.is_active() and not context.cancelled()
        seen = []
        context.add_done_callback(seen.append)
        # grpc's sync add_callback: no-argument callbacks, and False (not called) after the end
        assert context.add_callback(lambda: seen.append("sync")) is False
        assert seen == [context]


# ---- time_remaining ----------------------------------------------------------------------------

async def test_time_remaining_client_and_server(pairing):
    remaining = []

    async def report(request, context):
        remaining.append(context.time_remaining())
        await asyncio.sleep(0.2)
        remaining.append(context.time_remaining())
        return request

    async with pairing.env({"Report": grpc.unary_unary_rpc_method_handler(report)}) as env:
        call = env.uu("Report")(b"x", timeout=5)
        before = call.time_remaining()
        assert 4.5 < before <= 5.0, before
        assert await call == b"x"
        after = call.time_remaining()
        assert 0 < after < before - 0.15, (before, after)
        assert 4.0 < remaining[0] <= 5.1 and remaining[1] < remaining[0] - 0.15, remaining

        remaining.clear()
        unbounded = env.uu("Report")(b"y")
        assert unbounded.time_remaining() is None
        assert await unbounded == b"y"
        assert remaining[0] is None or remaining[0] > 1e6, remaining  # no deadline


# ---- large messages reach protobuf parsers as views -------------------------------------------

class ViewSpy:
    """Stands in for a generated message class's FromString (what _message_reader recognises as
    taking views), recording the type of what it is given."""

    __name__ = "FromString"

    def __init__(self, message_class):
        self.__self__ = message_class
        self.types = []

    def __call__(self, raw):
        self.types.append(type(raw))
        return self.__self__.FromString(raw)


@pytest.mark.parametrize("size", [64 * 1024, MiB + 3, 100])
async def test_received_message_reaches_protobuf_parser_as_view(pairing, size):
    server_spy = ViewSpy(pb.EchoRequest)
    client_spy = ViewSpy(pb.EchoReply)

    async def unary(request, context):
        return pb.EchoReply(index=request.count, blob=request.blob)

    handler = grpc.unary_unary_rpc_method_handler(
        unary, request_deserializer=server_spy, response_serializer=pb.EchoReply.SerializeToString)
    async with pairing.env({"Unary": handler}, server_options=BIG_OPTIONS,
                           channel_options=BIG_OPTIONS) as env:
        method = env.channel.unary_unary(
            f"/{SERVICE}/Unary", request_serializer=pb.EchoRequest.SerializeToString,
            response_deserializer=client_spy)
        blob = os.urandom(size)
        reply = await method(pb.EchoRequest(count=7, blob=blob), timeout=10)
        assert reply.index == 7 and reply.blob == blob
    big = size >= 64 * 1024
    expected = memoryview if big else bytes
    if pairing.server.is_ours:
        assert server_spy.types == [expected], server_spy.types
    if pairing.client.is_ours:
        assert client_spy.types == [expected], client_spy.types
