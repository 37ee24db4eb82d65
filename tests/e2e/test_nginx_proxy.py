"""Behind a real reverse proxy: nginx (Debian's package, `grpc_pass`, started per test on
127.0.0.1 by nginx_proxy.py) round-robins over two of our servers (turbogrpc.aio, each tagging its
responses and metadata with its name "A"/"B"). Through it, with our asyncio client, grpc.aio's
client (which validates each test), and our blocking client (with grpcio's as its reference,
test_nginx_proxy_blocking.py):
all four shapes with metadata both ways and error statuses, calls spread over both backends,
deadlines, cancellation (the backend's handler is cancelled) and 1 MiB messages.

What nginx 1.22 does that the tests rely on (measured; see docs/deployment.md): it forwards
grpc-timeout, so the backend sees the client's deadline; it runs each call on an upstream
connection of its own (no upstream multiplexing); when the client resets a stream (cancel, an
expired deadline) or drops its connection, nginx closes that upstream TCP connection (no
RST_STREAM), and the backend ends the call as cancelled; it adds `server` and `date` to the
response headers, so they show in the initial metadata.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time

import grpc
import pytest

from e2e.helpers import (
    GRPC_ONLY, SERVICE, UNICODE_DETAILS, MiB, Pairing, code_name, eventually, free_port_refusing,
    md_pairs, rpc_error, wait_for_event,
)
from e2e.nginx_proxy import NginxProxy

# Client stack - server stack. Our servers behind the proxy; in grpc-only mode grpc.aio's.
PROXIED = ["grpc-grpc"] if GRPC_ONLY else ["ours-ours", "grpc-ours"]
BACKENDS = ("A", "B")
REQUEST_MD = (("x-req", "r1"), ("x-bin-bin", b"\x00\x01\xfe\xff"))
INIT_BIN = b"\x00\xffinit"
TRAIL_BIN = b"\x01\x02\x00trail"
DETAILS = "no such thing: " + UNICODE_DETAILS  # percent-encoded on the wire, through nginx
DEADLINE = 0.3
TIMEOUT_ROUNDING = 0.02  # grpc-core rounds grpc-timeout up (0.3 s arrives as ~0.301 s)
SLEEP = 2.0


@pytest.fixture(params=PROXIED)
def proxied(request) -> Pairing:
    return Pairing(request.param)


class Backends:
    """The handlers of both backends (each built with its name) and what they observed. One
    cancellation/deadline scenario per test, on whichever backend nginx picked."""

    def __init__(self, pairing: Pairing):
        self.server_is_ours = pairing.server.is_ours
        self.codes = pairing.server.StatusCode
        self.served = collections.Counter()  # backend name -> calls
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()  # CancelledError raised into the handler
        self.finally_ran = asyncio.Event()
        self.done_callback = asyncio.Event()
        self.contexts = []
        self.sent = 0
        self.start_time = 0.0
        self.cancelled_at = 0.0
        self.time_remaining = None  # the deadline the backend saw (grpc-timeout via nginx)

    # -- the four shapes, tagged with the backend's name -----------------------------------------

    async def _tag(self, name, context, initial=True):
        self.served[name] += 1
        if initial:
            md = dict(md_pairs(context.invocation_metadata()))
            await context.send_initial_metadata((
                ("backend", name), ("echo-req", md.get("x-req", "?")),
                ("echo-bin-bin", md.get("x-bin-bin", b"?")), ("init-bin", INIT_BIN)))
        context.set_trailing_metadata((("trail", name), ("trail-bin", TRAIL_BIN)))

    def handlers(self, name: str):
        tag = name.encode()

        async def echo(request, context):
            await self._tag(name, context)
            return tag + b":" + request

        async def gen(request, context):
            await self._tag(name, context)
            for i in range(int(request)):
                yield b"%s:%d" % (tag, i)

        async def collect(request_iterator, context):
            await self._tag(name, context)
            return tag + b":" + b"|".join([m async for m in request_iterator])

        async def bidi(request_iterator, context):
            await self._tag(name, context)
            async for message in request_iterator:
                yield tag + b":" + message.upper()

        async def big_gen(request, context):
            await self._tag(name, context, initial=False)
            for i in range(int(request)):
                yield bytes([65 + i]) * MiB

        async def big_collect(request_iterator, context):
            await self._tag(name, context, initial=False)
            sizes = [b"%d%s" % (len(m), m[:1]) async for m in request_iterator]
            return tag + b":" + b",".join(sizes)

        async def fail(request, context):  # a trailers-only response
            self.served[name] += 1
            context.set_trailing_metadata((("why", name),))
            await context.abort(self.codes.NOT_FOUND, DETAILS)

        async def fail_mid_stream(request, context):
            await self._tag(name, context)
            yield tag + b":0"
            yield tag + b":1"
            await context.abort(self.codes.NOT_FOUND, DETAILS)

        async def sleep(request, context):
            self.served[name] += 1
            return await self._watched(context, asyncio.sleep(SLEEP), b"late")

        async def slow_gen(request, context):
            self.served[name] += 1
            for i in range(100):
                yield b"%s:%d" % (tag, i)
                await asyncio.sleep(0.1)

        async def endless(request, context):
            self.served[name] += 1
            self._enter(context)
            try:
                while True:
                    yield b"%s:tick %d" % (tag, self.sent)
                    self.sent += 1
                    await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                self._cancelled()
                raise
            finally:
                self.finally_ran.set()

        async def bidi_echo(request_iterator, context):
            self.served[name] += 1
            self._enter(context)
            try:
                async for message in request_iterator:
                    await context.write(tag + b":" + message)
            except asyncio.CancelledError:
                self._cancelled()
                raise
            finally:
                self.finally_ran.set()

        return {
            "Echo": grpc.unary_unary_rpc_method_handler(echo),
            "Gen": grpc.unary_stream_rpc_method_handler(gen),
            "Collect": grpc.stream_unary_rpc_method_handler(collect),
            "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
            "BigGen": grpc.unary_stream_rpc_method_handler(big_gen),
            "BigCollect": grpc.stream_unary_rpc_method_handler(big_collect),
            "Fail": grpc.unary_unary_rpc_method_handler(fail),
            "FailMidStream": grpc.unary_stream_rpc_method_handler(fail_mid_stream),
            "Sleep": grpc.unary_unary_rpc_method_handler(sleep),
            "SlowGen": grpc.unary_stream_rpc_method_handler(slow_gen),
            "Endless": grpc.unary_stream_rpc_method_handler(endless),
            "BidiEcho": grpc.stream_stream_rpc_method_handler(bidi_echo),
        }

    # -- what a cancelled or expired handler observed --------------------------------------------

    def _enter(self, context):
        self.contexts.append(context)
        self.start_time = time.monotonic()
        self.time_remaining = context.time_remaining()
        if self.server_is_ours:  # grpc.aio's servicer context has no add_done_callback
            context.add_done_callback(lambda _ctx: self.done_callback.set())
        self.started.set()

    def _cancelled(self):
        self.cancelled_at = time.monotonic()
        self.cancelled.set()

    async def _watched(self, context, awaitable, result):
        self._enter(context)
        try:
            await awaitable
        except asyncio.CancelledError:
            self._cancelled()
            raise
        finally:
            self.finally_ran.set()
        return result

    async def assert_handler_cancelled(self, within: float = 2.0,
                                       grpc_may_end_quietly: bool = False):
        """The backend learned that the call ended: CancelledError raised into its handler (and,
        on our server, context.cancelled() and the done callback), within `within` s. grpc.aio's
        server (grpc-only mode) ends a handler blocked in the request iterator without it."""
        await wait_for_event(self.finally_ran, within, "the backend handler's finally block")
        if self.server_is_ours or not grpc_may_end_quietly:
            await wait_for_event(self.cancelled, 0.5, "CancelledError in the backend handler")
        if self.server_is_ours:
            await wait_for_event(self.done_callback, 1, "the backend context's done callback")
            await eventually(self.contexts[0].cancelled, 1, "context.cancelled() on the backend")
            assert not self.contexts[0].is_active()


@contextlib.asynccontextmanager
async def behind_nginx(pairing: Pairing, tmp_path, backends: Backends | None = None):
    """Both backends of `pairing.server`'s stack, nginx in front: yields (proxy, backends)."""
    backends = backends or Backends(pairing)
    async with pairing.serve(backends.handlers("A")) as a, \
            pairing.serve(backends.handlers("B")) as b:
        proxy = NginxProxy(tmp_path, [a.port, b.port])
        await asyncio.to_thread(proxy.start)  # blocking waits run off the loop
        try:
            yield proxy, backends
        except BaseException:
            print("nginx's log:\n" + proxy.log())  # shown with the failure
            raise
        finally:
            await asyncio.to_thread(proxy.stop)


def tagged(response: bytes) -> tuple[str, bytes]:
    """(backend name, rest) of a tagged response "A:rest"."""
    name, _, rest = response.partition(b":")
    assert name.decode() in BACKENDS, response[:40]
    return name.decode(), rest


def check_initial(initial, name: str):
    pairs = md_pairs(initial)
    assert ("backend", name) in pairs, pairs
    assert ("echo-req", "r1") in pairs, pairs
    assert ("echo-bin-bin", b"\x00\x01\xfe\xff") in pairs, pairs
    assert ("init-bin", INIT_BIN) in pairs, pairs
    # nginx adds these response headers: proof the call really went through the proxy
    assert any(k == "server" and v.startswith("nginx") for k, v in pairs), pairs


def check_trailing(trailing, name: str):
    pairs = md_pairs(trailing)
    assert ("trail", name) in pairs and ("trail-bin", TRAIL_BIN) in pairs, pairs


def m(method: str) -> str:
    return f"/{SERVICE}/{method}"


# ---- asyncio clients: ours and grpc.aio's -----------------------------------------------------

async def test_four_shapes_metadata_and_errors(proxied, tmp_path):
    async with behind_nginx(proxied, tmp_path) as (proxy, _):
        async with proxied.connect(proxy.target) as channel:
            call = channel.unary_unary(m("Echo"))(b"hi", metadata=REQUEST_MD, timeout=5)
            name, rest = tagged(await call)
            assert rest == b"hi"
            check_initial(await call.initial_metadata(), name)
            check_trailing(await call.trailing_metadata(), name)
            assert code_name(await call.code()) == "OK"

            call = channel.unary_stream(m("Gen"))(b"3", metadata=REQUEST_MD, timeout=5)
            messages = [message async for message in call]
            name, _ = tagged(messages[0])
            assert messages == [b"%s:%d" % (name.encode(), i) for i in range(3)]
            check_initial(await call.initial_metadata(), name)
            check_trailing(await call.trailing_metadata(), name)

            call = channel.stream_unary(m("Collect"))(iter([b"a", b"b", b"c"]),
                                                      metadata=REQUEST_MD, timeout=5)
            name, rest = tagged(await call)
            assert rest == b"a|b|c"
            check_initial(await call.initial_metadata(), name)
            check_trailing(await call.trailing_metadata(), name)

            # ping-pong: each response arrives before the next request is sent (nginx streams
            # the request body to the backend unbuffered)
            call = channel.stream_stream(m("Bidi"))(metadata=REQUEST_MD, timeout=5)
            replies = []
            for word in (b"x", b"y", b"z"):
                await call.write(word)
                replies.append(await call.read())
            await call.done_writing()
            assert await call.read() is proxied.client.EOF
            name, _ = tagged(replies[0])
            assert replies == [name.encode() + b":" + w for w in (b"X", b"Y", b"Z")]
            check_initial(await call.initial_metadata(), name)
            check_trailing(await call.trailing_metadata(), name)
            assert code_name(await call.code()) == "OK"

            # errors: trailers-only, and after messages
            err = await rpc_error(proxied, channel.unary_unary(m("Fail"))(b"it", timeout=5),
                                  "NOT_FOUND")
            assert err.details() == DETAILS
            assert [v for k, v in md_pairs(err.trailing_metadata()) if k == "why"] in (
                ["A"], ["B"]), md_pairs(err.trailing_metadata())
            call = channel.unary_stream(m("FailMidStream"))(b"", metadata=REQUEST_MD, timeout=5)
            first, second = await call.read(), await call.read()
            name, _ = tagged(first)
            assert second == name.encode() + b":1"
            err = await rpc_error(proxied, call.read(), "NOT_FOUND")
            assert err.details() == DETAILS
            check_trailing(err.trailing_metadata(), name)


async def test_calls_spread_over_both_backends(proxied, tmp_path):
    async with behind_nginx(proxied, tmp_path) as (proxy, backends):
        async with proxied.connect(proxy.target) as channel:
            names = collections.Counter()
            for i in range(10):
                names[tagged(await channel.unary_unary(m("Echo"))(b"%d" % i, timeout=5))[0]] += 1
            for _ in range(4):
                messages = [x async for x in channel.unary_stream(m("Gen"))(b"1", timeout=5)]
                names[tagged(messages[0])[0]] += 1
                names[tagged(await channel.stream_unary(m("Collect"))(iter([b"q"]),
                                                                      timeout=5))[0]] += 1
            # nginx's round robin alternates the upstreams call by call
            assert names["A"] >= 6 and names["B"] >= 6, names
            assert names == backends.served, (names, backends.served)


async def test_deadline_through_the_proxy(proxied, tmp_path):
    async with behind_nginx(proxied, tmp_path) as (proxy, backends):
        async with proxied.connect(proxy.target) as channel:
            started = time.monotonic()
            await rpc_error(proxied, channel.unary_unary(m("Sleep"))(b"", timeout=DEADLINE),
                            "DEADLINE_EXCEEDED")
            elapsed = time.monotonic() - started
            assert DEADLINE * 0.8 <= elapsed < DEADLINE + 0.7, elapsed
            # nginx forwards grpc-timeout: the backend saw (nearly) the client's deadline...
            remaining = backends.time_remaining
            assert 0 < remaining <= DEADLINE + TIMEOUT_ROUNDING, remaining
            # ...and its handler was cancelled at about that time, long before its 2 s sleep
            await backends.assert_handler_cancelled(within=SLEEP / 2)
            assert backends.cancelled_at - backends.start_time < DEADLINE + 0.7

            # a response stream cut by its deadline after some messages
            call = channel.unary_stream(m("SlowGen"))(b"", timeout=0.35)
            got = []
            with pytest.raises(proxied.client.AioRpcError) as info:
                async for message in call:
                    got.append(message)
            assert code_name(info.value.code()) == "DEADLINE_EXCEEDED", info.value
            assert 2 <= len(got) <= 5, got
            assert tagged(await channel.unary_unary(m("Echo"))(b"ok", timeout=5))[1] == b"ok"


async def test_cancelling_a_server_stream_cancels_the_backend(proxied, tmp_path):
    async with behind_nginx(proxied, tmp_path) as (proxy, backends):
        async with proxied.connect(proxy.target) as channel:
            call = channel.unary_stream(m("Endless"))(b"", timeout=10)
            for _ in range(3):
                tagged(await call.read())
            assert call.cancel() is True
            assert code_name(await call.code()) == "CANCELLED"
            # nginx closes the upstream connection of a call its client reset (measured: no
            # RST_STREAM upstream); the backend ends the call as cancelled
            await backends.assert_handler_cancelled()
            assert backends.cancelled_at - backends.start_time < 2.0
            sent = backends.sent
            await asyncio.sleep(0.1)
            assert backends.sent == sent, "the backend kept producing after the cancel"
            assert tagged(await channel.unary_unary(m("Echo"))(b"ok", timeout=5))[1] == b"ok"


async def test_cancelling_a_bidi_stream_cancels_the_backend(proxied, tmp_path):
    async with behind_nginx(proxied, tmp_path) as (proxy, backends):
        async with proxied.connect(proxy.target) as channel:
            call = channel.stream_stream(m("BidiEcho"))(timeout=10)
            await call.write(b"one")
            tagged(await call.read())
            assert call.cancel() is True
            assert code_name(await call.code()) == "CANCELLED"
            await backends.assert_handler_cancelled(grpc_may_end_quietly=True)


async def test_closing_the_channel_cancels_the_backend(proxied, tmp_path):
    async with behind_nginx(proxied, tmp_path) as (proxy, backends):
        async with proxied.connect(proxy.target) as channel:
            call = channel.unary_stream(m("Endless"))(b"", timeout=10)
            tagged(await call.read())
            await channel.close()
            assert code_name(await call.code()) == "CANCELLED"
            await backends.assert_handler_cancelled()


async def test_one_mebibyte_messages_each_way(proxied, tmp_path):
    big = bytes(range(256)) * (MiB // 256)
    async with behind_nginx(proxied, tmp_path) as (proxy, _):
        async with proxied.connect(proxy.target) as channel:
            _, rest = tagged(await channel.unary_unary(m("Echo"))(big, timeout=10))
            assert rest == big
            messages = [x async for x in channel.unary_stream(m("BigGen"))(b"3", timeout=10)]
            assert messages == [bytes([65 + i]) * MiB for i in range(3)]
            requests = [bytes([97 + i]) * MiB for i in range(3)]
            _, rest = tagged(await channel.stream_unary(m("BigCollect"))(iter(requests),
                                                                         timeout=10))
            assert rest == b"1048576a,1048576b,1048576c"
            call = channel.stream_stream(m("Bidi"))(timeout=10)
            for request in requests[:2]:
                await call.write(request)
                _, rest = tagged(await call.read())
                assert rest == request.upper()
            await call.done_writing()
            assert code_name(await call.code()) == "OK"


@pytest.mark.parametrize("client_stack", ["ours", "grpc"] if not GRPC_ONLY else ["grpc"])
async def test_no_backend_up_is_unavailable(client_stack, tmp_path):
    pairing = Pairing(f"{client_stack}-{client_stack}")
    refusing = [free_port_refusing(), free_port_refusing()]
    proxy = NginxProxy(tmp_path, [s.getsockname()[1] for s in refusing])
    await asyncio.to_thread(proxy.start)
    try:
        async with pairing.connect(proxy.target) as channel:
            err = await rpc_error(pairing, channel.unary_unary(m("Echo"))(b"x", timeout=5),
                                  "UNAVAILABLE")
            assert "502" in err.details(), err.details()
    finally:
        await asyncio.to_thread(proxy.stop)
        for sock in refusing:
            sock.close()


@pytest.mark.parametrize("client_stack,http_status", [
    ("ours", 204), ("ours", 200), ("grpc", 204), ("grpc", 200),
] if not GRPC_ONLY else [("grpc", 204), ("grpc", 200)])
async def test_error_page_answering_with_grpc_status(client_stack, http_status, tmp_path):
    # The deployment fix for nginx's HTML error pages: error_page 502 503 504 answered with
    # grpc-status 14 (UNAVAILABLE) and the details given, in a trailers-only response.
    pairing = Pairing(f"{client_stack}-{client_stack}")
    refusing = [free_port_refusing(), free_port_refusing()]
    proxy = NginxProxy(tmp_path, [s.getsockname()[1] for s in refusing],
                       unavailable_status=http_status)
    await asyncio.to_thread(proxy.start)
    try:
        async with pairing.connect(proxy.target) as channel:
            err = await rpc_error(pairing, channel.unary_unary(m("Echo"))(b"x", timeout=5),
                                  "UNAVAILABLE")
            assert err.details() == "upstream unavailable"
            call = channel.unary_stream(m("Gen"))(b"1", timeout=5)
            err = await rpc_error(pairing, call.read(), "UNAVAILABLE")
            assert err.details() == "upstream unavailable"
    finally:
        await asyncio.to_thread(proxy.stop)
        for sock in refusing:
            sock.close()
