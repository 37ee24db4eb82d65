"""The interop client's compression cases (client_/server_compressed_unary/_streaming).

The client cases first probe that the server checks ``expect_compressed`` (an uncompressed
message that claims to be compressed must be refused with INVALID_ARGUMENT); the server cases
check each response's compressed flag with turbogrpc's ``call.last_response_compressed()``.
"""

from turbogrpc import aio

from _client_support import (
    CALL_TIMEOUT, CaseFailed, check, expect_code, expect_zeros, finish_quietly,
)

__all__ = ["COMPRESSION_CASES"]

INVALID_ARGUMENT = aio.StatusCode.INVALID_ARGUMENT


def _bool(env, value):
    return env.messages.BoolValue(value=value)


async def _expect_probe_refused(probe, method):
    what = f"probe: uncompressed {method} request claiming expect_compressed=true"
    if await probe.code() == aio.StatusCode.OK:
        # Not a transport bug: the server simply does not check expect_compressed (grpc-go's
        # interop server does not), so this case cannot run against it.
        raise CaseFailed(f"{what}: the server accepted it (it does not check "
                         "expect_compressed), expected INVALID_ARGUMENT")
    await expect_code(probe, INVALID_ARGUMENT, what)


async def client_compressed_unary(env):
    probe = env.stub.UnaryCall(
        env.simple_request(314159, 271828, expect_compressed=_bool(env, True)),
        timeout=CALL_TIMEOUT)
    await finish_quietly(probe)
    await _expect_probe_refused(probe, "UnaryCall")

    gzip = aio.Compression.Gzip
    for compressed in (True, False):
        request = env.simple_request(314159, 271828, expect_compressed=_bool(env, compressed))
        response = await env.stub.UnaryCall(request, compression=gzip if compressed else None,
                                            timeout=CALL_TIMEOUT)
        expect_zeros(response.payload, 314159,
                     f"response to the {'compressed' if compressed else 'uncompressed'} request")


async def server_compressed_unary(env):
    for compressed in (True, False):
        request = env.simple_request(314159, 271828,
                                     response_compressed=_bool(env, compressed))
        call = env.stub.UnaryCall(request, timeout=CALL_TIMEOUT)
        response = await call
        what = f"response_compressed={compressed}"
        expect_zeros(response.payload, 314159, what)
        got = call.last_response_compressed()
        check(got == compressed, f"{what}: the response arrived with compressed flag {got}")


async def client_compressed_streaming(env):
    request_class = env.messages.StreamingInputCallRequest
    probe = env.stub.StreamingInputCall(timeout=CALL_TIMEOUT)
    await finish_quietly(probe.write(request_class(
        payload=env.payload(27182), expect_compressed=_bool(env, True))))
    await finish_quietly(probe.done_writing())
    await _expect_probe_refused(probe, "StreamingInputCall")

    call = env.stub.StreamingInputCall(compression=aio.Compression.Gzip, timeout=CALL_TIMEOUT)
    await call.write(request_class(payload=env.payload(27182),
                                   expect_compressed=_bool(env, True)))
    await call.write(request_class(payload=env.payload(45904),
                                   expect_compressed=_bool(env, False)), compress=False)
    await call.done_writing()
    response = await call
    check(response.aggregated_payload_size == 73086,
          f"aggregated_payload_size {response.aggregated_payload_size}, expected 73086")


async def server_compressed_streaming(env):
    request = env.messages.StreamingOutputCallRequest(response_type=env.messages.COMPRESSABLE)
    expected = ((True, 31415), (False, 92653))
    for compressed, size in expected:
        request.response_parameters.add(size=size, compressed=_bool(env, compressed))
    call = env.stub.StreamingOutputCall(request, timeout=CALL_TIMEOUT)
    for index, (compressed, size) in enumerate(expected):
        response = await call.read()
        check(response is not aio.EOF, f"the stream ended after {index} responses, expected 2")
        expect_zeros(response.payload, size, f"response {index}")
        got = call.last_response_compressed()
        check(got == compressed,
              f"response {index}: compressed flag {got}, expected {compressed}")
    check(await call.read() is aio.EOF, "more than 2 responses")
    await expect_code(call, aio.StatusCode.OK, "StreamingOutputCall")


COMPRESSION_CASES = {
    case.__name__: case for case in (
        client_compressed_unary, server_compressed_unary, client_compressed_streaming,
        server_compressed_streaming,
    )
}
