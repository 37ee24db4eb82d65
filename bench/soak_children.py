"""The two processes bench/soak.py puts under test: `serve` (our — or grpc.aio's — soak server)
and `client` (our client against a grpc.testing.TestService server). Each prints
`PROGRESS {"t","calls","rss"}` lines (its own VmRSS and calls completed) every 0.25 s, which the
parent in bench/soak.py samples; see its docstring for the phases that start them.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time

SHAPES = ("unary", "server_stream", "client_stream", "bidi")
MESSAGES_PER_STREAM = 4  # messages each way of a short streaming call
MESSAGE_SIZE = 32
PROGRESS_INTERVAL_S = 0.25

# Our server's service: raw bytes in and out, so the process under test spends nothing on protobuf.
SOAK_SERVICE = "turbogrpc.soak.Soak"
# The Go load generator calls this path (bench/bench.proto); the same raw echo answers it.
LOADGEN_UNARY = ("turbogrpc.bench.Bench", "Unary")
# Our client: calls in flight per shape, all on one channel.
CLIENT_CONCURRENCY = {"unary": 64, "server_stream": 16, "client_stream": 16, "bidi": 16}

def _rss_self() -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def _import_aio(stack: str):
    if stack == "ours":
        import turbogrpc.aio as aio  # noqa: PLC0415
    else:
        import grpc.aio as aio  # noqa: PLC0415
    return aio


async def _report_progress(counter, started: float, stop: asyncio.Event):
    """Prints a PROGRESS line every PROGRESS_INTERVAL_S until `stop` is set (and once more)."""
    while True:
        line = {"t": round(time.monotonic() - started, 3), "calls": counter(), "rss": _rss_self(),
                "py_blocks": sys.getallocatedblocks()}
        print("PROGRESS " + json.dumps(line), flush=True)
        if stop.is_set():
            return
        try:
            await asyncio.wait_for(stop.wait(), PROGRESS_INTERVAL_S)
        except asyncio.TimeoutError:
            pass


# ---- child: the server under test --------------------------------------------------------

def _server_handlers(completed: dict):
    """The soak service: every handler counts itself when it finished normally."""
    import grpc  # noqa: PLC0415

    reply = b"s" * MESSAGE_SIZE

    async def unary(request, context):
        completed["unary"] += 1
        return request  # echo

    async def server_stream(request, context):
        # request: one byte, how many replies
        for _ in range(request[0] if request else 0):
            yield reply
        completed["server_stream"] += 1

    async def client_stream(request_iterator, context):
        count = size = 0
        async for message in request_iterator:
            count += 1
            size += len(message)
        completed["client_stream"] += 1
        return b"%d %d" % (count, size)

    async def bidi(request_iterator, context):
        async for message in request_iterator:
            yield message  # echo each
        completed["bidi"] += 1

    return (
        grpc.method_handlers_generic_handler(SOAK_SERVICE, {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
            "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
            "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        }),
        grpc.method_handlers_generic_handler(LOADGEN_UNARY[0], {
            LOADGEN_UNARY[1]: grpc.unary_unary_rpc_method_handler(unary),
        }),
    )


async def _serve(args):
    aio = _import_aio(args.stack)
    completed = {shape: 0 for shape in SHAPES}
    server = aio.server()
    server.add_generic_rpc_handlers(_server_handlers(completed))
    port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"LISTENING {port}", flush=True)
    await _report_progress(lambda: sum(completed.values()), time.monotonic(), stop)
    print("COMPLETED " + json.dumps(completed), flush=True)
    await server.stop(0)


# ---- child: the client under test --------------------------------------------------------
# It calls grpc.testing.TestService (grpc-go's interop server) with hand-encoded protobuf, so
# no protobuf runs in the process under test: requests are encoded once, replies compared as bytes.

TEST_SERVICE = "/grpc.testing.TestService/"


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (payloads here are < 128 bytes)."""
    assert len(payload) < 128
    return bytes([number << 3 | 2, len(payload)]) + payload


def _varint_field(number: int, value: int) -> bytes:
    out = bytearray([number << 3])
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


_PAYLOAD = _field(2, b"p" * MESSAGE_SIZE)                        # Payload{body}
_REPLY_PAYLOAD = _field(1, _field(2, bytes(MESSAGE_SIZE)))        # {payload: Payload{body: zeros}}
_ONE_REPLY = _field(2, _varint_field(1, MESSAGE_SIZE))            # response_parameters {size}
WIRE = {
    # SimpleRequest{response_size, payload} -> SimpleResponse{payload}
    "unary": (_varint_field(2, MESSAGE_SIZE) + _field(3, _PAYLOAD), _REPLY_PAYLOAD),
    # StreamingOutputCallRequest{response_parameters x4} -> 4 x StreamingOutputCallResponse
    "server_stream": (_ONE_REPLY * MESSAGES_PER_STREAM, _REPLY_PAYLOAD),
    # 4 x StreamingInputCallRequest{payload} -> {aggregated_payload_size}
    "client_stream": (_field(1, _PAYLOAD),
                      _varint_field(1, MESSAGES_PER_STREAM * MESSAGE_SIZE)),
    # 4 x (StreamingOutputCallRequest{response_parameters x1} -> one reply)
    "bidi": (_ONE_REPLY, _REPLY_PAYLOAD),
}


class _BadReply(Exception):
    pass


def _check(got, expected, what):
    if got != expected:
        raise _BadReply(f"{what}: got {got!r:.80}, expected {expected!r:.80}")


async def _client(args):
    aio = _import_aio(args.stack)
    shapes = args.shapes.split(",")
    done = {shape: 0 for shape in shapes}
    errors: dict[str, int] = {}
    started = time.monotonic()
    until = started + args.seconds
    channel = aio.insecure_channel(args.target)
    methods = {
        "unary": channel.unary_unary(TEST_SERVICE + "UnaryCall"),
        "server_stream": channel.unary_stream(TEST_SERVICE + "StreamingOutputCall"),
        "client_stream": channel.stream_unary(TEST_SERVICE + "StreamingInputCall"),
        "bidi": channel.stream_stream(TEST_SERVICE + "FullDuplexCall"),
    }

    timeout = args.deadline  # None: no deadline (see --deadline)

    async def one_call(shape):
        request, reply = WIRE[shape]
        method = methods[shape]
        if shape == "unary":
            _check(await method(request, timeout=timeout), reply, shape)
        elif shape == "server_stream":
            call = method(request, timeout=timeout)
            for _ in range(MESSAGES_PER_STREAM):
                _check(await call.read(), reply, shape)
            _check(await call.read(), aio.EOF, shape)
        elif shape == "client_stream":
            call = method(timeout=timeout)
            for _ in range(MESSAGES_PER_STREAM):
                await call.write(request)
            await call.done_writing()
            _check(await call, reply, shape)
        else:
            call = method(timeout=timeout)
            for _ in range(MESSAGES_PER_STREAM):
                await call.write(request)
                _check(await call.read(), reply, shape)
            await call.done_writing()
            _check(await call.read(), aio.EOF, shape)

    total = lambda: sum(done.values())  # noqa: E731

    async def worker(shape):
        while total() < args.calls and time.monotonic() < until:
            try:
                await one_call(shape)
            except Exception as error:  # noqa: BLE001 - every failure is counted by kind
                code = getattr(error, "code", None)
                name = code().name if callable(code) else type(error).__name__
                errors[f"{shape}:{name}"] = errors.get(f"{shape}:{name}", 0) + 1
                if sum(errors.values()) > 100:
                    return  # something is badly wrong: stop instead of spinning
                continue
            done[shape] += 1

    stop = asyncio.Event()
    reporter = asyncio.ensure_future(_report_progress(total, started, stop))
    try:
        await asyncio.gather(*(worker(shape) for shape in shapes
                               for _ in range(CLIENT_CONCURRENCY[shape])))
    finally:
        stop.set()
        await reporter
        await channel.close()
    print("DONE " + json.dumps({"calls": done, "errors": errors,
                                "seconds": round(time.monotonic() - started, 3)}), flush=True)


def _run_child(coro_fn, args):
    if args.uvloop:
        import uvloop  # noqa: PLC0415
        uvloop.run(coro_fn(args))
    else:
        asyncio.run(coro_fn(args))
