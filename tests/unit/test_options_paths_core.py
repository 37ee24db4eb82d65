"""Small paths of the shared core no end-to-end test reaches: status code conversions and
comparisons (python/turbogrpc/_core/_status.py), running without grpcio (_core/_grpcio.py), the
per-loop plumbing's error paths (aio/_completion.py, _core/_events.py, _core/_generation.py)
and the eager handler step's pieces (aio/_eager.py), and the server context's last-resort path
when the engine refuses even an INTERNAL finish (_core/_server_checks.py)."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import sys
import types

import grpc
import pytest

import turbogrpc
from turbogrpc._core import _events, _generation, _server_checks, _status
from turbogrpc.aio import StatusCode, UsageError, _completion, _context, _eager, _server_call


# ---- status codes ------------------------------------------------------------------------------

def test_status_code_equality_and_hash_match_grpc():
    assert StatusCode.OK == StatusCode.OK
    assert StatusCode.NOT_FOUND == grpc.StatusCode.NOT_FOUND
    assert grpc.StatusCode.NOT_FOUND == StatusCode.NOT_FOUND
    assert StatusCode.NOT_FOUND != grpc.StatusCode.INTERNAL
    assert StatusCode.OK != 0 and StatusCode.OK != (0, "ok") and StatusCode.OK != "OK"
    assert {grpc.StatusCode.UNAVAILABLE: "x"}[StatusCode.UNAVAILABLE] == "x"
    assert hash(StatusCode.ABORTED) == hash(grpc.StatusCode.ABORTED)


def test_code_from_int():
    assert _status.code_from_int(0) is StatusCode.OK
    assert _status.code_from_int(16) is StatusCode.UNAUTHENTICATED
    for outside in (-1, 17, 1000):
        assert _status.code_from_int(outside) is StatusCode.UNKNOWN  # the gRPC spec's rule


def test_code_to_int():
    assert _status.code_to_int(StatusCode.NOT_FOUND) == 5
    assert _status.code_to_int(grpc.StatusCode.NOT_FOUND) == 5
    assert _status.code_to_int(13) == 13
    for bad in (True, "NOT_FOUND", 5.0, None, (5, "x")):
        with pytest.raises(UsageError, match="expected a StatusCode"):
            _status.code_to_int(bad)
    for outside in (-1, 17):
        with pytest.raises(UsageError, match="out of range"):
            _status.code_to_int(outside)


# ---- without grpcio ----------------------------------------------------------------------------

def test_without_grpcio_our_classes_stand_alone(monkeypatch):
    """_grpcio.py loaded while `import grpc` fails: no grpcio bases, nothing breaks."""
    monkeypatch.setitem(sys.modules, "grpc", None)  # makes `import grpc` raise ImportError
    monkeypatch.setitem(sys.modules, "grpc.aio", None)
    path = turbogrpc._core._grpcio.__file__
    spec = importlib.util.spec_from_file_location("_grpcio_without_grpc", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module._grpc is None
    assert module.grpcio_bases("RpcError") == ()
    assert module.grpcio_bases("aio.Metadata") == ()


def test_grpcio_bases_with_grpcio():
    from turbogrpc._core._grpcio import grpcio_bases

    assert grpcio_bases("RpcError") == (grpc.RpcError,)
    assert grpcio_bases("aio.NoSuchThing") == ()
    assert grpcio_bases("StatusCode.OK") == ()  # found, but not a class


# ---- per-loop plumbing -------------------------------------------------------------------------

def test_loop_state_errors():
    loop = asyncio.new_event_loop()
    loop.close()
    with pytest.raises(UsageError, match="closed"):
        _completion.loop_state(loop)
    with pytest.raises(UsageError, match="coroutine running in an asyncio event loop"):
        _completion.running_loop_state()
    with pytest.raises(UsageError, match="fork"):
        _generation.check_generation(-1, "channel")
    _generation.check_generation(turbogrpc._engine.generation(), "channel")


class FakeQueue:
    def __init__(self, events):
        self.events = events

    def drain(self):
        events, self.events = self.events, []
        return events


class Exploding:
    def _on_event(self, event):
        raise RuntimeError("handler of the event failed")


class Recording:
    def __init__(self):
        self.events = []

    def _on_event(self, event):
        self.events.append(event)


def test_drain_routes_events_and_survives_failures(caplog):
    """A failing event handler is logged, and the other events of the batch still go out;
    closing events remove the call from the table; an unknown id is ignored; a server call for
    no server is refused (finish on an id the engine does not know is a no-op)."""
    loop = asyncio.new_event_loop()
    try:
        state = _completion.LoopState(loop)
        real_queue = state.cq
        try:
            recording = Recording()
            state.calls.update({1: Exploding(), 2: recording, 3: recording})
            state.cq = FakeQueue([
                (_events.MESSAGE, 1, b"x"),
                (_events.MESSAGE, 2, b"y"),
                (_events.FINISHED, 3, 0),
                (_events.MESSAGE, 99, b"nobody"),
                (_events.SERVER_CALL, 2**62, 12345),
            ])
            with caplog.at_level(logging.ERROR, logger="turbogrpc"):
                state._drain()
        finally:
            state.cq = real_queue
            loop.remove_reader(real_queue.fd)
        assert [e[1] for e in recording.events] == [2, 3]
        assert 3 not in state.calls and 2 in state.calls  # FINISHED closes the call
        assert any("error while handling engine event" in r.getMessage() for r in caplog.records)
    finally:
        loop.close()


# The first test above logs on purpose; the autouse fixture must allow it.
test_drain_routes_events_and_survives_failures = pytest.mark.allow_error_logs(
    r"error while handling engine event")(test_drain_routes_events_and_survives_failures)


def test_reject_orphan_call_never_raises(caplog):
    with caplog.at_level(logging.DEBUG, logger="turbogrpc"):
        _events.reject_orphan_call((_events.SERVER_CALL, 2**62))
        _events.reject_orphan_call((_events.SERVER_CALL, "not an id"))
    assert any("could not reject call" in r.getMessage() for r in caplog.records)


# ---- the eager first step ----------------------------------------------------------------------

def test_stand_in_task_before_and_after_the_real_task():
    loop = asyncio.new_event_loop()
    try:
        stand_in = _eager._StandInTask(loop)
        assert stand_in.get_loop() is loop
        assert not stand_in.done() and not stand_in.cancelled()
        assert stand_in.cancel() is True and stand_in.cancelling() == 1
        assert stand_in.uncancel() == 0 and stand_in.uncancel() == 0
        with pytest.raises(AttributeError, match="no asyncio.Task yet"):
            stand_in.get_name()
        assert "task=None" in repr(stand_in)

        async def body():
            await asyncio.sleep(10)

        task = loop.create_task(body(), name="real")
        stand_in._task = task
        assert stand_in.get_name() == "real"  # forwarded from now on
        assert stand_in.cancel() is True and stand_in.cancelling() == 1
        assert stand_in.uncancel() == 0
        stand_in.cancel()
        loop.run_until_complete(asyncio.wait([task]))
        assert stand_in.done() and stand_in.cancelled()
    finally:
        loop.close()


def test_first_step_inside_a_real_task_and_resume_close():
    """first_step() also works when a real task is current (it cannot stand in then); closing
    a _Resume closes the coroutine it drives."""
    loop = asyncio.new_event_loop()
    try:
        state = types.SimpleNamespace(loop=loop, eager_task=None)

        async def quick():
            return "done"

        async def inside_a_task():
            with pytest.raises(StopIteration) as stop:
                _eager.first_step(state, quick())
            return stop.value.value

        assert loop.run_until_complete(inside_a_task()) == "done"

        closed = []

        @types.coroutine
        def suspend():
            yield "pending"

        async def suspended():
            try:
                await suspend()
            finally:
                closed.append(True)

        coro = suspended()
        pending = coro.send(None)
        assert pending == "pending"
        driver = _eager._Resume(coro, pending).__await__()
        assert next(driver) is pending
        driver.close()
        assert closed == [True]
    finally:
        loop.close()


# ---- the server context's last resort ------------------------------------------------------------

class RefusingEngine:
    """Stands in for _engine: finish always fails (as with MemoryError); cancel records."""

    def __init__(self, cancel_fails=False):
        self.cancelled = []
        self.cancel_fails = cancel_fails

    def finish(self, *args):
        raise MemoryError()

    def cancel(self, call_id, code, details):
        if self.cancel_fails:
            raise MemoryError()
        self.cancelled.append((call_id, code))


class FakeServer:
    _compression = 0
    _loop_thread_id = None

    def __init__(self):
        self.ended = 0

    def _call_ended(self):
        self.ended += 1


@pytest.mark.allow_error_logs(r"cannot (end|reset) call", r"Cannot end the call")
@pytest.mark.parametrize("cancel_fails", [False, True])
def test_finish_refused_even_for_internal_resets_the_stream(monkeypatch, cancel_fails):
    """When the engine cannot take even our INTERNAL finish, the stream is reset instead; either
    way the server's count of active calls goes down and the done callbacks run."""
    engine = RefusingEngine(cancel_fails)
    monkeypatch.setattr(_server_call, "_engine", engine)  # where finish is sent
    monkeypatch.setattr(_server_checks, "_engine", engine)  # and the INTERNAL ending
    server = FakeServer()
    state = types.SimpleNamespace(calls={}, loop=None)
    ctx = _context.ServicerContext(server, state, 77, "/a.B/C", (), None, "peer", "authority")
    seen = []
    ctx.add_done_callback(seen.append)
    ctx._finish(b"response", 0, "")
    assert server.ended == 1 and seen == [ctx] and ctx.done()
    assert engine.cancelled == ([] if cancel_fails else [(77, 13)])
    ctx._finish(b"again", 0, "")  # once only
    assert server.ended == 1


def test_serialize_response():
    assert _server_checks.serialize_response("text", None) == b"text"
    assert _server_checks.serialize_response(b"raw", None) == b"raw"
    assert bytes(_server_checks.serialize_response(bytearray(b"ba"), None)) == b"ba"
    assert _server_checks.serialize_response(3, lambda n: b"x" * n) == b"xxx"
    with pytest.raises(TypeError, match="returned None"):
        _server_checks.serialize_response(None, None)
    with pytest.raises(TypeError, match="no response_serializer and the handler gave int"):
        _server_checks.serialize_response(42, None)
    with pytest.raises(TypeError, match="the response serializer returned str"):
        _server_checks.serialize_response(1, lambda m: "text")
    with pytest.raises(ValueError, match="boom"):
        _server_checks.serialize_response(1, lambda m: (_ for _ in ()).throw(ValueError("boom")))


def test_describe_exception():
    class Broken(Exception):
        def __str__(self):
            raise RuntimeError("no")

    assert _server_checks.describe_exception(ValueError("v")) == "ValueError: v"
    assert _server_checks.describe_exception(MemoryError()) == "MemoryError"
    assert _server_checks.describe_exception(Broken()) == "Broken: <Broken whose str() failed>"
