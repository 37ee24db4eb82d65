"""Client interceptors (grpc.aio's API) on streaming calls: read()/async for, write()/done_writing()
through an intercepted call, a response iterator returned instead of a call, an interceptor
wrapping the request iterator, cancellation, status and metadata, done callbacks; and
interceptors on a secure channel with call credentials. Expectations are grpc.aio's."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
import pytest

from e2e.helpers import SERVICE, code_name, eventually, md_values, rpc_error, wait_for_event
from e2e.tls_helpers import FAIL_TIMEOUT, channel_credentials, echo_handlers, server_credentials

LOCALLY_CANCELLED = "Locally cancelled by application!"


class Service:
    """Split (b"a,b" -> a, b, with initial and trailing metadata), Endless (ticks until
    cancelled), Join, Bidi (echo each), BidiFail (echo the first, then FAILED_PRECONDITION)."""

    def __init__(self):
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.received = []

    async def split(self, request, context):
        await context.send_initial_metadata((("x-initial", "i"),))
        context.set_trailing_metadata((("x-trailing", "t"),))
        for part in request.split(b","):
            yield part

    async def endless(self, request, context):
        try:
            n = 0
            while True:
                yield b"tick %d" % n
                n += 1
                self.started.set()
                await asyncio.sleep(0.005)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise

    async def join(self, request_iterator, context):
        return b",".join([message async for message in request_iterator])

    async def bidi(self, request_iterator, context):
        async for message in request_iterator:
            self.received.append(message)
            yield message

    async def bidi_fail(self, request_iterator, context):
        async for message in request_iterator:
            yield message
            break
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "only one",
                            trailing_metadata=(("x-trailing", "t"),))

    def handlers(self):
        return {
            "Split": grpc.unary_stream_rpc_method_handler(self.split),
            "Endless": grpc.unary_stream_rpc_method_handler(self.endless),
            "Join": grpc.stream_unary_rpc_method_handler(self.join),
            "Bidi": grpc.stream_stream_rpc_method_handler(self.bidi),
            "BidiFail": grpc.stream_stream_rpc_method_handler(self.bidi_fail),
        }


@contextlib.asynccontextmanager
async def intercepted(pairing, service, interceptors):
    async with pairing.serve(service.handlers()) as srv:
        async with pairing.connect(srv.target, interceptors=interceptors) as channel:
            yield channel


def passing(aio):
    """Pass-through interceptors for the three streaming kinds."""

    class US(aio.UnaryStreamClientInterceptor):
        async def intercept_unary_stream(self, continuation, details, request):
            return await continuation(details, request)

    class SU(aio.StreamUnaryClientInterceptor):
        async def intercept_stream_unary(self, continuation, details, request_iterator):
            return await continuation(details, request_iterator)

    class SS(aio.StreamStreamClientInterceptor):
        async def intercept_stream_stream(self, continuation, details, request_iterator):
            return await continuation(details, request_iterator)

    return [US(), SU(), SS()]


async def test_unary_stream_read_and_iterate(pairing):
    aio = pairing.client.aio
    async with intercepted(pairing, Service(), passing(aio)) as channel:
        split = channel.unary_stream(f"/{SERVICE}/Split")
        call = split(b"a,b")
        assert await call.read() == b"a"
        assert await call.read() == b"b"
        assert await call.read() is pairing.client.EOF
        assert code_name(await call.code()) == "OK" and call.done()
        assert await call.details() == ""
        assert md_values(await call.initial_metadata(), "x-initial") == ["i"]
        assert md_values(await call.trailing_metadata(), "x-trailing") == ["t"]
        call = split(b"c,d,e")
        assert [m async for m in call] == [b"c", b"d", b"e"]
        done = []
        call.add_done_callback(done.append)
        assert done == [call]


async def test_response_iterator_returned_instead_of_a_call(pairing):
    aio = pairing.client.aio

    class Upper(aio.UnaryStreamClientInterceptor):
        async def intercept_unary_stream(self, continuation, details, request):
            call = await continuation(details, request)

            async def upper():
                async for response in call:
                    yield response.upper()

            return upper()

    async with intercepted(pairing, Service(), [Upper()]) as channel:
        split = channel.unary_stream(f"/{SERVICE}/Split")
        call = split(b"a,b")
        assert [m async for m in call] == [b"A", b"B"]
        # status and metadata are those of the call the continuation made
        assert code_name(await call.code()) == "OK" and call.done()
        assert md_values(await call.trailing_metadata(), "x-trailing") == ["t"]
        call = split(b"c")
        assert await call.read() == b"C"
        assert await call.read() is pairing.client.EOF


async def test_stream_unary_iterator_and_writes(pairing):
    aio = pairing.client.aio
    service = Service()
    async with intercepted(pairing, service, passing(aio)) as channel:
        join = channel.stream_unary(f"/{SERVICE}/Join")
        assert await join(iter([b"a", b"b"])) == b"a,b"
        call = join()
        await call.write(b"x")
        await call.write(b"y")
        await call.done_writing()
        await call.done_writing()  # idempotent
        assert await call == b"x,y"
        assert code_name(await call.code()) == "OK"
        with pytest.raises(asyncio.InvalidStateError):
            await call.write(b"late")
        # write() on a call given an iterator mixes the two styles
        call = join(iter([b"z"]))
        with pytest.raises(pairing.client.aio.UsageError):
            await call.write(b"no")
        assert await call == b"z"


async def test_stream_stream_read_write_done_writing(pairing):
    aio = pairing.client.aio
    service = Service()
    async with intercepted(pairing, service, passing(aio)) as channel:
        call = channel.stream_stream(f"/{SERVICE}/Bidi")()
        await call.write(b"1")
        assert await call.read() == b"1"
        await call.write(b"2")
        assert await call.read() == b"2"
        await call.done_writing()
        assert await call.read() is pairing.client.EOF
        assert code_name(await call.code()) == "OK" and call.done()
        with pytest.raises(asyncio.InvalidStateError):
            await call.write(b"3")
    assert service.received == [b"1", b"2"]


async def test_interceptor_wrapping_the_written_requests(pairing):
    aio = pairing.client.aio
    logged = []

    class LogRequests(aio.StreamStreamClientInterceptor):
        async def intercept_stream_stream(self, continuation, details, request_iterator):
            async def logging_iterator():
                async for request in request_iterator:
                    logged.append(request)
                    yield request + b"!"

            return await continuation(details, logging_iterator())

    async with intercepted(pairing, Service(), [LogRequests()]) as channel:
        call = channel.stream_stream(f"/{SERVICE}/Bidi")()
        for message in (b"a", b"b", b"c"):
            await call.write(message)
            assert await call.read() == message + b"!"
        await call.done_writing()
        assert [m async for m in call] == []
        assert code_name(await call.code()) == "OK"
    assert logged == [b"a", b"b", b"c"]


async def test_stream_error_status_and_metadata(pairing):
    aio = pairing.client.aio
    async with intercepted(pairing, Service(), passing(aio)) as channel:
        bidi_fail = channel.stream_stream(f"/{SERVICE}/BidiFail")
        calls = [bidi_fail(iter([b"1", b"2"]))]
        if pairing.client.is_ours:
            # With write(), grpc.aio leaves the task feeding the call its requests pending
            # forever once the server has ended the call; ours ends with the call.
            calls.append(bidi_fail())
            await calls[-1].write(b"1")
        for call in calls:
            assert await call.read() == b"1"
            err = await rpc_error(pairing, call.read(), "FAILED_PRECONDITION")
            assert err.details() == "only one"
            assert code_name(await call.code()) == "FAILED_PRECONDITION"
            assert await call.details() == "only one"
            assert md_values(await call.trailing_metadata(), "x-trailing") == ["t"]
            assert call.done() and not call.cancelled()


async def test_cancel_unary_stream(pairing):
    aio = pairing.client.aio
    service = Service()
    async with intercepted(pairing, service, passing(aio)) as channel:
        call = channel.unary_stream(f"/{SERVICE}/Endless")(b"")
        done = []
        call.add_done_callback(done.append)
        assert (await call.read()).startswith(b"tick")
        await wait_for_event(service.started)
        assert call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call.read()
        assert call.cancelled() and call.done()
        assert code_name(await call.code()) == "CANCELLED"
        assert await call.details() == LOCALLY_CANCELLED
        await eventually(lambda: done == [call], what="done callback")
        await wait_for_event(service.cancelled, what="server-side cancellation")


async def test_cancel_stream_stream(pairing):
    aio = pairing.client.aio
    service = Service()
    async with intercepted(pairing, service, passing(aio)) as channel:
        call = channel.stream_stream(f"/{SERVICE}/Bidi")()
        await call.write(b"1")
        assert await call.read() == b"1"
        assert call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call.read()
        with pytest.raises(asyncio.InvalidStateError):
            await call.write(b"2")
        assert call.cancelled()
        assert code_name(await call.code()) == "CANCELLED"


async def test_cancel_stream_while_the_interceptor_waits(pairing):
    aio = pairing.client.aio
    reached = asyncio.Event()
    never = asyncio.Event()

    class Hold(aio.StreamStreamClientInterceptor):
        async def intercept_stream_stream(self, continuation, details, request_iterator):
            reached.set()
            await never.wait()
            return await continuation(details, request_iterator)

    async with intercepted(pairing, Service(), [Hold()]) as channel:
        call = channel.stream_stream(f"/{SERVICE}/Bidi")()
        done = []
        call.add_done_callback(done.append)
        await wait_for_event(reached)
        assert not call.done()
        assert call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call.read()
        with pytest.raises(asyncio.InvalidStateError):
            await call.write(b"x")
        assert call.cancelled() and call.done()
        assert code_name(await call.code()) == "CANCELLED"
        assert await call.details() == LOCALLY_CANCELLED
        await eventually(lambda: done == [call], what="done callback")


async def test_stream_interceptor_raising(pairing):
    aio = pairing.client.aio

    class Boom(aio.StreamUnaryClientInterceptor):
        async def intercept_stream_unary(self, continuation, details, request_iterator):
            raise ValueError("boom")

    async with intercepted(pairing, Service(), [Boom()]) as channel:
        call = channel.stream_unary(f"/{SERVICE}/Join")()
        with pytest.raises(ValueError, match="boom"):
            await call.write(b"x")
        with pytest.raises(ValueError, match="boom"):
            await call
        assert call.done() and not call.cancelled()


async def test_secure_channel_with_call_credentials(pairing, pki):
    # Per-call credentials reach the plugins through the details, whether the caller gave them
    # or the interceptor put them there.
    aio = pairing.client.aio
    lib = pairing.client.lib
    got = []

    class AddToken(aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, details, request):
            got.append(details.credentials)
            if details.credentials is None:
                details = details._replace(
                    credentials=lib.access_token_call_credentials("from-interceptor"))
            return await continuation(details, request)

    seen = []
    server_creds = server_credentials(pairing.server, pki.server)
    channel_creds = channel_credentials(pairing.client, pki.ca1)
    interceptors = [AddToken(), *passing(aio)]
    async with pairing.serve(echo_handlers(seen), server_credentials=server_creds) as srv:
        async with pairing.connect(srv.target, channel_credentials=channel_creds,
                                   interceptors=interceptors) as channel:
            echo = channel.unary_unary(f"/{SERVICE}/Echo")
            assert await echo(b"a", timeout=FAIL_TIMEOUT) == b"a"
            own = lib.access_token_call_credentials("from-caller")
            assert await echo(b"b", credentials=own, timeout=FAIL_TIMEOUT) == b"b"
            bidi = channel.stream_stream(f"/{SERVICE}/Bidi")
            call = bidi(iter([b"x", b"y"]), credentials=lib.access_token_call_credentials("ss"),
                        timeout=FAIL_TIMEOUT)
            assert [m async for m in call] == [b"x", b"y"]
    assert got[0] is None and got[1] is own
    assert [md_values(s.metadata, "authorization") for s in seen] == [
        ["Bearer from-interceptor"], ["Bearer from-caller"], ["Bearer ss"]]
