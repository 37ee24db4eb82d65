"""turbogrpc.aio's public surface against grpc.aio's (issue 13): every name grpc.aio exports, the
methods of each class, subscripting in annotations; with grpcio installed, grpcio's own enums
and EOF, exceptions deriving from grpcio's, isinstance against grpc.aio's abstract classes;
without grpcio, stand-alone definitions that still serve a call (a subprocess); and the options
table (python/turbogrpc/_core/_options.py, docs/options.md) with its warning."""

from __future__ import annotations

import ast
import inspect
import pathlib
import re
import subprocess
import sys
import textwrap
import warnings

import grpc
import grpc.aio
import grpc.aio._interceptor
import grpc.experimental
import pytest

import turbogrpc
from turbogrpc import aio
from turbogrpc._core import _errors, _options, _status

ROOT = pathlib.Path(__file__).resolve().parents[2]

# In our __all__ but not in grpc.aio's, on purpose: grpc has them at its top level (StatusCode,
# ChannelConnectivity, Compression, RpcError), or only as a type alias grpc.aio leaves out of
# __all__ (ChannelArgumentType), or grpc.aio has no such thing (UnsupportedOptionWarning).
DELIBERATE_EXTRAS = {
    "ChannelArgumentType", "ChannelConnectivity", "Compression", "RpcError", "StatusCode",
    "UnsupportedOptionWarning",
}

# The names issue 13 asks for: grpc.aio's __all__ plus ChannelArgumentType.
REQUIRED = sorted(set(grpc.aio.__all__) | {"ChannelArgumentType"})


def _grpc_has(name):
    """grpc.aio has `name`, but outside its __all__ (e.g. the other Intercepted*Call classes)."""
    return hasattr(grpc.aio, name) or hasattr(grpc.aio._interceptor, name)


# ---- names ----------------------------------------------------------------------------------

def test_every_grpc_aio_name_is_exported():
    missing = [name for name in REQUIRED if name not in aio.__all__]
    unresolved = [name for name in REQUIRED if not hasattr(aio, name)]
    assert not missing and not unresolved, (
        f"turbogrpc.aio lacks grpc.aio names: not in __all__: {missing}; "
        f"not importable: {unresolved}")


def test_every_exported_name_resolves_and_extras_are_deliberate():
    unresolved = [name for name in aio.__all__ if not hasattr(aio, name)]
    assert not unresolved, f"in turbogrpc.aio.__all__ but missing: {unresolved}"
    extras = sorted(set(aio.__all__) - set(grpc.aio.__all__))
    unexplained = [name for name in extras if name not in DELIBERATE_EXTRAS and not _grpc_has(name)]
    assert not unexplained, f"exported by turbogrpc.aio, unknown to grpc.aio: {unexplained}"
    assert len(aio.__all__) == len(set(aio.__all__)), "a name is listed twice in __all__"


CLASS_PAIRS = [
    "RpcContext", "Call", "UnaryUnaryCall", "UnaryStreamCall", "StreamUnaryCall",
    "StreamStreamCall", "ServicerContext", "Server", "Channel", "UnaryUnaryMultiCallable",
    "UnaryStreamMultiCallable", "StreamUnaryMultiCallable", "StreamStreamMultiCallable", "Metadata",
]
DUNDERS = ("__await__", "__aiter__", "__anext__", "__call__", "__aenter__", "__aexit__",
           "__len__", "__iter__", "__contains__", "__getitem__", "__setitem__", "__delitem__",
           "__add__", "__eq__")


@pytest.mark.parametrize("name", CLASS_PAIRS)
def test_classes_offer_grpc_aio_methods(name):
    theirs, ours = getattr(grpc.aio, name), getattr(aio, name)
    public = {m for m in dir(theirs) if not m.startswith("_") or m in DUNDERS}
    missing = sorted(m for m in public if not hasattr(ours, m))
    assert not missing, f"turbogrpc.aio.{name} lacks {missing}"


def _not_subscriptable(names):
    found = []
    for name in names:
        theirs, ours = getattr(grpc.aio, name), getattr(aio, name, None)
        if not isinstance(theirs, type) or ours is None:
            continue
        for args in ((int,), (int, str)):
            try:
                theirs[args]
            except TypeError:
                continue
            try:
                ours[args]
            except TypeError:
                found.append(f"{name}[{len(args)} args]")
    return found


# _multicallable.py (not this file) still needs its __class_getitem__.
MULTICALLABLES = ["UnaryUnaryMultiCallable", "UnaryStreamMultiCallable",
                  "StreamUnaryMultiCallable", "StreamStreamMultiCallable"]


def test_subscriptable_like_grpc_aio():
    """Annotations such as `aio.ServicerContext[Req, Resp]` run at import time unless postponed:
    every grpc.aio class that takes type arguments takes them here too."""
    names = [name for name in grpc.aio.__all__ if name not in MULTICALLABLES]
    missing = _not_subscriptable(names)
    assert not missing, f"not subscriptable as in grpc.aio: {missing}"


def test_multicallables_subscriptable_like_grpc_aio():
    missing = _not_subscriptable(MULTICALLABLES)
    assert not missing, f"not subscriptable as in grpc.aio: {missing}"


def test_init_and_shutdown_are_harmless():
    assert aio.init_grpc_aio() is None
    assert aio.shutdown_grpc_aio() is None


# ---- identity with grpcio ----------------------------------------------------------------------

def test_enums_are_grpcio_own():
    assert aio.StatusCode is grpc.StatusCode is turbogrpc.StatusCode
    assert aio.Compression is grpc.Compression
    assert aio.StatusCode.OK is grpc.StatusCode.OK
    # the hot path's lookup hands out grpcio's members
    assert isinstance(_status._BY_INT, tuple)
    assert all(_status.code_from_int(code.value[0]) is code for code in grpc.StatusCode)
    assert _status.code_from_int(99) is grpc.StatusCode.UNKNOWN


def test_channel_connectivity_is_grpcio_own():
    assert aio.ChannelConnectivity is grpc.ChannelConnectivity
    assert aio.insecure_channel("localhost:1").get_state() is grpc.ChannelConnectivity.IDLE


def test_eof_is_grpc_aio_eof():
    """The same object: `message is grpc.aio.EOF` holds for what our read() returns. It is falsy
    and has length 0, as grpc.aio's."""
    assert aio.EOF is grpc.aio.EOF
    assert not aio.EOF and len(aio.EOF) == 0


def test_exceptions_derive_from_grpcio():
    pairs = {"BaseError": aio.BaseError, "UsageError": aio.UsageError,
             "AbortError": aio.AbortError, "InternalError": aio.InternalError,
             "AioRpcError": aio.AioRpcError}
    for name, ours in pairs.items():
        assert issubclass(ours, getattr(grpc.aio, name)), name
    for ours in (aio.UsageError, aio.AbortError, aio.InternalError):
        assert issubclass(ours, aio.BaseError)
    assert issubclass(aio.UsageError, ValueError)  # what it was before grpcio joined
    assert issubclass(aio.AioRpcError, grpc.RpcError)
    # where grpc.aio raises TypeError / RuntimeError for misuse, ours is both that and UsageError
    assert issubclass(_errors.UsageTypeError, (TypeError, aio.UsageError))
    assert issubclass(_errors.UsageRuntimeError, (RuntimeError, aio.UsageError))


def test_isinstance_of_grpc_aio_abstract_classes():
    for name in ("RpcContext", "Call", "UnaryUnaryCall", "UnaryStreamCall", "StreamUnaryCall",
                 "StreamStreamCall", "ServicerContext"):
        assert issubclass(getattr(aio, name), getattr(grpc.aio, name)), name
    assert issubclass(aio.UnaryStreamCall, grpc.aio.RpcContext)
    assert issubclass(aio.ServicerContext, grpc.ServicerContext)  # what sync handlers expect
    assert issubclass(aio.Call, aio.RpcContext)
    # Metadata is concrete in grpc.aio and its __eq__ reads its own internals: not registered
    assert not issubclass(aio.Metadata, grpc.aio.Metadata)
    assert aio.Metadata(("k", "v")) == grpc.aio.Metadata(("k", "v"))


def test_isinstance_of_grpc_aio_abstract_channel_server_multicallables():
    not_registered = [name for name in ("Channel", "Server", *MULTICALLABLES)
                      if not issubclass(getattr(aio, name), getattr(grpc.aio, name))]
    assert not not_registered, f"not registered with grpc.aio's abstract classes: {not_registered}"


def test_metadata_type_errors_are_usage_errors_and_type_errors():
    from turbogrpc._core._metadata import as_pairs, checked_pairs

    with pytest.raises(TypeError):
        as_pairs(42)
    for bad in (42, {"k": "v"}, "kv", ((1, "v"),), (("k", 1),), (("k",),)):
        with pytest.raises(TypeError, match="metadata"):
            checked_pairs(bad, "trailing")
    assert checked_pairs([["k", "v"], ("b-bin", b"\x00")], "trailing") == (
        ["k", "v"], ("b-bin", b"\x00"))  # lists as pairs: accepted (grpc.aio wants tuples)
    pairs = (("k", "v"),)
    assert checked_pairs(pairs, "trailing") is pairs  # no copy
    assert checked_pairs(iter(pairs), "trailing") == pairs  # consumed once, then checked


# ---- without grpcio ----------------------------------------------------------------------------

WITHOUT_GRPCIO = textwrap.dedent("""
    import asyncio, sys
    sys.modules["grpc"] = None  # `import grpc` raises ImportError from here on
    import turbogrpc
    from turbogrpc import aio
    from turbogrpc._core import _grpcio

    assert _grpcio._grpc is None
    assert type(aio.StatusCode.OK).__module__ == "turbogrpc._core._status"
    assert aio.StatusCode.OK.value == (0, "ok") and turbogrpc.StatusCode is aio.StatusCode
    assert int(aio.Compression.Gzip) == 2
    assert not aio.EOF and repr(aio.EOF) == "<turbogrpc.aio.EOF>"
    assert issubclass(aio.UsageError, (aio.BaseError, ValueError))
    for name in aio.__all__:
        getattr(aio, name)


    class Handler:  # grpcio's RpcMethodHandler, duck-typed
        request_streaming = False
        request_deserializer = response_serializer = None
        unary_unary = unary_stream = stream_unary = stream_stream = None

        def __init__(self, response_streaming, behaviour):
            self.response_streaming = response_streaming
            if response_streaming:
                self.unary_stream = behaviour
            else:
                self.unary_unary = behaviour


    async def echo(request, context):
        return request

    async def two(request, context):
        yield b"1"
        yield b"2"

    class Service:
        def service(self, details):
            return {"/t.S/Echo": Handler(False, echo), "/t.S/Two": Handler(True, two)}.get(
                details.method)


    async def main():
        server = aio.server(handlers=[Service()])
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                call = channel.unary_unary("/t.S/Echo")(b"ping")
                assert await call == b"ping"
                assert await call.code() is aio.StatusCode.OK
                stream = channel.unary_stream("/t.S/Two")(b"")
                assert [await stream.read() for _ in range(3)] == [b"1", b"2", aio.EOF]
                try:
                    await channel.unary_unary("/t.S/Missing")(b"")
                except aio.AioRpcError as error:
                    assert error.code() is aio.StatusCode.UNIMPLEMENTED, error
                else:
                    raise AssertionError("no error for a missing method")
        finally:
            await server.stop(None)
        print("served without grpcio")


    asyncio.run(main())
""")


def test_without_grpcio_everything_stands_alone_and_serves():
    done = subprocess.run([sys.executable, "-W", "error", "-c", WITHOUT_GRPCIO],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "served without grpcio" in done.stdout


# ---- options ------------------------------------------------------------------------------------

def test_unsupported_options_warn_once_naming_all_at_the_callers_line():
    options = [("grpc.dscp", 10), ("grpc.max_receive_message_length", 1),
               ("grpc.lb_policy_name", "ring_hash"), ("grpc.http2.lookahead_bytes", 1),
               ("no.such.option", 1), ("grpc.dscp", 20)]
    with pytest.warns(aio.UnsupportedOptionWarning) as records:
        channel = aio.insecure_channel("localhost:1", options=options)
    assert len(records) == 1
    message = str(records[0].message)
    for name in ("grpc.dscp", "no.such.option"):
        assert repr(name) in message
    assert "grpc.lb_policy_name ('ring_hash'" in message
    assert message.count("grpc.dscp") == 1
    assert "lookahead" not in message and "max_receive" not in message
    assert records[0].filename == __file__  # the line that made the channel, not ours
    del channel
    with pytest.warns(aio.UnsupportedOptionWarning,
                      match="'grpc.max_allowed_incoming_connections'") as records:
        aio.server(options={"grpc.max_allowed_incoming_connections": 1000, "grpc.so_reuseport": 0})
    assert len(records) == 1 and records[0].filename == __file__


def test_no_op_and_honoured_options_are_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        aio.insecure_channel("localhost:1", options=[
            ("grpc.http2.max_frame_size", 1 << 20), ("grpc.enable_channelz", 1),
            ("grpc.enable_retries", 0), ("grpc.lb_policy_name", "pick_first"),
            ("grpc.max_concurrent_streams", 10),  # a server option: no-op on a channel
            ("grpc.ssl_target_name_override", "x.test"), ("grpc.default_authority", "a"),
            ("grpc.default_compression_algorithm", 2), ("grpc.primary_user_agent", "ua"),
        ])
        aio.server(options=[("grpc.so_reuseport", 1), ("grpc.max_connection_idle_ms", 10),
                            ("grpc.surface_user_agent", 1), ("grpc.default_authority", "a")])


def test_switches_are_no_ops_only_when_off():
    for name, off, on in (("grpc.enable_http_proxy", 0, 1), ("grpc.per_message_compression", 1, 0),
                          ("grpc.service_config_disable_resolution", 1, 0)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _options.channel_options([(name, off)])
        with pytest.warns(aio.UnsupportedOptionWarning, match=re.escape(repr(name))):
            _options.channel_options([(name, on)])


def test_reuse_port():
    assert _options.reuse_port(None) is True
    assert _options.reuse_port([("grpc.so_reuseport", 1)]) is True
    assert _options.reuse_port([("grpc.so_reuseport", 1), ("grpc.so_reuseport", 0)]) is False
    with pytest.raises(aio.UsageError, match="takes an int"):
        _options.reuse_port({"grpc.so_reuseport": "yes"})


def _docs_table():
    """docs/options.md's table: {name: (channel, server)} in _options' classifications."""
    def classification(cell):
        match = re.fullmatch(r"no-op if (.+), else not supported", cell)
        if match:
            return ("if", ast.literal_eval(match.group(1)))
        assert cell in (_options.HONOURED, _options.NO_OP, _options.UNSUPPORTED), cell
        return cell

    table = {}
    for line in (ROOT / "docs" / "options.md").read_text().splitlines():
        match = re.fullmatch(r"\| `([^`]+)` \| ([^|]+) \| ([^|]+) \|.*", line)
        if match:
            name, channel, server = match.groups()
            assert name not in table, f"{name} is listed twice"
            table[name] = (classification(channel.strip()), classification(server.strip()))
    return table


def test_docs_options_table_matches_the_code():
    docs, code = _docs_table(), _options.OPTIONS
    assert sorted(set(code) - set(docs)) == [], "in _options.OPTIONS, not in docs/options.md"
    assert sorted(set(docs) - set(code)) == [], "in docs/options.md, not in _options.OPTIONS"
    differing = {name: (docs[name], code[name]) for name in code if docs[name] != code[name]}
    assert not differing, f"docs/options.md (first) and _options.OPTIONS disagree: {differing}"


def test_every_option_the_engine_takes_is_honoured():
    for table, side in ((_options._CHANNEL_KEYS, 0), (_options._SERVER_KEYS, 1)):
        for name in table:
            assert _options.OPTIONS[name][side] == _options.HONOURED, name


def test_every_grpc_option_grpcio_defines_is_classified():
    """grpcio's own option names (grpc.experimental.ChannelOptions, grpc.Compression's
    channel argument) are in the table."""
    assert grpc.experimental.ChannelOptions.SingleThreadedUnaryStream in _options.OPTIONS
    assert "grpc.default_compression_algorithm" in _options.OPTIONS
    assert inspect.isclass(aio.UnsupportedOptionWarning)
    assert issubclass(aio.UnsupportedOptionWarning, UserWarning)
