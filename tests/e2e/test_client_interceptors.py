"""Client interceptors (grpc.aio's API): the channel's split, every shape passing through, the
details an interceptor sees and may change (method, metadata, timeout, wait_for_ready), order,
a retrying interceptor, a response returned instead of a call, the task and context an
interceptor runs in. Failures, cancellation, done callbacks: test_client_interceptors_outcomes.py;
streaming calls and call credentials: test_client_interceptors_streams.py. Modelled on grpc.aio's
own client_*_interceptor_test.py; every expectation is grpc.aio's unless a test says otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars

import grpc
import pytest

from e2e.helpers import (
    SERVICE, code_name, free_port_refusing, md_pairs, md_values, ours_only, rpc_error,
)

LOCALLY_CANCELLED = "Locally cancelled by application!"


class Service:
    """Echo, Flaky (UNAVAILABLE while `failures` > 0), Status (initial + trailing metadata, then
    NOT_FOUND), Park (waits to be cancelled), Split / Join / Bidi for the streaming shapes."""

    def __init__(self, failures: int = 0):
        self.seen = []  # invocation metadata (pairs) of every call
        self.failures = failures
        self.parked = asyncio.Event()
        self.cancelled = asyncio.Event()

    def _record(self, context):
        self.seen.append(md_pairs(context.invocation_metadata()))

    async def echo(self, request, context):
        self._record(context)
        return request

    async def flaky(self, request, context):
        self._record(context)
        if self.failures > 0:
            self.failures -= 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, "try again")
        return request

    async def status(self, request, context):
        self._record(context)
        await context.send_initial_metadata((("x-initial", "i"),))
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing",
                            trailing_metadata=(("x-trailing", "t"),))

    async def park(self, request, context):
        self._record(context)
        self.parked.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return request

    async def split(self, request, context):
        self._record(context)
        for part in request.split(b","):
            yield part

    async def join(self, request_iterator, context):
        self._record(context)
        return b",".join([m async for m in request_iterator])

    async def bidi(self, request_iterator, context):
        self._record(context)
        async for message in request_iterator:
            yield message

    def handlers(self):
        return {
            "Echo": grpc.unary_unary_rpc_method_handler(self.echo),
            "Flaky": grpc.unary_unary_rpc_method_handler(self.flaky),
            "Status": grpc.unary_unary_rpc_method_handler(self.status),
            "Park": grpc.unary_unary_rpc_method_handler(self.park),
            "Split": grpc.unary_stream_rpc_method_handler(self.split),
            "Join": grpc.stream_unary_rpc_method_handler(self.join),
            "Bidi": grpc.stream_stream_rpc_method_handler(self.bidi),
        }


@contextlib.asynccontextmanager
async def intercepted(pairing, service, interceptors, **connect_kwargs):
    """A server for `service` and a channel to it with `interceptors`."""
    async with pairing.serve(service.handlers()) as srv:
        async with pairing.connect(srv.target, interceptors=interceptors,
                                   **connect_kwargs) as channel:
            yield channel


def uu(channel, name):
    return channel.unary_unary(f"/{SERVICE}/{name}")


def passing(aio, log=None):
    """A unary-unary interceptor that passes the call on, appending its details to `log`."""

    class Pass(aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, details, request):
            if log is not None:
                log.append(details)
            return await continuation(details, request)

    return Pass()


def test_invalid_interceptors_refused(pairing):
    aio = pairing.client.aio

    class OnlyTheBase(aio.ClientInterceptor):
        pass

    for bad in (object(), OnlyTheBase()):
        with pytest.raises(ValueError):
            aio.insecure_channel("localhost:1", interceptors=[bad])


@ours_only
def test_interfaces_are_grpcs_own():
    import turbogrpc.aio as ours

    for name in ("ClientInterceptor", "UnaryUnaryClientInterceptor", "ClientCallDetails",
                 "UnaryStreamClientInterceptor", "StreamUnaryClientInterceptor",
                 "StreamStreamClientInterceptor"):
        assert getattr(ours, name) is getattr(grpc.aio, name), name


async def test_every_shape_passes_through(pairing):
    aio = pairing.client.aio
    seen = []

    class UU(aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, details, request):
            seen.append(("uu", details))
            return await continuation(details, request)

    class US(aio.UnaryStreamClientInterceptor):
        async def intercept_unary_stream(self, continuation, details, request):
            seen.append(("us", details))
            return await continuation(details, request)

    class SU(aio.StreamUnaryClientInterceptor):
        async def intercept_stream_unary(self, continuation, details, request_iterator):
            seen.append(("su", details))
            return await continuation(details, request_iterator)

    class SS(aio.StreamStreamClientInterceptor):
        async def intercept_stream_stream(self, continuation, details, request_iterator):
            seen.append(("ss", details))
            return await continuation(details, request_iterator)

    async with intercepted(pairing, Service(), [UU(), US(), SU(), SS()]) as channel:
        call = uu(channel, "Echo")(b"a", timeout=5, metadata=(("k", "v"),))
        assert isinstance(call, aio.UnaryUnaryCall)
        assert await call == b"a"
        assert code_name(await call.code()) == "OK"
        responses = channel.unary_stream(f"/{SERVICE}/Split")(b"x,y")
        assert isinstance(responses, aio.UnaryStreamCall)
        assert [m async for m in responses] == [b"x", b"y"]
        joined = channel.stream_unary(f"/{SERVICE}/Join")(iter([b"x", b"y"]))
        assert isinstance(joined, aio.StreamUnaryCall)
        assert await joined == b"x,y"
        both = channel.stream_stream(f"/{SERVICE}/Bidi")(iter([b"1", b"2"]))
        assert isinstance(both, aio.StreamStreamCall)
        assert [m async for m in both] == [b"1", b"2"]

    assert [kind for kind, _ in seen] == ["uu", "us", "su", "ss"]
    details = seen[0][1]
    assert isinstance(details, aio.ClientCallDetails)
    assert details.method == f"/{SERVICE}/Echo".encode()  # bytes, as grpc.aio gives it
    assert details.timeout == 5
    assert isinstance(details.metadata, aio.Metadata)
    assert details.metadata == aio.Metadata(("k", "v"))
    assert details.credentials is None and details.wait_for_ready is None
    for _, other in seen[1:]:  # no metadata given: an empty Metadata, never None
        assert isinstance(other.metadata, aio.Metadata) and len(other.metadata) == 0
        assert other.timeout is None


@ours_only
async def test_interceptor_of_several_kinds_runs_for_each(ours_pairing):
    # grpc.aio files such an interceptor under its first kind only (grpc/grpc#31442); here it
    # intercepts every kind it implements.
    aio = ours_pairing.client.aio
    kinds = []

    class All(aio.UnaryUnaryClientInterceptor, aio.UnaryStreamClientInterceptor,
              aio.StreamUnaryClientInterceptor, aio.StreamStreamClientInterceptor):
        async def intercept_unary_unary(self, continuation, details, request):
            kinds.append("uu")
            return await continuation(details, request)

        async def intercept_unary_stream(self, continuation, details, request):
            kinds.append("us")
            return await continuation(details, request)

        async def intercept_stream_unary(self, continuation, details, request_iterator):
            kinds.append("su")
            return await continuation(details, request_iterator)

        async def intercept_stream_stream(self, continuation, details, request_iterator):
            kinds.append("ss")
            return await continuation(details, request_iterator)

    async with intercepted(ours_pairing, Service(), [All()]) as channel:
        assert await uu(channel, "Echo")(b"a") == b"a"
        assert [m async for m in channel.unary_stream(f"/{SERVICE}/Split")(b"x")] == [b"x"]
        assert await channel.stream_unary(f"/{SERVICE}/Join")(iter([b"x"])) == b"x"
        assert [m async for m in channel.stream_stream(f"/{SERVICE}/Bidi")(iter([b"1"]))] == [b"1"]
    assert kinds == ["uu", "us", "su", "ss"]


async def test_metadata_changed_in_place_reaches_the_server(pairing):
    aio = pairing.client.aio
    got = []

    class AddInPlace(aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, details, request):
            got.append(details.metadata)
            details.metadata.add("x-added", "1")
            return await continuation(details, request)

    service = Service()
    caller_md = aio.Metadata(("x-caller", "c"))
    async with intercepted(pairing, service, [AddInPlace()]) as channel:
        assert await uu(channel, "Echo")(b"a", metadata=caller_md) == b"a"
        assert await uu(channel, "Echo")(b"b") == b"b"
    assert got[0] is caller_md  # the caller's own Metadata object, as in grpc.aio
    assert md_values(service.seen[0], "x-caller") == ["c"]
    assert md_values(service.seen[0], "x-added") == ["1"]
    assert md_values(service.seen[1], "x-added") == ["1"]


async def test_method_and_metadata_rewritten(pairing):
    aio = pairing.client.aio

    class Rewrite(aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, details, request):
            new_details = aio.ClientCallDetails(
                method=f"/{SERVICE}/Echo".encode(),
                timeout=details.timeout,
                metadata=aio.Metadata(*details.metadata, ("x-rewritten", "yes")),
                credentials=details.credentials,
                wait_for_ready=details.wait_for_ready,
            )
            return await continuation(new_details, request)

    service = Service()
    async with intercepted(pairing, service, [Rewrite()]) as channel:
        call = uu(channel, "NoSuchMethod")(b"r", metadata=(("x-caller", "c"),))
        assert await call == b"r"
    assert md_values(service.seen[0], "x-rewritten") == ["yes"]
    assert md_values(service.seen[0], "x-caller") == ["c"]


async def test_timeout_set_by_interceptor(pairing):
    aio = pairing.client.aio

    class Short(aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, details, request):
            return await continuation(details._replace(timeout=0.2), request)

    service = Service()
    async with intercepted(pairing, service, [Short()]) as channel:
        call = uu(channel, "Park")(b"")
        await rpc_error(pairing, call, "DEADLINE_EXCEEDED")
        assert call.done() and not call.cancelled()
        assert code_name(await call.code()) == "DEADLINE_EXCEEDED"


async def test_wait_for_ready_set_by_interceptor(pairing):
    aio = pairing.client.aio

    class Ready(aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, details, request):
            return await continuation(details._replace(wait_for_ready=True), request)

    with free_port_refusing() as sock:
        target = f"127.0.0.1:{sock.getsockname()[1]}"
        # Fails fast without it; with it the call waits for the (refused) server until its
        # deadline.
        async with pairing.connect(target) as channel:
            await rpc_error(pairing, uu(channel, "Echo")(b"", timeout=5), "UNAVAILABLE")
        async with pairing.connect(target, interceptors=[Ready()]) as channel:
            await rpc_error(pairing, uu(channel, "Echo")(b"", timeout=0.5), "DEADLINE_EXCEEDED")


async def test_interceptors_run_in_order(pairing):
    aio = pairing.client.aio
    log = []

    class Step(aio.UnaryUnaryClientInterceptor):
        def __init__(self, name):
            self.name = name

        async def intercept_unary_unary(self, continuation, details, request):
            log.append(f"enter {self.name}")
            details = details._replace(
                metadata=aio.Metadata(*details.metadata, ("x-path", self.name)))
            call = await continuation(details, request)
            log.append(f"exit {self.name}")
            return call

    service = Service()
    async with intercepted(pairing, service, [Step("a"), Step("b"), Step("c")]) as channel:
        assert await uu(channel, "Echo")(b"x") == b"x"
    assert log == ["enter a", "enter b", "enter c", "exit c", "exit b", "exit a"]
    assert md_values(service.seen[0], "x-path") == ["a", "b", "c"]


class Retry:
    """Builds a unary-unary interceptor retrying UNAVAILABLE up to `attempts` times."""

    def __new__(cls, aio, attempts):
        class RetryInterceptor(aio.UnaryUnaryClientInterceptor):
            def __init__(self):
                self.calls = []

            async def intercept_unary_unary(self, continuation, details, request):
                for _ in range(attempts):
                    call = await continuation(details, request)
                    self.calls.append(call)
                    try:
                        await call
                    except grpc.RpcError:
                        if code_name(await call.code()) != "UNAVAILABLE":
                            break
                    else:
                        break
                return call

        return RetryInterceptor()


async def test_retry_calls_the_continuation_again(pairing):
    aio = pairing.client.aio
    retry, inner = Retry(aio, attempts=3), []
    service = Service(failures=1)
    async with intercepted(pairing, service, [retry, passing(aio, inner)]) as channel:
        call = uu(channel, "Flaky")(b"again", timeout=5)
        assert await call == b"again"
        assert code_name(await call.code()) == "OK"
    assert len(retry.calls) == 2 and len(inner) == 2 and len(service.seen) == 2
    assert code_name(await retry.calls[0].code()) == "UNAVAILABLE"
    assert code_name(await retry.calls[1].code()) == "OK"


async def test_retry_gives_up_with_the_last_attempts_status(pairing):
    aio = pairing.client.aio
    retry = Retry(aio, attempts=2)
    service = Service(failures=5)
    async with intercepted(pairing, service, [retry]) as channel:
        call = uu(channel, "Flaky")(b"", timeout=5)
        err = await rpc_error(pairing, call, "UNAVAILABLE")
        assert err.details() == "try again"
        assert code_name(await call.code()) == "UNAVAILABLE"
    assert len(service.seen) == 2


async def test_response_returned_instead_of_a_call(pairing):
    aio = pairing.client.aio
    outer_saw = []

    class Cached(aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, details, request):
            return b"cached"

    class Outer(aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, details, request):
            call = await continuation(details, request)  # a finished call standing for it
            outer_saw.append(await call)
            return call

    service = Service()
    async with intercepted(pairing, service, [Outer(), Cached()]) as channel:
        call = uu(channel, "Echo")(b"x")
        assert await call == b"cached"
        assert call.done() and not call.cancelled() and not call.cancel()
        assert code_name(await call.code()) == "OK"
        assert await call.details() == ""
        assert await call.initial_metadata() is None
        assert await call.trailing_metadata() is None
        assert await call.debug_error_string() is None
        done = []
        call.add_done_callback(done.append)
        assert done == [call]
    assert outer_saw == [b"cached"]
    assert service.seen == []  # no RPC was made


async def test_interceptor_runs_in_its_own_task_and_context(pairing):
    # grpc.aio runs the interceptors in a Task of their own: they see the caller's context
    # variables, what they set stays theirs, and a timeout they set cancels only their work.
    aio = pairing.client.aio
    var = contextvars.ContextVar("var", default="unset")
    seen = {}
    timeout = getattr(asyncio, "timeout", None)  # 3.11+

    class Timed(aio.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, details, request):
            seen["var"] = var.get()
            var.set("interceptor")
            seen["task"] = asyncio.current_task()
            if timeout is not None:  # entered before the interceptor first waits
                with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                    async with timeout(0.05):
                        await asyncio.sleep(5)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.sleep(5), 0.05)
            seen["task after waiting"] = asyncio.current_task()
            return await continuation(details, request)

    var.set("caller")
    me = asyncio.current_task()
    async with intercepted(pairing, Service(), [Timed()]) as channel:
        assert await uu(channel, "Echo")(b"x") == b"x"
        assert var.get() == "caller"
    assert seen["var"] == "caller"
    assert seen["task"] is not None and seen["task"] is not me
    assert seen["task after waiting"] is not None and seen["task after waiting"] is not me
    if hasattr(me, "cancelling"):
        assert me.cancelling() == 0
