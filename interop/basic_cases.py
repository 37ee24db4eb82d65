"""The interop client cases without compression, as the interop test descriptions specify.

Each case is ``async def case(env)`` and raises CaseFailed on the first difference.
"""

from turbogrpc import aio

from _client_support import CALL_TIMEOUT, check, expect_code, expect_zeros, finish_quietly

__all__ = ["BASIC_CASES"]

OK = aio.StatusCode.OK
ECHO_INITIAL = ("x-grpc-test-echo-initial", "test_initial_metadata_value")
ECHO_TRAILING = ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab")
STATUS_MESSAGE = "test status message"
SPECIAL_STATUS_MESSAGE = (
    "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
)
CLIENT_STREAM_SIZES = (27182, 8, 1828, 45904)
SERVER_STREAM_SIZES = (31415, 9, 2653, 58979)


async def empty_unary(env):
    response = await env.stub.EmptyCall(env.empty.Empty(), timeout=CALL_TIMEOUT)
    check(response == env.empty.Empty(), f"response {response!r} is not an empty message")


async def large_unary(env):
    response = await env.stub.UnaryCall(env.simple_request(314159, 271828), timeout=CALL_TIMEOUT)
    expect_zeros(response.payload, 314159, "response")


async def client_streaming(env):
    call = env.stub.StreamingInputCall(timeout=CALL_TIMEOUT)
    for size in CLIENT_STREAM_SIZES:
        await call.write(env.messages.StreamingInputCallRequest(payload=env.payload(size)))
    await call.done_writing()
    response = await call
    total = sum(CLIENT_STREAM_SIZES)
    check(response.aggregated_payload_size == total,
          f"aggregated_payload_size {response.aggregated_payload_size}, expected {total}")


async def server_streaming(env):
    request = env.streaming_output_request(SERVER_STREAM_SIZES)
    sizes = []
    async for response in env.stub.StreamingOutputCall(request, timeout=CALL_TIMEOUT):
        index = len(sizes)
        if index < len(SERVER_STREAM_SIZES):
            expect_zeros(response.payload, SERVER_STREAM_SIZES[index], f"response {index}")
        sizes.append(len(response.payload.body))
    check(len(sizes) == len(SERVER_STREAM_SIZES),
          f"{len(sizes)} responses (sizes {sizes}), expected {len(SERVER_STREAM_SIZES)}")


async def ping_pong(env):
    call = env.stub.FullDuplexCall(timeout=CALL_TIMEOUT)
    for index, (response_size, payload_size) in enumerate(
            zip(SERVER_STREAM_SIZES, CLIENT_STREAM_SIZES)):
        await call.write(env.streaming_output_request((response_size,), payload_size))
        response = await call.read()
        check(response is not aio.EOF, f"ping {index}: the stream ended without a response")
        expect_zeros(response.payload, response_size, f"pong {index}")
    await call.done_writing()
    extra = await call.read()
    check(extra is aio.EOF, f"a response after the last pong: {extra!r}")
    await expect_code(call, OK, "ping_pong")


async def empty_stream(env):
    call = env.stub.FullDuplexCall(timeout=CALL_TIMEOUT)
    await call.done_writing()
    response = await call.read()
    check(response is aio.EOF, f"got a response on an empty stream: {response!r}")
    await expect_code(call, OK, "empty_stream")


async def timeout_on_sleeping_server(env):
    call = env.stub.FullDuplexCall(timeout=0.001)
    # The deadline may already have passed: the write's own failure does not matter.
    await finish_quietly(call.write(env.streaming_output_request((), 27182)))
    await expect_code(call, aio.StatusCode.DEADLINE_EXCEEDED, "FullDuplexCall with 1 ms deadline")


async def cancel_after_begin(env):
    call = env.stub.StreamingInputCall(timeout=CALL_TIMEOUT)
    call.cancel()
    await finish_quietly(call)  # awaiting a cancelled call raises CancelledError (grpc.aio)
    await expect_code(call, aio.StatusCode.CANCELLED, "StreamingInputCall cancelled at once")


async def cancel_after_first_response(env):
    call = env.stub.FullDuplexCall(timeout=CALL_TIMEOUT)
    await call.write(env.streaming_output_request((31415,), 27182))
    response = await call.read()
    check(response is not aio.EOF, "the stream ended before the first response")
    expect_zeros(response.payload, 31415, "first response")
    call.cancel()
    await expect_code(call, aio.StatusCode.CANCELLED, "FullDuplexCall cancelled after a response")


async def _check_echoed(call, what):
    initial = await call.initial_metadata()
    trailing = await call.trailing_metadata()
    key, value = ECHO_INITIAL
    check(initial.get_all(key) == [value],
          f"{what}: initial metadata {key} = {initial.get_all(key)!r}, expected [{value!r}]")
    key, value = ECHO_TRAILING
    check(trailing.get_all(key) == [value],
          f"{what}: trailing metadata {key} = {trailing.get_all(key)!r}, expected [{value!r}]")


async def custom_metadata(env):
    metadata = (ECHO_INITIAL, ECHO_TRAILING)
    call = env.stub.UnaryCall(env.simple_request(314159, 271828), metadata=metadata,
                              timeout=CALL_TIMEOUT)
    response = await call
    expect_zeros(response.payload, 314159, "UnaryCall response")
    await _check_echoed(call, "UnaryCall")

    call = env.stub.FullDuplexCall(metadata=metadata, timeout=CALL_TIMEOUT)
    await call.write(env.streaming_output_request((314159,), 271828))
    response = await call.read()
    check(response is not aio.EOF, "FullDuplexCall: the stream ended without a response")
    expect_zeros(response.payload, 314159, "FullDuplexCall response")
    await call.done_writing()
    check(await call.read() is aio.EOF, "FullDuplexCall: more than one response")
    await expect_code(call, OK, "FullDuplexCall")
    await _check_echoed(call, "FullDuplexCall")


async def _status_echo(env, code, message, full_duplex_too):
    status = env.messages.EchoStatus(code=code, message=message)
    expected = list(aio.StatusCode)[code]  # members are in wire-code order
    call = env.stub.UnaryCall(env.simple_request(0, 0, response_status=status),
                              timeout=CALL_TIMEOUT)
    await finish_quietly(call)
    await expect_code(call, expected, "UnaryCall", details=message)
    if not full_duplex_too:
        return
    call = env.stub.FullDuplexCall(timeout=CALL_TIMEOUT)
    await finish_quietly(call.write(env.streaming_output_request((), response_status=status)))
    await finish_quietly(call.done_writing())
    await expect_code(call, expected, "FullDuplexCall", details=message)


async def status_code_and_message(env):
    await _status_echo(env, 2, STATUS_MESSAGE, full_duplex_too=True)


async def special_status_message(env):
    await _status_echo(env, 2, SPECIAL_STATUS_MESSAGE, full_duplex_too=False)


async def unimplemented_method(env):
    call = env.stub.UnimplementedCall(env.empty.Empty(), timeout=CALL_TIMEOUT)
    await finish_quietly(call)
    await expect_code(call, aio.StatusCode.UNIMPLEMENTED, "TestService/UnimplementedCall")


async def unimplemented_service(env):
    call = env.stub.UnimplementedServiceCall(env.empty.Empty(), timeout=CALL_TIMEOUT)
    await finish_quietly(call)
    await expect_code(call, aio.StatusCode.UNIMPLEMENTED, "UnimplementedService/UnimplementedCall")


BASIC_CASES = {
    case.__name__: case for case in (
        empty_unary, large_unary, client_streaming, server_streaming, ping_pong, empty_stream,
        timeout_on_sleeping_server, cancel_after_begin, cancel_after_first_response,
        custom_metadata, status_code_and_message, special_status_message, unimplemented_method,
        unimplemented_service,
    )
}
