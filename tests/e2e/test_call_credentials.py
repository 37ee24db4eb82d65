"""Call credentials: access tokens, metadata plugins (their context, errors, a plugin that blocks
or never answers), composite call and channel credentials, per-call `credentials=` on every
shape, call credentials over local credentials, and their refusal on an insecure channel.
The server echoes what it received; behaviour and texts are grpc.aio's."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from e2e.helpers import LoopStallMeter, md_values, rpc_error
from e2e.tls_helpers import FAIL_TIMEOUT, channel_credentials, echo_handlers, tls_env

PLUGIN_MD = (("x-custom", "v1"), ("authorization", "Custom abc"), ("x-token-bin", b"\x00\x01\xff"))
PLUGIN_FAILED = "Getting metadata from plugin failed with error: "
INSECURE_REFUSED = "Call credentials are only valid on secure channels"


def plugin(lib, behaviour):
    """An AuthMetadataPlugin of `lib` that records (service_url, method_name, thread) of each
    call and then runs behaviour(context, callback)."""

    class Plugin(lib.AuthMetadataPlugin):
        def __init__(self):
            self.calls = []

        def __call__(self, context, callback):
            self.calls.append((context.service_url, context.method_name, threading.get_ident()))
            behaviour(context, callback)

    return Plugin()


def gives(metadata):
    return lambda context, callback: callback(metadata, None)


def token(lib, value: str):
    return lib.access_token_call_credentials(value)


async def test_access_token(pairing, pki):
    seen = []
    async with tls_env(pairing, pki, echo_handlers(seen)) as env:
        creds = token(pairing.client.lib, "tok-1")
        assert await env.uu("Echo")(b"a", credentials=creds, timeout=FAIL_TIMEOUT) == b"a"
        assert await env.uu("Echo")(b"b", timeout=FAIL_TIMEOUT) == b"b"
    assert md_values(seen[0].metadata, "authorization") == ["Bearer tok-1"]
    assert md_values(seen[1].metadata, "authorization") == []


async def test_metadata_plugin(pairing, pki):
    seen = []
    lib = pairing.client.lib
    p = plugin(lib, gives(PLUGIN_MD))
    async with tls_env(pairing, pki, echo_handlers(seen)) as env:
        creds = lib.metadata_call_credentials(p, name="test-plugin")
        call = env.uu("Echo")(b"a", credentials=creds, metadata=(("x-user", "u"),),
                              timeout=FAIL_TIMEOUT)
        assert await call == b"a"
        assert await env.uu("Echo")(b"b", credentials=creds, timeout=FAIL_TIMEOUT) == b"b"
    for pair in (*PLUGIN_MD, ("x-user", "u")):
        assert pair in seen[0].metadata, (pair, seen[0].metadata)
    assert md_values(seen[1].metadata, "x-custom") == ["v1"]
    # asked once per call, with the dialled authority and the service; not on the loop's thread
    assert [c[:2] for c in p.calls] == [(f"https://{env.target}/test.Svc", "Echo")] * 2
    assert threading.get_ident() not in {c[2] for c in p.calls}


async def test_per_call_credentials_on_every_shape(pairing, pki):
    seen = []
    lib = pairing.client.lib
    async with tls_env(pairing, pki, echo_handlers(seen)) as env:
        assert await env.uu("Echo")(b"x", credentials=token(lib, "uu"),
                                    timeout=FAIL_TIMEOUT) == b"x"
        assert [m async for m in env.us("Split")(b"x,y", credentials=token(lib, "us"),
                                                  timeout=FAIL_TIMEOUT)] == [b"x", b"y"]
        assert await env.su("Join")(iter([b"x", b"y"]), credentials=token(lib, "su"),
                                    timeout=FAIL_TIMEOUT) == b"x,y"
        assert [m async for m in env.ss("Bidi")(iter([b"x"]), credentials=token(lib, "ss"),
                                                timeout=FAIL_TIMEOUT)] == [b"x"]
    assert [md_values(s.metadata, "authorization") for s in seen] == [
        ["Bearer uu"], ["Bearer us"], ["Bearer su"], ["Bearer ss"]]


async def test_composite_call_credentials(pairing, pki):
    seen = []
    lib = pairing.client.lib
    creds = lib.composite_call_credentials(
        token(lib, "t1"), lib.metadata_call_credentials(plugin(lib, gives(PLUGIN_MD))))
    async with tls_env(pairing, pki, echo_handlers(seen)) as env:
        assert await env.uu("Echo")(b"", credentials=creds, timeout=FAIL_TIMEOUT) == b""
    assert md_values(seen[0].metadata, "authorization") == ["Bearer t1", "Custom abc"]
    assert md_values(seen[0].metadata, "x-custom") == ["v1"]


async def test_composite_channel_credentials(pairing, pki):
    """Channel call credentials go on every call; per-call ones are added after them."""
    seen = []
    lib = pairing.client.lib
    channel_creds = lib.composite_channel_credentials(
        channel_credentials(pairing.client, pki.ca1), token(lib, "chan"))
    async with pairing.serve(echo_handlers(seen), server_credentials=pairing.server.lib
                             .ssl_server_credentials([pki.server.pair])) as srv:
        async with pairing.connect(srv.target, channel_credentials=channel_creds) as channel:
            echo = channel.unary_unary("/test.Svc/Echo")
            assert await echo(b"", timeout=FAIL_TIMEOUT) == b""
            assert await echo(b"", credentials=token(lib, "call"), timeout=FAIL_TIMEOUT) == b""
    assert md_values(seen[0].metadata, "authorization") == ["Bearer chan"]
    assert md_values(seen[1].metadata, "authorization") == ["Bearer chan", "Bearer call"]


async def test_plugin_reports_error(pairing, pki):
    seen = []
    lib = pairing.client.lib
    creds = lib.metadata_call_credentials(
        plugin(lib, lambda context, callback: callback(None, ValueError("plugin says no"))))
    async with tls_env(pairing, pki, echo_handlers(seen)) as env:
        err = await rpc_error(pairing, env.uu("Echo")(b"", credentials=creds,
                                                      timeout=FAIL_TIMEOUT), "UNAVAILABLE")
        assert err.details() == PLUGIN_FAILED + "plugin says no"
        assert seen == [], "the call reached the server"
        assert await env.uu("Echo")(b"ok", timeout=FAIL_TIMEOUT) == b"ok"


def _raise(context, callback):
    raise RuntimeError("plugin blew up")


@pytest.mark.allow_error_logs(r"(?i)plugin")
async def test_plugin_raises(pairing, pki):
    seen = []
    lib = pairing.client.lib
    creds = lib.metadata_call_credentials(plugin(lib, _raise))
    async with tls_env(pairing, pki, echo_handlers(seen)) as env:
        for shape_call in (lambda: env.uu("Echo")(b"", credentials=creds, timeout=FAIL_TIMEOUT),
                           lambda: env.ss("Bidi")(iter([b""]), credentials=creds,
                                                  timeout=FAIL_TIMEOUT).read()):
            err = await rpc_error(pairing, shape_call(), "UNAVAILABLE")
            assert err.details() == PLUGIN_FAILED + "plugin blew up"
        assert seen == []


async def test_blocking_plugin_does_not_block_the_loop(pairing, pki):
    """A plugin that sleeps 0.5 s delays its own call only: the loop keeps ticking and a call
    without credentials on the same channel completes meanwhile."""
    lib = pairing.client.lib

    def slow(context, callback):
        time.sleep(0.5)
        callback((("x-slow", "1"),), None)

    seen = []
    creds = lib.metadata_call_credentials(plugin(lib, slow))
    async with tls_env(pairing, pki, echo_handlers(seen)) as env:
        assert await env.uu("Echo")(b"warm", timeout=FAIL_TIMEOUT) == b"warm"
        async with LoopStallMeter() as meter:
            started = time.monotonic()
            slow_call = asyncio.ensure_future(env.uu("Echo")(b"slow", credentials=creds,
                                                             timeout=FAIL_TIMEOUT))
            await asyncio.sleep(0.05)
            assert await env.uu("Echo")(b"fast", timeout=FAIL_TIMEOUT) == b"fast"
            assert not slow_call.done(), "the call with the slow plugin ended early"
            fast_done = time.monotonic() - started
            assert await asyncio.wait_for(slow_call, FAIL_TIMEOUT) == b"slow"
            slow_done = time.monotonic() - started
        assert fast_done < 0.4, f"the plain call waited for the plugin ({fast_done:.2f} s)"
        assert slow_done >= 0.45
        assert meter.max_gap < 0.25, f"the loop stalled {meter.max_gap:.2f} s"
    assert md_values(seen[-1].metadata, "x-slow") == ["1"]


async def test_plugin_that_never_answers_meets_the_deadline(pairing, pki):
    lib = pairing.client.lib
    creds = lib.metadata_call_credentials(plugin(lib, lambda context, callback: None))
    async with tls_env(pairing, pki, echo_handlers()) as env:
        started = time.monotonic()
        await rpc_error(pairing, env.uu("Echo")(b"", credentials=creds, timeout=0.5),
                        "DEADLINE_EXCEEDED")
        assert time.monotonic() - started < 2.0
        assert await env.uu("Echo")(b"ok", timeout=FAIL_TIMEOUT) == b"ok"


async def test_call_credentials_over_local_credentials(pairing):
    """Local credentials count as secure: call credentials travel over them."""
    seen = []
    lib_s, lib_c = pairing.server.lib, pairing.client.lib
    channel_creds = lib_c.composite_channel_credentials(
        lib_c.local_channel_credentials(lib_c.LocalConnectionType.LOCAL_TCP), token(lib_c, "chan"))
    async with pairing.env(
            echo_handlers(seen),
            server_credentials=lib_s.local_server_credentials(lib_s.LocalConnectionType.LOCAL_TCP),
            channel_credentials=channel_creds) as env:
        assert await env.uu("Echo")(b"", credentials=token(lib_c, "call"),
                                    timeout=FAIL_TIMEOUT) == b""
    assert md_values(seen[0].metadata, "authorization") == ["Bearer chan", "Bearer call"]


async def test_call_credentials_refused_on_insecure_channel(pairing):
    """grpc.aio raises UsageError when the call is made (not when awaited), on every shape."""
    seen = []
    creds = token(pairing.client.lib, "tok")
    UsageError = pairing.client.aio.UsageError
    async with pairing.env(echo_handlers(seen)) as env:
        with pytest.raises(UsageError, match=f"^{INSECURE_REFUSED}$"):
            env.uu("Echo")(b"", credentials=creds, timeout=FAIL_TIMEOUT)
        with pytest.raises(UsageError, match=f"^{INSECURE_REFUSED}$"):
            env.us("Split")(b"", credentials=creds, timeout=FAIL_TIMEOUT)
        with pytest.raises(UsageError, match=f"^{INSECURE_REFUSED}$"):
            env.su("Join")(iter([b""]), credentials=creds, timeout=FAIL_TIMEOUT)
        with pytest.raises(UsageError, match=f"^{INSECURE_REFUSED}$"):
            env.ss("Bidi")(credentials=creds, timeout=FAIL_TIMEOUT)
        # the channel is fine, and nothing reached the server
        assert await env.uu("Echo")(b"ok", timeout=FAIL_TIMEOUT) == b"ok"
    assert len(seen) == 1
