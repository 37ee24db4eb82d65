"""Our blocking server (``turbogrpc.server``) against grpcio's blocking client and ours, as the
handler sees it: the four shapes, status and metadata both ways, grpcio's outcomes for failing
handlers, deadlines and cancellation through the ServicerContext.

Setting the server up (server interceptors, options, grpcio-tools servicers) is in
test_sync_server_setup.py; flow control, the concurrency limit and stopping are in
test_sync_server_flow.py. Every wait is bounded (call timeouts, event timeouts).
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time

import grpc
import pytest

import turbogrpc

from sync.blocking_server import SERVICE, rpc_error, running, start, su, ss, uu, us  # noqa: F401


# -- shapes ----------------------------------------------------------------------------------

def test_all_four_shapes(start):
    env = start({
        "Echo": uu(lambda request, context: request * 2),
        "Count": us(lambda request, context: (str(i).encode() for i in range(int(request)))),
        "Join": su(lambda requests, context: b"|".join(requests)),
        "Upper": ss(lambda requests, context: (r.upper() for r in requests)),
    })
    assert env.uu("Echo")(b"ab", timeout=5) == b"abab"
    assert list(env.us("Count")(b"4", timeout=5)) == [b"0", b"1", b"2", b"3"]
    assert env.su("Join")(iter([b"a", b"b", b"c"]), timeout=5) == b"a|b|c"
    assert list(env.ss("Upper")(iter([b"x", b"yz"]), timeout=5)) == [b"X", b"YZ"]
    assert list(env.us("Count")(b"0", timeout=5)) == []
    assert env.su("Join")(iter([]), timeout=5) == b""


def test_large_messages_both_ways(start):
    env = start({
        "Echo": uu(lambda request, context: request),
        "Chunks": us(lambda request, context: (request for _ in range(3))),
    })
    big = bytes(range(256)) * 12_000  # ~3 MiB: engine buffers, views on the way in
    assert env.uu("Echo")(big, timeout=10) == big
    assert list(env.us("Chunks")(big[:300_000], timeout=10)) == [big[:300_000]] * 3


def test_handlers_run_on_the_thread_pool_with_a_fresh_context_per_call(start):
    seen = []
    variable = contextvars.ContextVar("variable", default="unset")

    def handler(request, context):
        seen.append((threading.current_thread().name, variable.get()))
        variable.set("set by the handler")
        return request

    env = start({"Echo": uu(handler)}, workers=1)
    for _ in range(3):
        env.uu("Echo")(b"x", timeout=5)
    assert [name.startswith("test-handler") for name, _ in seen] == [True] * 3
    assert [value for _, value in seen] == ["unset"] * 3


def test_generic_handlers_are_asked_in_order(start, client):
    class Generic(grpc.GenericRpcHandler):
        def __init__(self, answer):
            self.asked = []
            self.answer = answer

        def service(self, handler_call_details):
            self.asked.append((handler_call_details.method,
                               dict(handler_call_details.invocation_metadata).get("x-k")))
            if handler_call_details.method.endswith(self.answer):
                return uu(lambda request, context: self.answer.encode())
            return None

    first, second = Generic("A"), Generic("B")
    with running((first, second)) as (_, port), \
            client.insecure_channel(f"127.0.0.1:{port}") as channel:
        assert channel.unary_unary("/x.Y/B")(b"", timeout=5, metadata=[("x-k", "v")]) == b"B"
        assert first.asked == [("/x.Y/B", "v")] and second.asked == [("/x.Y/B", "v")]
        error = rpc_error(channel.unary_unary("/x.Y/C"), b"", timeout=5)
        assert error.code() is grpc.StatusCode.UNIMPLEMENTED
        assert error.details() == "Method not found!"


# -- status ------------------------------------------------------------------------------------

def test_abort_ends_the_call_with_its_status(start):
    def handler(request, context):
        context.set_trailing_metadata((("why", "because"),))
        context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
        raise AssertionError("abort returned")

    env = start({"Abort": uu(handler)})
    error = rpc_error(env.uu("Abort"), b"", timeout=5)
    assert error.code() is grpc.StatusCode.NOT_FOUND
    assert error.details() == "no such thing"
    assert ("why", "because") in [tuple(m) for m in error.trailing_metadata()]


def test_abort_with_status_sends_its_trailing_metadata(start):
    class Status(grpc.Status):
        code = grpc.StatusCode.PERMISSION_DENIED
        details = "go away"
        trailing_metadata = (("reason-bin", b"\x00\x01"),)

    env = start({"Deny": uu(lambda request, context: context.abort_with_status(Status()))})
    error = rpc_error(env.uu("Deny"), b"", timeout=5)
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED and error.details() == "go away"
    assert ("reason-bin", b"\x00\x01") in [tuple(m) for m in error.trailing_metadata()]


def test_an_abort_caught_by_the_handler_still_sets_the_status(start):
    def handler(request, context):
        try:
            context.abort(grpc.StatusCode.ABORTED, "caught")
        except Exception:
            pass
        return b"ignored"

    env = start({"Caught": uu(handler)})
    error = rpc_error(env.uu("Caught"), b"", timeout=5)
    assert error.code() is grpc.StatusCode.ABORTED and error.details() == "caught"


@pytest.mark.allow_error_logs(r"^abort\(\) called with StatusCode.OK; returning UNKNOWN$")
def test_abort_with_ok_ends_unknown_as_grpcio(start):
    env = start({"Ok": uu(lambda request, context: context.abort(grpc.StatusCode.OK, "fine"))})
    error = rpc_error(env.uu("Ok"), b"", timeout=5)
    assert error.code() is grpc.StatusCode.UNKNOWN and error.details() == ""


def test_set_code_and_details(start):
    seen = {}

    def handler(request, context):
        seen["before"] = (context.code(), context.details())
        context.set_code(grpc.StatusCode.FAILED_PRECONDITION)
        context.set_details("not yet é")
        seen["after"] = (context.code(), context.details())
        return b"not sent"

    def streamed(request, context):
        yield b"one"
        context.set_code(grpc.StatusCode.DATA_LOSS)
        context.set_details("lost")

    env = start({"Code": uu(handler), "Stream": us(streamed)})
    error = rpc_error(env.uu("Code"), b"", timeout=5)
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION and error.details() == "not yet é"
    # grpcio's blocking context returns the details encoded
    assert seen == {"before": (None, None),
                    "after": (grpc.StatusCode.FAILED_PRECONDITION, "not yet é".encode())}
    call = env.us("Stream")(b"", timeout=5)
    assert next(call) == b"one"
    with pytest.raises(grpc.RpcError):
        next(call)
    assert call.code() is grpc.StatusCode.DATA_LOSS and call.details() == "lost"


def test_ok_with_details(start):
    def handler(request, context):
        context.set_details("all good")
        return b"r"

    env = start({"Ok": uu(handler)})
    response, call = env.uu("Ok").with_call(b"", timeout=5)
    assert response == b"r" and call.code() is grpc.StatusCode.OK
    # sent as grpcio's server sends it; clients (grpcio's, ours) drop the details of an OK status
    assert call.details() == ""


# -- handlers that fail, as grpcio ------------------------------------------------------------

@pytest.mark.allow_error_logs(r"^Exception calling application: boom$")
def test_a_raising_handler_ends_unknown_with_grpcios_log_line(start, caplog):
    def handler(request, context):
        raise ValueError("boom")

    env = start({"Boom": uu(handler), "BoomStream": us(handler), "BoomIn": su(handler)})
    with caplog.at_level(logging.ERROR, logger="turbogrpc"):
        for call in (env.uu("Boom"), lambda *a, **k: list(env.us("BoomStream")(*a, **k))):
            error = rpc_error(call, b"", timeout=5)
            assert error.code() is grpc.StatusCode.UNKNOWN
            assert error.details() == "Exception calling application: boom"
        error = rpc_error(env.su("BoomIn"), iter([b"a"]), timeout=5)
        assert error.details() == "Exception calling application: boom"
    records = [r for r in caplog.records if r.getMessage() == "Exception calling application: boom"]
    assert len(records) == 3 and all(r.exc_info and r.exc_info[0] is ValueError for r in records)


@pytest.mark.allow_error_logs(r"^Exception calling application: not implemented here$")
def test_a_code_set_before_raising_wins(start):
    def handler(request, context):
        context.set_code(grpc.StatusCode.UNIMPLEMENTED)
        raise NotImplementedError("not implemented here")

    env = start({"Half": uu(handler)})
    error = rpc_error(env.uu("Half"), b"", timeout=5)
    assert error.code() is grpc.StatusCode.UNIMPLEMENTED
    assert error.details() == "Exception calling application: not implemented here"


@pytest.mark.allow_error_logs(r"^Exception iterating responses: ")
def test_a_raising_response_iterator_and_a_list_instead_of_an_iterator(start):
    def breaks(request, context):
        yield b"first"
        raise KeyError("gone")

    env = start({"Breaks": us(breaks), "List": us(lambda request, context: [b"a", b"b"])})
    call = env.us("Breaks")(b"", timeout=5)
    assert next(call) == b"first"
    with pytest.raises(grpc.RpcError):
        next(call)
    assert call.code() is grpc.StatusCode.UNKNOWN
    assert call.details() == "Exception iterating responses: 'gone'"
    error = rpc_error(lambda: list(env.us("List")(b"", timeout=5)))
    assert error.code() is grpc.StatusCode.UNKNOWN
    assert error.details() == "Exception iterating responses: 'list' object is not an iterator"


def test_a_none_response_ends_a_response_stream_as_grpcio(start):
    env = start({"Stops": us(lambda request, context: iter([b"a", None, b"never"]))})
    assert list(env.us("Stops")(b"", timeout=5)) == [b"a"]


@pytest.mark.allow_error_logs(r"^Exception serializing message!$")
def test_responses_that_do_not_serialize_end_internal(start):
    def bad_serializer(message):
        raise TypeError("cannot")

    env = start({
        "None": uu(lambda request, context: None),
        "Bad": uu(lambda request, context: b"x", response_serializer=bad_serializer),
        "Wrong": uu(lambda request, context: 42),
    })
    for name in ("None", "Bad", "Wrong"):
        error = rpc_error(env.uu(name), b"", timeout=5)
        assert (error.code(), error.details()) == (
            grpc.StatusCode.INTERNAL, "Failed to serialize response!"), name


@pytest.mark.allow_error_logs(r"^Exception deserializing message!$")
def test_a_request_that_does_not_deserialize_ends_internal(start):
    def bad(data):
        raise ValueError("not a request")

    env = start({
        "Unary": uu(lambda request, context: b"never", request_deserializer=bad),
        "Stream": turbogrpc.stream_unary_rpc_method_handler(
            lambda requests, context: b"%d" % len(list(requests)), request_deserializer=bad),
    })
    for call, request in ((env.uu("Unary"), b"x"), (env.su("Stream"), iter([b"x"]))):
        error = rpc_error(call, request, timeout=5)
        assert (error.code(), error.details()) == (
            grpc.StatusCode.INTERNAL, "Exception deserializing request!")


def test_a_unary_method_without_a_request_message(start):
    env = start({"Unary": uu(lambda request, context: b"never")})
    error = rpc_error(env.su("Unary"), iter([]), timeout=5)
    assert error.code() is grpc.StatusCode.UNIMPLEMENTED
    assert error.details() == f'"/{SERVICE}/Unary" requires exactly one request message.'


# -- metadata ----------------------------------------------------------------------------------

def test_metadata_both_ways(start):
    seen = {}

    def handler(request, context):
        seen["metadata"] = [(m.key, m.value) for m in context.invocation_metadata()
                            if m.key.startswith("x-")]
        assert context.trailing_metadata() is None
        context.send_initial_metadata((("initial", "i"), ("initial-bin", b"\xff")))
        with pytest.raises(ValueError, match="Initial metadata no longer allowed!"):
            context.send_initial_metadata((("again", "no"),))
        context.set_trailing_metadata((("trailing", "t"),))
        seen["trailing"] = context.trailing_metadata()
        return request

    env = start({"Echo": uu(handler)})
    response, call = env.uu("Echo").with_call(
        b"m", timeout=5, metadata=(("x-a", "1"), ("x-b-bin", b"\x00\x02"), ("x-a", "2")))
    assert response == b"m"
    assert seen["metadata"] == [("x-a", "1"), ("x-b-bin", b"\x00\x02"), ("x-a", "2")]
    assert seen["trailing"] == (("trailing", "t"),)
    initial = [tuple(m) for m in call.initial_metadata()]
    assert ("initial", "i") in initial and ("initial-bin", b"\xff") in initial
    assert ("trailing", "t") in [tuple(m) for m in call.trailing_metadata()]


@pytest.mark.allow_error_logs(r"Invalid trailing metadata", r"^Exception calling application: ")
def test_metadata_the_engine_refuses_ends_the_call_instead_of_hanging_it(start):
    def bad_trailing(request, context):
        context.set_trailing_metadata((("bad key", "v"),))
        return b"r"

    def bad_initial(request, context):
        context.send_initial_metadata((("x", "caf\u00e9 \n"),))  # raises here, as grpcio
        return b"r"

    env = start({"Trailing": uu(bad_trailing), "Initial": uu(bad_initial)})
    error = rpc_error(env.uu("Trailing"), b"", timeout=5)
    assert error.code() is grpc.StatusCode.INTERNAL
    assert error.details().startswith("Invalid trailing metadata")
    error = rpc_error(env.uu("Initial"), b"", timeout=5)
    assert error.code() is grpc.StatusCode.UNKNOWN
    assert error.details().startswith("Exception calling application: ")


def test_initial_metadata_reaches_the_client_before_the_response(start):
    sent = threading.Event()
    release = threading.Event()

    def handler(request, context):
        context.send_initial_metadata((("early", "yes"),))
        sent.set()
        release.wait(5)
        yield b"late"

    env = start({"Early": us(handler)})
    call = env.us("Early")(b"", timeout=5)
    assert sent.wait(5)
    assert ("early", "yes") in [tuple(m) for m in call.initial_metadata()]
    release.set()
    assert list(call) == [b"late"]


def test_peer_and_auth_context_of_a_plaintext_call(start):
    seen = {}

    def handler(request, context):
        seen.update(peer=context.peer(), identities=context.peer_identities(),
                    key=context.peer_identity_key(), auth=context.auth_context())
        return b""

    env = start({"Who": uu(handler)})
    env.uu("Who")(b"", timeout=5)
    assert seen["peer"].startswith("ipv4:127.0.0.1:")
    assert seen["identities"] is None and seen["key"] is None
    assert seen["auth"] == {"transport_security_type": [b"insecure"],
                            "security_level": [b"TSI_SECURITY_NONE"]}


# -- deadlines and cancellation ----------------------------------------------------------------

def test_the_handler_sees_the_deadline_and_its_end(start):
    seen = {}
    ended = threading.Event()

    def handler(request, context):
        seen["remaining"] = context.time_remaining()
        seen["added"] = context.add_callback(ended.set)
        deadline = time.monotonic() + 5
        while context.is_active() and time.monotonic() < deadline:
            time.sleep(0.01)
        seen["active_after"] = context.is_active()
        seen["remaining_after"] = context.time_remaining()
        seen["late_callback"] = context.add_callback(lambda: None)
        return b"too late"

    env = start({"Slow": uu(handler)})
    error = rpc_error(env.uu("Slow"), b"", timeout=0.5)
    assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert ended.wait(5)
    deadline_passed = time.monotonic() + 5
    while "late_callback" not in seen and time.monotonic() < deadline_passed:
        time.sleep(0.01)
    # grpc-core reads its clock once per batch of work, so its handler can see up to a few
    # milliseconds more than the timeout it was sent (0.5007 s measured).
    assert 0 < seen["remaining"] <= 0.5 + 0.01 and seen["added"] is True
    assert seen["active_after"] is False and seen["remaining_after"] < 0.05
    assert seen["late_callback"] is False


def test_without_a_deadline_time_remaining_is_grpcios_huge_number(start):
    seen = []
    env = start({"T": uu(lambda request, context: seen.append(context.time_remaining()) or b"")})
    env.uu("T")(b"")
    assert seen[0] > 1e17


def test_a_client_cancel_reaches_the_handler(start):
    events = {"callback": threading.Event(), "started": threading.Event()}
    seen = {}

    def hold(request, context):
        context.add_callback(events["callback"].set)
        events["started"].set()
        deadline = time.monotonic() + 5
        while context.is_active() and time.monotonic() < deadline:
            time.sleep(0.01)
        return b""

    def read_all(requests, context):
        try:
            for _ in requests:
                pass
        except grpc.RpcError as error:
            seen["error"] = error
            raise  # our own RpcError: not logged as a failing handler
        return b""

    env = start({"Hold": uu(hold), "ReadAll": su(read_all)})
    future = env.uu("Hold").future(b"", timeout=10)
    assert events["started"].wait(5)
    assert future.cancel()
    assert events["callback"].wait(5), "add_callback did not fire on cancellation"

    feeding = threading.Event()

    def requests():
        yield b"one"
        feeding.wait(5)
        yield b"two"

    future = env.su("ReadAll").future(requests(), timeout=10)
    time.sleep(0.2)
    future.cancel()
    feeding.set()
    deadline = time.monotonic() + 5
    while "error" not in seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert isinstance(seen.get("error"), grpc.RpcError)


def test_the_handler_cancels_its_call(start):
    callback = threading.Event()

    def handler(request, context):
        context.add_callback(callback.set)
        context.cancel()
        assert not context.is_active()
        return b"not sent"

    env = start({"Cancel": uu(handler)})
    error = rpc_error(env.uu("Cancel"), b"", timeout=5)
    assert error.code() is grpc.StatusCode.CANCELLED
    assert callback.wait(5)
