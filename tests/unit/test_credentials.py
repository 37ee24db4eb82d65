"""Credentials (python/turbogrpc/_core/_credentials.py, _call_credentials.py): construction errors as
grpcio's (both run with the same arguments), the data channels and servers read, and the
call-credentials runtime: plugins off the loop thread, their failures, cancellation, timeouts."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import subprocess
import sys
import threading
import time

import grpc
import grpc._auth
import grpc.experimental
import pytest

import turbogrpc
from turbogrpc._core import _credentials as creds
from turbogrpc._core._credentials import CallCredentialsError, call_credentials_metadata

PAIR = (b"key-pem", b"chain-pem")


def plugin_giving(*metadata):
    def plugin(context, callback):
        callback(metadata, None)
    return plugin


def outcome(make):
    try:
        make()
    except Exception as exc:  # noqa: BLE001 - compared between grpcio and us
        return type(exc), str(exc)
    return None, None


# Each runs on grpcio and on us (`m` is the module); exact: the message is grpcio's too.
REJECTED = {
    "channel roots str": (True, lambda m: m.ssl_channel_credentials("pem")),
    "channel roots bytearray": (True, lambda m: m.ssl_channel_credentials(bytearray(b"p"))),
    "server no pairs": (True, lambda m: m.ssl_server_credentials([])),
    "server pairs None": (True, lambda m: m.ssl_server_credentials(None)),
    "server auth without roots": (True, lambda m: m.ssl_server_credentials([PAIR], None, True)),
    "server str key": (True, lambda m: m.ssl_server_credentials([("k", b"c")])),
    "server str chain": (True, lambda m: m.ssl_server_credentials([(b"k", "c")])),
    "server short pair": (True, lambda m: m.ssl_server_credentials([(b"k",)])),
    "server long pair": (True, lambda m: m.ssl_server_credentials([(b"k", b"c", b"x")])),
    "server int roots": (True, lambda m: m.ssl_server_credentials([PAIR], 5)),
    "server pairs int": (True, lambda m: m.ssl_server_credentials(5)),
    "config no pairs": (True, lambda m: m.ssl_server_certificate_configuration([])),
    "config str key": (True, lambda m: m.ssl_server_certificate_configuration([("k", "c")])),
    "config int roots": (True, lambda m: m.ssl_server_certificate_configuration([PAIR], 5)),
    "dynamic fetcher": (True, lambda m: m.dynamic_ssl_server_credentials(
        m.ssl_server_certificate_configuration([PAIR]), "not callable")),
    "dynamic initial": (False, lambda m: m.dynamic_ssl_server_credentials(object(), lambda: None)),
    "local str": (True, lambda m: m.local_channel_credentials("uds")),
    "local server None": (True, lambda m: m.local_server_credentials(None)),
    "plugin name int": (True, lambda m: m.metadata_call_credentials(plugin_giving(), 5)),
    "composite call object": (False, lambda m: m.composite_call_credentials(object())),
    "composite channel object": (False, lambda m: m.composite_channel_credentials(
        object(), m.access_token_call_credentials("t"))),
    "composite channel object call": (False, lambda m: m.composite_channel_credentials(
        m.ssl_channel_credentials(), object())),
    "composite channel of call creds": (False, lambda m: m.composite_channel_credentials(
        m.access_token_call_credentials("t"), m.access_token_call_credentials("t"))),
}

ACCEPTED = {
    "server str roots": lambda m: m.ssl_server_credentials([PAIR], "roots"),
    "server list pair, generator": lambda m: m.ssl_server_credentials(([b"k", b"c"] for _ in "x")),
    "channel empty roots": lambda m: m.ssl_channel_credentials(b""),
    "plugin not callable": lambda m: m.metadata_call_credentials(5),
    "plugin name bytes": lambda m: m.metadata_call_credentials(plugin_giving(), b"name"),
    "token not str": lambda m: m.access_token_call_credentials(None),
    "no call credentials": lambda m: m.composite_channel_credentials(m.ssl_channel_credentials()),
    "one call credentials": lambda m: m.composite_call_credentials(
        m.access_token_call_credentials("t")),
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_rejected_as_grpcio_rejects(case):
    exact, make = REJECTED[case]
    theirs, ours = outcome(lambda: make(grpc)), outcome(lambda: make(turbogrpc))
    assert theirs[0] is not None and ours[0] is theirs[0], (theirs, ours)
    if exact:
        assert ours[1] == theirs[1]


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_accepted_as_grpcio_accepts(case):
    assert outcome(lambda: ACCEPTED[case](grpc)) == outcome(lambda: ACCEPTED[case](turbogrpc))


def test_channel_key_types_fail_early_with_grpcio_error():
    # grpcio takes a str key here and fails only when the channel is made; we fail at once
    with pytest.raises(TypeError) as theirs:
        grpc.secure_channel("localhost:1", grpc.ssl_channel_credentials(None, "k", "c"))
    with pytest.raises(TypeError) as ours:
        turbogrpc.ssl_channel_credentials(None, "k", "c")
    assert str(ours.value) == str(theirs.value) == "expected bytes, str found"


def test_stored_channel_and_server_data(monkeypatch):
    monkeypatch.delenv("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", raising=False)  # else roots are read
    ssl = turbogrpc.ssl_channel_credentials(b"roots", b"key", b"chain")
    assert ssl._ssl == creds.SslChannelConfig(b"roots", b"key", b"chain")
    assert (ssl._local, ssl._insecure, ssl._call_credentials) == (None, False, ())
    assert turbogrpc.ssl_channel_credentials(b"", b"", None)._ssl == (None, None, None)

    server = turbogrpc.ssl_server_credentials([[b"k1", b"c1"], (b"k2", b"c2")], "roots", 1)
    assert server._ssl == creds.SslServerConfig(((b"k1", b"c1"), (b"k2", b"c2")), b"roots", True)
    assert (server._dynamic, server._local, server._insecure) == (None, None, False)

    config = turbogrpc.ssl_server_certificate_configuration([PAIR], "roots")
    assert (config._pairs, config._root_certificates) == ((PAIR,), b"roots")
    fetcher = lambda: None  # noqa: E731
    dynamic = turbogrpc.dynamic_ssl_server_credentials(config, fetcher, True)
    assert dynamic._dynamic == creds.DynamicServerConfig(config, fetcher, True)
    assert dynamic._ssl is None
    assert turbogrpc.insecure_server_credentials()._insecure

    insecure = turbogrpc.experimental.insecure_channel_credentials()
    assert insecure is turbogrpc.experimental.insecure_channel_credentials()  # one, as grpcio's
    assert insecure._insecure and insecure._ssl is None


def test_local_connection_type_is_grpcio_enum():
    assert turbogrpc.LocalConnectionType is grpc.LocalConnectionType
    assert turbogrpc.local_channel_credentials()._local is grpc.LocalConnectionType.LOCAL_TCP
    uds = turbogrpc.local_server_credentials(grpc.LocalConnectionType.UDS)
    assert uds._local is turbogrpc.LocalConnectionType.UDS and not uds._insecure


def test_composites_flatten_in_order():
    a, b, c, d = (turbogrpc.metadata_call_credentials(plugin_giving(), n) for n in "abcd")
    nested = turbogrpc.composite_call_credentials(turbogrpc.composite_call_credentials(a, b), c)
    assert [name for _, name in nested._plugins] == ["a", "b", "c"]
    channel = turbogrpc.composite_channel_credentials(
        turbogrpc.composite_channel_credentials(turbogrpc.ssl_channel_credentials(), nested), d)
    assert channel._call_credentials == (nested, d) and channel._ssl is not None
    assert turbogrpc.metadata_call_credentials(plugin_giving)._plugins[0][1] == "plugin_giving"


def test_roots_file_from_environment(monkeypatch, tmp_path):
    roots = tmp_path / "roots.pem"
    roots.write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", str(roots))
    assert turbogrpc.ssl_channel_credentials()._ssl.root_certificates == roots.read_bytes()
    assert turbogrpc.ssl_channel_credentials(b"mine")._ssl.root_certificates == b"mine"
    roots.write_bytes(b"")
    with pytest.raises(ValueError, match="GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"):
        turbogrpc.ssl_channel_credentials()
    monkeypatch.setenv("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", str(tmp_path / "missing.pem"))
    with pytest.raises(FileNotFoundError, match="GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"):
        turbogrpc.ssl_channel_credentials()
    monkeypatch.setenv("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", "")
    assert turbogrpc.ssl_channel_credentials()._ssl.root_certificates is None  # system store


def test_plugin_types_are_grpcio_types_both_ways():
    context = turbogrpc.AuthMetadataContext("https://h/pkg.S", "M")
    assert isinstance(context, grpc.AuthMetadataContext)
    assert (context.service_url, context.method_name) == tuple(context) == ("https://h/pkg.S", "M")

    class Ours(turbogrpc.AuthMetadataPlugin):
        def __call__(self, context, callback):
            callback((), None)

    class Theirs(grpc.AuthMetadataPlugin):  # google-auth's plugin is one of these
        def __call__(self, context, callback):
            callback((), None)

    assert isinstance(Ours(), grpc.AuthMetadataPlugin)
    assert isinstance(Theirs(), turbogrpc.AuthMetadataPlugin)
    assert not isinstance(Theirs(), Ours) and not isinstance(object(), turbogrpc.AuthMetadataPlugin)
    assert issubclass(turbogrpc.AuthMetadataPluginCallback, grpc.AuthMetadataPluginCallback)


def test_without_grpcio_our_own_classes():
    code = (
        "import sys; sys.modules['grpc'] = None\n"
        "import asyncio, turbogrpc\n"
        "from turbogrpc._core._credentials import call_credentials_metadata\n"
        "T = turbogrpc.LocalConnectionType\n"
        "assert [(m.name, m.value) for m in T] == [('UDS', 0), ('LOCAL_TCP', 1)]\n"
        "assert turbogrpc.local_channel_credentials(T.UDS)._local is T.UDS\n"
        "class P(turbogrpc.AuthMetadataPlugin):\n"
        "    def __call__(self, context, callback):\n"
        "        callback((('k', context.service_url),), None)\n"
        "c = turbogrpc.metadata_call_credentials(P())\n"
        "print(asyncio.run(call_credentials_metadata([c], 'u', 'm')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "[('k', 'u')]"), done.stderr


@pytest.mark.parametrize("authority, path, secure, expected", [
    ("localhost:50051", "/pkg.Svc/Do", True, ("https://localhost:50051/pkg.Svc", "Do")),
    ("foo.example:443", "/pkg.Svc/Do", True, ("https://foo.example/pkg.Svc", "Do")),
    ("foo.example:443", "/pkg.Svc/Do", False, ("://foo.example:443/pkg.Svc", "Do")),
    ("foo.example", "/pkg.a.Svc/Sub/Do", True, ("https://foo.example/pkg.a.Svc/Sub", "Do")),
    ("[::1]:443", "/a.B/C", True, ("https://[::1]/a.B", "C")),
    ("h:8443", "/Do", True, ("https://h:8443/Do", "")),
    ("h", "no-slash", True, ("https://h", "")),
])
def test_service_url_and_method(authority, path, secure, expected):
    assert creds.service_url_and_method(authority, path, secure) == expected


# ---- the runtime ------------------------------------------------------------------------------

async def test_plugin_runs_off_the_loop_with_call_context():
    loop_thread, seen = threading.get_ident(), []
    tag = contextvars.ContextVar("tag")
    tag.set("caller's")

    def sleepy(context, callback):
        seen.append((threading.get_ident(), context, tag.get(None)))
        time.sleep(0.3)  # blocks its own thread only
        callback((("x-who", "sleepy"),), None)

    ticks = 0

    async def tick():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.ensure_future(tick())
    try:
        got = await call_credentials_metadata(
            [turbogrpc.metadata_call_credentials(sleepy)], "https://h/pkg.S", "M")
    finally:
        ticker.cancel()
    assert got == [("x-who", "sleepy")] and ticks >= 5  # a blocked loop ticks 0 or 1 times
    thread, context, value = seen[0]
    assert thread != loop_thread and value == "caller's"
    assert isinstance(context, grpc.AuthMetadataContext) and context == ("https://h/pkg.S", "M")


async def test_metadata_of_all_plugins_in_order():
    def from_another_thread(context, callback):  # answers after the plugin has returned
        threading.Timer(0.05, callback, ((("x-c", "3"),), None)).start()

    first = turbogrpc.composite_call_credentials(
        turbogrpc.access_token_call_credentials("tok"),
        turbogrpc.metadata_call_credentials(plugin_giving(("x-b", b"2"), (b"x-d-bin", b"\0"))))
    second = turbogrpc.metadata_call_credentials(from_another_thread)
    got = await call_credentials_metadata([first, second], "u", "m")
    assert got == [("authorization", "Bearer tok"), ("x-b", "2"), ("x-d-bin", b"\0"), ("x-c", "3")]
    assert await call_credentials_metadata([], "u", "m") == []


def test_access_token_metadata_as_grpcio():
    answers = []
    grpc._auth.AccessTokenAuthMetadataPlugin("tok")(None, lambda md, err: answers.append((md, err)))
    assert creds.blocking_call_credentials_metadata(
        [turbogrpc.access_token_call_credentials("tok")], "u", "m") == list(answers[0][0])


@pytest.mark.parametrize("plugin, details", [
    (lambda c, cb: cb(None, ValueError("boom")), "boom"),
    (lambda c, cb: cb(None, "just text"), "just text"),
    (lambda c, cb: cb((("k", "v"),), KeyError("both given"),), "'both given'"),
    (5, "'int' object is not callable"),
])
async def test_plugin_error_fails_with_grpcio_details(plugin, details):
    with pytest.raises(CallCredentialsError) as failed:
        await call_credentials_metadata([turbogrpc.metadata_call_credentials(plugin)], "u", "m")
    assert failed.value.details == "Getting metadata from plugin failed with error: " + details
    assert failed.value.code is turbogrpc.StatusCode.UNAVAILABLE  # what grpc's call ends with


async def test_plugin_raising_fails_the_call_and_refuses_a_late_answer(caplog):
    late_answer, late_outcome = threading.Event(), []

    def raising(context, callback):
        def answer_late():
            late_answer.wait(5)
            try:
                callback((("k", "v"),), None)
            except RuntimeError as refused:
                late_outcome.append(str(refused))
        threading.Thread(target=answer_late).start()
        raise RuntimeError("kaboom")

    with pytest.raises(CallCredentialsError) as failed:
        await call_credentials_metadata([turbogrpc.metadata_call_credentials(raising)], "u", "m")
    assert failed.value.details == "Getting metadata from plugin failed with error: kaboom"
    assert isinstance(failed.value.__cause__, RuntimeError)
    assert any(r.levelno == logging.WARNING and r.exc_info for r in caplog.records)
    late_answer.set()
    for _ in range(500):
        if late_outcome:
            break
        await asyncio.sleep(0.01)
    assert late_outcome and "kaboom" in late_outcome[0]


async def test_callback_twice_first_answer_counts():
    second = []
    plugin_done = threading.Event()

    def twice(context, callback):
        callback((("k", "first"),), None)
        try:
            callback((("k", "second"),), None)
        except RuntimeError as refused:
            second.append(str(refused))
        plugin_done.set()

    got = await call_credentials_metadata([turbogrpc.metadata_call_credentials(twice)], "u", "m")
    assert got == [("k", "first")]
    # The first answer resumes the caller; the plugin's thread may still be on its second call.
    assert await asyncio.to_thread(plugin_done.wait, 5)
    assert second == ["AuthMetadataPluginCallback invoked more than once!"]  # grpcio's


@pytest.mark.parametrize("metadata", [
    (("Upper", "v"),), (("", "v"),), ((":authority", "h"),), (("k", "é"),), (("k", "a\nb"),),
    (("k-bin", "text"),), (("k", 5),), (("k", "v", "x"),), ((b"\xff", b"v"),), 5,
])
async def test_illegal_metadata(metadata):
    with pytest.raises(CallCredentialsError) as failed:
        await call_credentials_metadata(
            [turbogrpc.metadata_call_credentials(lambda c, cb: cb(metadata, None))], "u", "m")
    assert failed.value.details == "Illegal metadata"  # grpc-core's details


async def test_legal_metadata_shapes():
    giving = turbogrpc.metadata_call_credentials(
        plugin_giving([b"k", b"v"], ("n", None), ("x.y_z-1", "~ !"), ("b-bin", b"\xff")))
    assert await call_credentials_metadata([giving], "u", "m") == [
        ("k", "v"), ("n", ""), ("x.y_z-1", "~ !"), ("b-bin", b"\xff")]
    nothing = turbogrpc.metadata_call_credentials(lambda c, cb: cb(None, None))
    assert await call_credentials_metadata([nothing], "u", "m") == []


def blocked_plugin():
    """A plugin that waits for `release`, then answers; `answered` holds what the callback did."""
    release, answered = threading.Event(), []

    def plugin(context, callback):
        release.wait(5)
        try:
            callback((("k", "v"),), None)
            answered.append("returned")
        except Exception as exc:  # noqa: BLE001 - the test reports it
            answered.append(repr(exc))

    return turbogrpc.metadata_call_credentials(plugin), release, answered


async def wait_for(condition):
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


async def test_cancelled_while_plugin_runs():
    blocked, release, answered = blocked_plugin()
    task = asyncio.ensure_future(call_credentials_metadata([blocked], "u", "m"))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    await wait_for(lambda: answered)
    assert answered == ["returned"]  # the late answer is dropped quietly


async def test_timeout_while_plugin_runs():
    blocked, release, answered = blocked_plugin()
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await call_credentials_metadata([blocked], "u", "m", timeout=0.1)
    assert 0.09 <= time.monotonic() - started < 2
    release.set()
    await wait_for(lambda: answered)
    assert answered == ["returned"]


def test_blocking_flavour():
    first = turbogrpc.composite_call_credentials(
        turbogrpc.access_token_call_credentials("tok"),
        turbogrpc.metadata_call_credentials(plugin_giving(("x-b", "2"))))
    assert creds.blocking_call_credentials_metadata([first], "u", "m") == [
        ("authorization", "Bearer tok"), ("x-b", "2")]
    failing = turbogrpc.metadata_call_credentials(lambda c, cb: cb(None, ValueError("boom")))
    with pytest.raises(CallCredentialsError, match="failed with error: boom"):
        creds.blocking_call_credentials_metadata([first, failing], "u", "m")
    blocked, release, answered = blocked_plugin()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        creds.blocking_call_credentials_metadata([first, blocked], "u", "m", timeout=0.1)
    assert 0.09 <= time.monotonic() - started < 2
    release.set()
    deadline = time.monotonic() + 5
    while not answered and time.monotonic() < deadline:
        time.sleep(0.01)
    assert answered == ["returned"]


def test_answer_after_loop_closed():
    blocked, release, answered = blocked_plugin()
    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(call_credentials_metadata([blocked], "u", "m"))
        loop.run_until_complete(asyncio.sleep(0.05))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            loop.run_until_complete(task)
    finally:
        loop.close()
    release.set()
    deadline = time.monotonic() + 5
    while not answered and time.monotonic() < deadline:
        time.sleep(0.01)
    assert answered == ["returned"]
