"""The stand-alone definitions turbogrpc uses when grpcio is not installed, checked in this
process: each module is loaded afresh (not replacing the real one) with grpcio's lookups
answering "absent". tests/unit/test_aio_surface.py also runs real calls in a subprocess without
grpcio; this file checks the definitions themselves (names, values, abstract methods)."""

from __future__ import annotations

import importlib.util

import pytest

import turbogrpc._core._grpcio as grpcio_lookup


@pytest.fixture
def load_without_grpcio(monkeypatch):
    monkeypatch.setattr(grpcio_lookup, "grpcio_attr", lambda name: None)
    monkeypatch.setattr(grpcio_lookup, "grpcio_bases", lambda name: ())
    monkeypatch.setattr(grpcio_lookup, "grpcio_classes", lambda *names: None)

    def load(module_name):
        spec = importlib.util.find_spec(module_name)
        module = importlib.util.module_from_spec(spec)  # a fresh copy, not put in sys.modules
        spec.loader.exec_module(module)
        return module

    return load


def test_status_codes_have_grpcs_names_and_wire_numbers(load_without_grpcio):
    status = load_without_grpcio("turbogrpc._core._status")
    codes = status.StatusCode
    assert codes.__module__ == "turbogrpc._core._status"
    assert [c.name for c in codes][:3] == ["OK", "CANCELLED", "UNKNOWN"]
    assert len(codes) == 17
    assert codes.UNAUTHENTICATED.value == (16, "unauthenticated")
    assert status.code_from_int(5) is codes.NOT_FOUND
    assert status.code_from_int(99) is codes.UNKNOWN
    assert status.code_to_int(codes.DATA_LOSS) == 15


def test_connectivity_and_compression_have_grpcs_values(load_without_grpcio):
    connectivity = load_without_grpcio("turbogrpc._core._connectivity").ChannelConnectivity
    assert [c.value for c in connectivity] == [
        (0, "idle"), (1, "connecting"), (2, "ready"), (3, "transient failure"), (4, "shutdown")]
    compression = load_without_grpcio("turbogrpc._core._compression")
    assert [(c.name, int(c)) for c in compression.Compression] == [
        ("NoCompression", 0), ("Deflate", 1), ("Gzip", 2)]
    assert compression.compression_value(compression.Compression.Gzip) == 2


def test_client_interceptor_interfaces_are_abstract(load_without_grpcio):
    module = load_without_grpcio("turbogrpc.aio._client_interceptor")
    details = module.ClientCallDetails("/a.B/C", 1.0, None, None, True)
    assert details.method == "/a.B/C" and details.wait_for_ready is True
    assert details._replace(timeout=2.0).timeout == 2.0
    for kind in ("UnaryUnary", "UnaryStream", "StreamUnary", "StreamStream"):
        interface = getattr(module, f"{kind}ClientInterceptor")
        assert issubclass(interface, module.ClientInterceptor)
        with pytest.raises(TypeError):
            interface()  # its intercept_* method is abstract
        method = next(name for name in interface.__abstractmethods__)
        concrete = type("Concrete", (interface,), {method: lambda self, *args: None})
        assert module.client_interceptors([concrete()]) is not None


def test_server_interceptor_interface_is_abstract(load_without_grpcio):
    module = load_without_grpcio("turbogrpc.aio._server_interceptor")
    with pytest.raises(TypeError):
        module.ServerInterceptor()

    class PassThrough(module.ServerInterceptor):
        async def intercept_service(self, continuation, handler_call_details):
            return await continuation(handler_call_details)

    assert isinstance(PassThrough(), module.ServerInterceptor)


def test_blocking_server_interceptor_interface_is_abstract(load_without_grpcio):
    module = load_without_grpcio("turbogrpc._sync._server_interceptor")
    with pytest.raises(TypeError):
        module.ServerInterceptor()

    class PassThrough(module.ServerInterceptor):
        def intercept_service(self, continuation, handler_call_details):
            return continuation(handler_call_details)

    chain = module.InterceptorChain([PassThrough()])
    assert chain.entry_for("/a.B/C", ()) is None  # nobody serves it


def test_eof_marker_is_a_falsy_singleton(load_without_grpcio):
    module = load_without_grpcio("turbogrpc.aio._rpc_error")
    eof = module.EOF
    assert type(eof) is module._EOFType and module._EOFType() is eof
    assert not eof and len(eof) == 0
    assert repr(eof) == "<turbogrpc.aio.EOF>"
    assert eof.__reduce__() == "EOF"  # pickles by name, as the module-level singleton
    assert module.EOF_TYPE is module._EOFType


def test_blocking_client_interceptor_interfaces_stand_alone(load_without_grpcio):
    module = load_without_grpcio("turbogrpc._sync._client_interceptor")
    kinds = {"UnaryUnaryClientInterceptor": "intercept_unary_unary",
             "UnaryStreamClientInterceptor": "intercept_unary_stream",
             "StreamUnaryClientInterceptor": "intercept_stream_unary",
             "StreamStreamClientInterceptor": "intercept_stream_stream"}
    for name, method in kinds.items():
        cls = getattr(module, name)
        assert cls.__module__ == "turbogrpc._sync._client_interceptor"
        assert cls.__abstractmethods__ == frozenset({method})
        with pytest.raises(TypeError):
            cls()
        concrete = type("Concrete", (cls,), {method: lambda self, c, d, r: c(d, r)})
        assert getattr(concrete(), method)(lambda d, r: (d, r), "details", "request") == ("details", "request")
    assert module.ClientCallDetails.__abstractmethods__ == frozenset()


def test_interceptor_outcomes_answer_as_finished_calls():
    from turbogrpc._sync._client_interceptor import FailureOutcome, UnaryOutcome

    class Call:
        def is_active(self):
            return False

        def time_remaining(self):
            return 1.5

        def cancel(self):
            return False

        def add_callback(self, callback):
            return False

    outcome = UnaryOutcome("response", Call())
    assert outcome.result() == "response" and outcome.exception() is None
    assert outcome.traceback() is None and outcome.done() and not outcome.running()
    assert not outcome.cancelled() and not outcome.is_active() and outcome.time_remaining() == 1.5
    assert not outcome.cancel() and not outcome.add_callback(lambda: None)
    seen = []
    outcome.add_done_callback(seen.append)
    assert seen == [outcome]

    error = ValueError("broken")
    failure = FailureOutcome(error, None)
    assert failure.code().name == "INTERNAL"
    assert failure.details() == "Exception raised while intercepting the RPC"
    assert failure.initial_metadata() is None and failure.trailing_metadata() is None
    assert failure.exception() is error and failure.traceback() is None
    assert not failure.is_active() and failure.time_remaining() is None and failure.done()
    assert not failure.cancel() and not failure.add_callback(lambda: None)
    with pytest.raises(ValueError):
        failure.result()
    with pytest.raises(ValueError):
        next(iter(failure))
    with pytest.raises(ValueError):
        failure.next()
    assert "broken" in repr(failure)
