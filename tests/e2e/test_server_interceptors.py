"""Server interceptors (``aio.server(interceptors=[...])``) on every pairing, as grpc.aio runs
them: which interceptors are accepted, chain order, what ``handler_call_details`` holds, and
handlers passed through, replaced or refused (None → UNIMPLEMENTED, an auth check aborting
UNAUTHENTICATED, raising interceptors → UNKNOWN), in all four shapes.
test_server_interceptors_paths.py: contextvars, suspending interceptors, cancellation, lookups.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars

import grpc
import grpc.aio
import pytest

from e2e.helpers import SERVICE, ours_only, rpc_error

RAISED_LOG = r"^Unexpected \[\w+\] raised by servicer method \[/test\.Svc/"
REQUEST_ID = contextvars.ContextVar("request_id", default="unset")


# ---- interceptors -------------------------------------------------------------------------------

class Recorder(grpc.aio.ServerInterceptor):
    """Appends ``tag>`` before the continuation and ``<tag`` after it; passes the handler on."""

    def __init__(self, tag, log):
        self.tag = tag
        self.log = log

    async def intercept_service(self, continuation, handler_call_details):
        self.log.append(f"{self.tag}>")
        handler = await continuation(handler_call_details)
        self.log.append(f"<{self.tag}")
        return handler


class Call(grpc.aio.ServerInterceptor):
    """Runs ``function(continuation, details)`` as the interceptor: one-off behaviour."""

    def __init__(self, function):
        self.function = function

    async def intercept_service(self, continuation, handler_call_details):
        return await self.function(continuation, handler_call_details)


def rebuilt(handler, **behaviours):
    """``handler`` with some behaviours replaced, built with grpc's factory for its shape (the
    way grpc's examples wrap handlers: new behaviour, the original (de)serializers)."""
    if handler.request_streaming and handler.response_streaming:
        factory, name = grpc.stream_stream_rpc_method_handler, "stream_stream"
    elif handler.request_streaming:
        factory, name = grpc.stream_unary_rpc_method_handler, "stream_unary"
    elif handler.response_streaming:
        factory, name = grpc.unary_stream_rpc_method_handler, "unary_stream"
    else:
        factory, name = grpc.unary_unary_rpc_method_handler, "unary_unary"
    behaviour = behaviours.get(name, getattr(handler, name))
    return factory(behaviour, request_deserializer=handler.request_deserializer,
                   response_serializer=handler.response_serializer)


# ---- handlers -----------------------------------------------------------------------------------

async def echo(request, context):
    return request


def echo_sync(request, context):
    return b"sync:" + request


async def count_to(request, context):
    for i in range(int(request)):
        yield b"m%d" % i


async def join(request_iterator, context):
    return b"|".join([message async for message in request_iterator])


async def upper_each(request_iterator, context):
    async for message in request_iterator:
        yield message.upper()


async def request_id(request, context):
    return REQUEST_ID.get().encode()


async def request_id_later(request, context):
    await asyncio.sleep(0.01)  # the handler suspends: its Task must keep the context
    return REQUEST_ID.get().encode()


async def request_id_stream(request, context):
    for _ in range(2):
        await asyncio.sleep(0)
        yield REQUEST_ID.get().encode()


def handlers():
    return {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "EchoSync": grpc.unary_unary_rpc_method_handler(echo_sync),
        "Count": grpc.unary_stream_rpc_method_handler(count_to),
        "Join": grpc.stream_unary_rpc_method_handler(join),
        "Upper": grpc.stream_stream_rpc_method_handler(upper_each),
        "RequestId": grpc.unary_unary_rpc_method_handler(request_id),
        "RequestIdLater": grpc.unary_unary_rpc_method_handler(request_id_later),
        "RequestIdStream": grpc.unary_stream_rpc_method_handler(request_id_stream),
    }


async def all_shapes(env):
    """One call of every shape; returns what each gave."""
    async def requests():
        for part in (b"a", b"b", b"c"):
            yield part

    return {
        "Echo": await env.uu("Echo")(b"hi", timeout=10),
        "EchoSync": await env.uu("EchoSync")(b"hi", timeout=10),
        "Count": [m async for m in env.us("Count")(b"3", timeout=10)],
        "Join": await env.su("Join")(requests(), timeout=10),
        "Upper": [m async for m in env.ss("Upper")(requests(), timeout=10)],
    }


EXPECTED = {
    "Echo": b"hi", "EchoSync": b"sync:hi", "Count": [b"m0", b"m1", b"m2"], "Join": b"a|b|c",
    "Upper": [b"A", b"B", b"C"],
}


# ---- construction -------------------------------------------------------------------------------

async def test_only_aio_server_interceptors_are_accepted(pairing):
    aio = pairing.server.aio

    class NotAnInterceptor:
        async def intercept_service(self, continuation, handler_call_details):
            return await continuation(handler_call_details)

    class SyncInterceptor(grpc.ServerInterceptor):  # grpc's sync interface: refused by grpc.aio
        def intercept_service(self, continuation, handler_call_details):
            return continuation(handler_call_details)

    for bad in (NotAnInterceptor(), SyncInterceptor(), object()):
        with pytest.raises(ValueError):
            aio.server(interceptors=[Recorder("ok", []), bad])
    for nothing in (None, [], ()):
        await aio.server(interceptors=nothing).stop(None)


async def test_both_base_classes_work(pairing):
    """Interceptors derived from grpc.aio's class and from the server stack's own class."""
    log = []

    class FromStack(pairing.server.aio.ServerInterceptor):
        async def intercept_service(self, continuation, handler_call_details):
            log.append("stack")
            return await continuation(handler_call_details)

    class FromGrpc(grpc.aio.ServerInterceptor):
        async def intercept_service(self, continuation, handler_call_details):
            log.append("grpc")
            return await continuation(handler_call_details)

    async with pairing.env(handlers(), interceptors=[FromStack(), FromGrpc()]) as env:
        assert await env.uu("Echo")(b"x", timeout=10) == b"x"
    assert log == ["stack", "grpc"]


@ours_only
def test_our_server_interceptor_is_grpcs():
    import turbogrpc.aio  # noqa: PLC0415

    assert turbogrpc.aio.ServerInterceptor is grpc.aio.ServerInterceptor
    assert "ServerInterceptor" in turbogrpc.aio.__all__
    with pytest.raises(turbogrpc.aio.UsageError, match="ServerInterceptor"):
        turbogrpc.aio.server(interceptors=[object()])


# ---- passing through, order, details ------------------------------------------------------------

async def test_pass_through_every_shape(pairing):
    log = []
    async with pairing.env(handlers(), interceptors=[Recorder("r", log)]) as env:
        assert await all_shapes(env) == EXPECTED
    assert log == ["r>", "<r"] * len(EXPECTED)


async def test_chain_runs_first_to_last_before_the_handler(pairing):
    log = []

    async def logged_echo(request, context):
        log.append("handler")
        return request

    async def logged_count(request, context):
        log.append("handler")
        yield b"one"

    interceptors = [Recorder("a", log), Recorder("b", log), Recorder("c", log)]
    async with pairing.env({"Echo": grpc.unary_unary_rpc_method_handler(logged_echo),
                            "Count": grpc.unary_stream_rpc_method_handler(logged_count)},
                           interceptors=interceptors) as env:
        assert await env.uu("Echo")(b"x", timeout=10) == b"x"
        assert log == ["a>", "b>", "c>", "<c", "<b", "<a", "handler"]
        log.clear()
        assert [m async for m in env.us("Count")(b"", timeout=10)] == [b"one"]
        assert log == ["a>", "b>", "c>", "<c", "<b", "<a", "handler"]


async def test_handler_call_details(pairing):
    seen = []

    async def look(continuation, details):
        seen.append((details.method, list(details.invocation_metadata)))
        return await continuation(details)

    metadata = (("key", "value"), ("trace-bin", b"\x00\x01\xff"), ("key", "second"))
    async with pairing.env(handlers(), interceptors=[Call(look)]) as env:
        assert await env.uu("Echo")(b"x", metadata=metadata, timeout=10) == b"x"
        assert [m async for m in env.us("Count")(b"1", timeout=10)] == [b"m0"]
    (method, pairs), (stream_method, _) = seen
    assert method == f"/{SERVICE}/Echo" and stream_method == f"/{SERVICE}/Count"
    # The order of values per key is kept (across keys it is not, by either stack).
    assert [value for key, value in pairs if key == "key"] == ["value", "second"]
    assert [value for key, value in pairs if key == "trace-bin"] == [b"\x00\x01\xff"]
    assert ("key", "value") in pairs  # entries compare as (key, value) tuples
    assert all(entry.key == entry[0] and entry.value == entry[1] for entry in pairs)


async def test_interceptor_chosen_by_metadata(pairing):
    """grpc's own test: an interceptor that applies another one only when a header is there."""
    log = []
    inner = Recorder("secret", log)

    async def only_with_secret(continuation, details):
        if ("secret", "42") in details.invocation_metadata:
            return await inner.intercept_service(continuation, details)
        return await continuation(details)

    interceptors = [Recorder("a", log), Call(only_with_secret), Recorder("b", log)]
    async with pairing.env(handlers(), interceptors=interceptors) as env:
        await env.uu("Echo")(b"x", metadata=(("key", "value"),), timeout=10)
        assert log == ["a>", "b>", "<b", "<a"]
        log.clear()
        await env.uu("Echo")(b"x", metadata=(("key", "value"), ("secret", "42")), timeout=10)
        assert log == ["a>", "secret>", "b>", "<b", "<secret", "<a"]


# ---- refusing, failing --------------------------------------------------------------------------

def denying(code):
    """A handler of the original's shape that aborts with ``code``: grpc's auth example."""
    async def deny_unary(request, context):
        await context.abort(code, "missing or wrong token", (("why", "no token"),))

    async def deny_stream(request, context):
        await context.abort(code, "missing or wrong token", (("why", "no token"),))
        yield b"never"  # pragma: no cover - makes it an async generator

    def for_shape(handler):
        if handler.response_streaming:
            return rebuilt(handler, unary_stream=deny_stream, stream_stream=deny_stream)
        return rebuilt(handler, unary_unary=deny_unary, stream_unary=deny_unary)
    return for_shape


async def test_auth_interceptor(pairing):
    reached = []
    deny = denying(pairing.server.StatusCode.UNAUTHENTICATED)

    async def auth(continuation, details):
        handler = await continuation(details)
        if ("token", "s3cret") in details.invocation_metadata:
            reached.append(details.method.rsplit("/", 1)[1])
            return handler
        return deny(handler)

    async def requests():
        yield b"a"

    good = (("token", "s3cret"),)
    async with pairing.env(handlers(), interceptors=[Call(auth)]) as env:
        err = await rpc_error(pairing, env.uu("Echo")(b"x", timeout=10), "UNAUTHENTICATED")
        assert err.details() == "missing or wrong token"
        assert ("why", "no token") in list(err.trailing_metadata())
        await rpc_error(pairing, env.uu("Echo")(b"x", metadata=(("token", "nope"),), timeout=10),
                        "UNAUTHENTICATED")
        await rpc_error(pairing, env.us("Count")(b"2", timeout=10).read(), "UNAUTHENTICATED")
        await rpc_error(pairing, env.su("Join")(requests(), timeout=10), "UNAUTHENTICATED")
        # (no request in flight: a grpc client writing while our server ends a stream-stream
        # call sometimes reports INTERNAL, with or without interceptors)
        await rpc_error(pairing, env.ss("Upper")(_parts(), timeout=10).read(), "UNAUTHENTICATED")
        assert reached == []
        assert await env.uu("Echo")(b"x", metadata=good, timeout=10) == b"x"
        assert await env.uu("EchoSync")(b"x", metadata=good, timeout=10) == b"sync:x"
        assert [m async for m in env.us("Count")(b"2", metadata=good, timeout=10)] == [
            b"m0", b"m1"]
        assert await env.su("Join")(requests(), metadata=good, timeout=10) == b"a"
        assert [m async for m in env.ss("Upper")(requests(), metadata=good, timeout=10)] == [b"A"]
    assert reached == ["Echo", "EchoSync", "Count", "Join", "Upper"]


async def test_none_is_unimplemented(pairing):
    async def refuse(continuation, details):
        return None

    async with pairing.env(handlers(), interceptors=[Call(refuse)]) as env:
        err = await rpc_error(pairing, env.uu("Echo")(b"x", timeout=10), "UNIMPLEMENTED")
        assert err.details() == "Method not found!"
        await rpc_error(pairing, env.us("Count")(b"1", timeout=10).read(), "UNIMPLEMENTED")


async def test_unknown_method_still_reaches_interceptors(pairing):
    seen = []

    async def look(continuation, details):
        handler = await continuation(details)
        seen.append((details.method, handler))
        return handler

    async with pairing.env(handlers(), interceptors=[Call(look)]) as env:
        err = await rpc_error(pairing, env.uu("Nope")(b"x", timeout=10), "UNIMPLEMENTED")
        assert err.details() == "Method not found!"
    assert seen == [(f"/{SERVICE}/Nope", None)]


async def test_interceptor_may_serve_an_unknown_method(pairing):
    async def serve_anything(continuation, details):
        handler = await continuation(details)
        if handler is None and details.method.endswith("/Virtual"):
            async def virtual(request, context):
                return b"virtual " + request
            return grpc.unary_unary_rpc_method_handler(virtual)
        return handler

    async with pairing.env(handlers(), interceptors=[Call(serve_anything)]) as env:
        assert await env.uu("Virtual")(b"x", timeout=10) == b"virtual x"
        assert await env.uu("Echo")(b"x", timeout=10) == b"x"


@pytest.mark.allow_error_logs(RAISED_LOG)
@pytest.mark.parametrize("when", ["before", "after", "suspended"])
async def test_raising_interceptor_is_unknown(pairing, when):
    reached = []

    async def raises(continuation, details):
        if when == "suspended":
            await asyncio.sleep(0.01)
        if when == "after":
            await continuation(details)
        raise ValueError("interceptor says no")

    async def logged(request, context):
        reached.append(request)
        return request

    async with pairing.env({"Echo": grpc.unary_unary_rpc_method_handler(logged),
                            "Count": grpc.unary_stream_rpc_method_handler(count_to)},
                           interceptors=[Recorder("outer", []), Call(raises)]) as env:
        err = await rpc_error(pairing, env.uu("Echo")(b"x", timeout=10), "UNKNOWN")
        assert err.details() == "Unexpected <class 'ValueError'>: interceptor says no"
        err = await rpc_error(pairing, env.us("Count")(b"2", timeout=10).read(), "UNKNOWN")
        assert err.details() == "Unexpected <class 'ValueError'>: interceptor says no"
    assert reached == []


@pytest.mark.allow_error_logs(RAISED_LOG)
async def test_interceptor_returning_no_handler_object(pairing):
    async def wrong(continuation, details):
        return "not a handler"

    async with pairing.env(handlers(), interceptors=[Call(wrong)]) as env:
        err = await rpc_error(pairing, env.uu("Echo")(b"x", timeout=10), "UNKNOWN")
        assert err.details() == (
            "Unexpected <class 'AttributeError'>: "
            "'str' object has no attribute 'request_streaming'")


@ours_only
@pytest.mark.allow_error_logs(r"cannot deserialize the request of /test\.Svc/BadRequest")
async def test_request_failures_behind_interceptors(ours_pairing):
    """Our server's answers to a request it cannot take stay the same behind interceptors:
    INTERNAL for a raising deserializer and for a unary call sent no request."""
    def bad_request(raw):
        raise ValueError("not this")

    methods = dict(handlers(), BadRequest=grpc.unary_unary_rpc_method_handler(
        echo, request_deserializer=bad_request))
    async with ours_pairing.env(methods, interceptors=[Recorder("r", [])]) as env:
        err = await rpc_error(ours_pairing, env.uu("BadRequest")(b"x", timeout=10), "INTERNAL")
        assert err.details() == "Exception deserializing request!"
        err = await rpc_error(ours_pairing, env.su("Echo")(_parts(), timeout=10), "INTERNAL")
        assert err.details() == "Expected one request message, the client sent none"
        assert await env.uu("Echo")(b"fine", timeout=10) == b"fine"


# ---- replacing the handler ----------------------------------------------------------------------

async def test_replaced_handler_changes_responses(pairing):
    async def upper_unary(continuation, details):
        handler = await continuation(details)
        if handler is None:
            return None
        if not handler.request_streaming and not handler.response_streaming:
            inner = handler.unary_unary

            async def shout(request, context):
                response = inner(request, context)
                if asyncio.iscoroutine(response):
                    response = await response
                return response.upper()
            return rebuilt(handler, unary_unary=shout)
        if handler.response_streaming and not handler.request_streaming:
            inner_stream = handler.unary_stream

            async def shout_each(request, context):
                async for response in inner_stream(request, context):
                    yield response.upper()
            return rebuilt(handler, unary_stream=shout_each)
        return handler

    async with pairing.env(handlers(), interceptors=[Call(upper_unary)]) as env:
        assert await env.uu("Echo")(b"hi", timeout=10) == b"HI"
        assert await env.uu("EchoSync")(b"hi", timeout=10) == b"SYNC:HI"
        assert [m async for m in env.us("Count")(b"2", timeout=10)] == [b"M0", b"M1"]
        assert await env.su("Join")(_parts(b"a", b"b"), timeout=10) == b"a|b"


async def _parts(*parts):
    for part in parts:
        yield part


async def test_handler_aborting_through_interceptor_keeps_status(pairing):
    """A replacement that aborts, and one whose wrapped handler aborts: status and trailers."""
    codes = pairing.server.StatusCode

    async def aborting(request, context):
        context.set_trailing_metadata((("where", "handler"),))
        await context.abort(codes.FAILED_PRECONDITION, "handler aborted")

    async def wrap(continuation, details):
        handler = await continuation(details)
        inner = handler.unary_unary

        async def wrapped(request, context):
            return await inner(request, context)
        return rebuilt(handler, unary_unary=wrapped)

    async with pairing.env({"Abort": grpc.unary_unary_rpc_method_handler(aborting)},
                           interceptors=[Call(wrap)]) as env:
        err = await rpc_error(pairing, env.uu("Abort")(b"x", timeout=10), "FAILED_PRECONDITION")
        assert err.details() == "handler aborted"
        assert ("where", "handler") in list(err.trailing_metadata())


async def test_stream_wrapped_to_count_messages(pairing):
    counts = collections.Counter()

    async def counting(continuation, details):
        handler = await continuation(details)
        if handler is None or not handler.request_streaming:
            return handler
        inner = handler.stream_stream if handler.response_streaming else handler.stream_unary

        async def counted_requests(request_iterator):
            async for message in request_iterator:
                counts["requests"] += 1
                yield message

        if handler.response_streaming:
            async def count_both(request_iterator, context):
                async for response in inner(counted_requests(request_iterator), context):
                    counts["responses"] += 1
                    yield response
            return rebuilt(handler, stream_stream=count_both)

        async def count_requests(request_iterator, context):
            return await inner(counted_requests(request_iterator), context)
        return rebuilt(handler, stream_unary=count_requests)

    async with pairing.env(handlers(), interceptors=[Call(counting)]) as env:
        parts = [b"p%d" % i for i in range(7)]
        assert [m async for m in env.ss("Upper")(_parts(*parts), timeout=10)] == [
            p.upper() for p in parts]
        assert counts == {"requests": 7, "responses": 7}
        assert await env.su("Join")(_parts(*parts[:4]), timeout=10) == b"|".join(parts[:4])
        assert counts == {"requests": 11, "responses": 7}
        assert await env.uu("Echo")(b"x", timeout=10) == b"x"  # not wrapped
        assert counts == {"requests": 11, "responses": 7}
