"""The five benchmark scenarios of issue 4, plus S1 and S4 over TLS (S1-TLS, S4-TLS), S1 and
S2 with one pass-through interceptor (S1-interceptor, S2-interceptor), and S1 and S2 on the
blocking (grpcio-style, thread-based) API (S1-sync, S2-sync), one
function per measured cell, and the metrics they report. A cell runs one stack once: start the
process under test (pinned to core 0) and its Go peer (pinned to core 1), run the load, stop
both, return the figures.

    result = CELLS["s1"].run(ctx, "turbogrpc")  # {"metrics": {...}, "raw": {...}, "errors": {...}}

A TLS cell serves the same service with ssl_server_credentials (ALPN h2) and its Go client
dials with the run's root certificate (ctx.tls, made by bench/certs.py); nothing else differs.

The -sync cells run on their own two stacks, turbogrpc-sync (turbogrpc.server /
turbogrpc.insecure_channel) and grpc-sync (grpc.server / grpc.insecure_channel): their ratio is
turbogrpc-sync over grpc-sync in the same round, where every other cell's is turbogrpc over
grpcaio. Same loads as S1 and S2: the Go client against a blocking server with 16 handler
threads; a blocking client (1 or 16 threads sharing one channel) against the Go server.
"""

import json
import math
import os
import resource
import sys
import time
from dataclasses import dataclass

from certs import TlsFiles
from processes import Pinned, ProcessError, vmrss_bytes

__all__ = ["Context", "Settings", "Metric", "Cell", "METRICS", "CELLS", "QUICK", "FULL",
           "MissingApi", "SUBJECT", "BASELINE", "SYNC_SUBJECT", "SYNC_BASELINE", "SYNC_STACKS"]

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SERVER_CORE, PEER_CORE = 0, 1
START_TIMEOUT_S = 60

# Whose figure is over whose in a metric's ratio: the asyncio stacks' cells, then the -sync ones.
SUBJECT, BASELINE = "turbogrpc", "grpcaio"
SYNC_SUBJECT, SYNC_BASELINE = "turbogrpc-sync", "grpc-sync"
SYNC_STACKS = (SYNC_SUBJECT, SYNC_BASELINE)  # they run the -sync cells, and only those


@dataclass(frozen=True)
class Settings:
    duration: float        # measured seconds of each time-based cell
    warmup: float          # seconds excluded before measuring
    pingpong_count: int    # measured round trips
    pingpong_warmup: int   # round trips excluded
    hold_streams: int      # scenario 5's open streams


FULL = Settings(duration=10, warmup=2, pingpong_count=20_000, pingpong_warmup=2_000,
                hold_streams=10_000)
QUICK = Settings(duration=1.5, warmup=0.5, pingpong_count=2_000, pingpong_warmup=200,
                 hold_streams=1_000)

# Load shapes, the same for every stack.
S1_CONCURRENCY = 100      # calls in flight from the Go client, one connection
S3_STREAMS = 4            # concurrent ServerStream calls
S4_SIZE = 4 * 1024 * 1024
HOLD_STREAMS_PER_CONNECTION = 100  # grpclib (h2) advertises MAX_CONCURRENT_STREAMS 100
S2_SYNC_THREADS = (1, 16)  # S2-sync: blocking callers sharing one channel, one call each at a time


@dataclass
class Context:
    loadgen: str       # path of the Go binary
    settings: Settings
    log_dir: str
    tls: TlsFiles | None = None  # the run's certificates; needed by the TLS cells only


@dataclass(frozen=True)
class Metric:
    id: str
    scenario: int
    label: str
    unit: str
    higher_is_better: bool
    bar: tuple | None  # (">=" or "<=", ratio turbogrpc/grpcaio) from the issue, or None
    tls: bool = False  # measured over TLS: reported as scenario "S<n>-TLS"
    # Set for the interceptor cells: the bar is then turbogrpc's figure over its own figure of
    # this metric in the same round (what one interceptor costs), not a ratio to grpc.aio.
    relative_to: str | None = None
    # The blocking API ("S<n>-sync"): the ratio is turbogrpc-sync over grpc-sync.
    sync: bool = False

    @property
    def name(self):
        suffix = "-TLS" if self.tls else "-interceptor" if self.relative_to else \
            "-sync" if self.sync else ""
        return f"S{self.scenario}{suffix}"

    @property
    def subject(self):
        """The stack whose figure is the ratio's numerator."""
        return SYNC_SUBJECT if self.sync else SUBJECT

    @property
    def baseline(self):
        """The stack whose figure in the same round is the ratio's denominator (the anchor)."""
        return SYNC_BASELINE if self.sync else BASELINE


METRICS = [
    Metric("s1_qps", 1, "server unary QPS (100 B echo, 100 in flight)", "QPS", True, (">=", 3.0)),
    Metric("s1_tls_qps", 1, "server unary QPS over TLS (100 B echo, 100 in flight)", "QPS", True,
           (">=", 8.0), tls=True),
    Metric("s2_qps_c1", 2, "client unary QPS, concurrency 1", "QPS", True, None),
    Metric("s2_qps_c100", 2, "client unary QPS, concurrency 100", "QPS", True, (">=", 2.0)),
    Metric("s1_interceptor_qps", 1, "server unary QPS, one pass-through server interceptor",
           "QPS", True, (">=", 0.85), relative_to="s1_qps"),
    Metric("s2_interceptor_qps_c100", 2, "client unary QPS, c=100, one pass-through client "
           "interceptor", "QPS", True, (">=", 0.80), relative_to="s2_qps_c100"),
    Metric("s1_sync_qps", 1, "blocking server unary QPS (100 B echo, 100 in flight, 16 handler "
           "threads)", "QPS", True, (">=", 3.0), sync=True),
    *(Metric(f"s2_sync_qps_t{threads}", 2, f"blocking client unary QPS, {threads} thread"
             + ("s sharing one channel" if threads > 1 else ""), "QPS", True, (">=", 2.0),
             sync=True) for threads in S2_SYNC_THREADS),
    Metric("s3_msgs", 3, f"server-streaming msgs/s (100 B, {S3_STREAMS} streams)", "msg/s",
           True, (">=", 3.0)),
    Metric("s3_pp_p50", 3, "bidi ping-pong latency p50", "µs", False, ("<=", 0.6)),
    Metric("s3_pp_p99", 3, "bidi ping-pong latency p99", "µs", False, None),
    Metric("s4_mbps", 4, "4 MiB unary echo throughput, protobuf handler", "MB/s", True,
           (">=", 1.5)),
    Metric("s4_bytes_mbps", 4, "4 MiB unary echo throughput, bytes handler (transport only)",
           "MB/s", True, (">=", 1.5)),
    Metric("s4_tls_bytes_mbps", 4, "4 MiB unary echo throughput over TLS, bytes handler",
           "MB/s", True, (">=", 1.5), tls=True),
    Metric("s5_rss", 5, "resident memory per open stream", "bytes", False, None),
]


class MissingApi(ProcessError):
    """The stack under test lacks the API the cell needs (say, no blocking server yet): the cell
    fails with that reason, and no figure is made up for it."""


def _python():
    return sys.executable


def _log(ctx, stack, what):
    return os.path.join(ctx.log_dir, f"{what}-{stack}.log")


def _tls_files(ctx):
    if ctx.tls is None:
        raise ProcessError("a TLS cell needs the run's certificates (Context.tls)")
    return ctx.tls


def _start_server(ctx, stack, what, tls=False, interceptor=False):
    argv = [_python(), os.path.join(BENCH_DIR, "servers", "serve.py"), "--stack", stack,
            "--port", "0", *(["--interceptor"] if interceptor else [])]
    if tls:
        files = _tls_files(ctx)
        argv += ["--tls-cert", files.server_cert, "--tls-key", files.server_key]
    server = Pinned.start(argv, SERVER_CORE, _log(ctx, stack, what))
    try:
        line = server.wait_for_line(("LISTENING", "MISSING"), START_TIMEOUT_S)
        if line.startswith("MISSING"):  # e.g. turbogrpc-sync before turbogrpc.server exists
            raise MissingApi(f"{stack}: {line.partition(' ')[2]}")
        port = int(line.split()[1])
    except BaseException:
        server.stop()
        raise
    return server, f"127.0.0.1:{port}"


def _json_result(proc, timeout):
    lines = proc.remaining_output(timeout)
    if proc.popen.returncode != 0:
        raise ProcessError(f"{' '.join(proc.argv)} exited {proc.popen.returncode}; "
                           f"log tail:\n{proc.log_tail()}")
    for line in reversed(lines):
        if line.startswith("{"):
            return json.loads(line)
    raise ProcessError(f"no JSON from {' '.join(proc.argv)}; log tail:\n{proc.log_tail()}")


def _cpu_seconds(pid):
    # utime + stime of /proc/PID/stat (fields 14 and 15, after the parenthesised name): the
    # whole process, every thread.
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _reaped_cpu_seconds():
    # CPU of the children waited for so far; the delta around one child's exit is its own.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _measure_busy(running, finishing, timeout):
    """Waits for ``finishing`` (a client printing one JSON) while ``running`` keeps serving;
    returns its JSON plus how busy each one's core was over that time (1.0 = a whole core).

    Shows who the bottleneck was: the process under test should be near 1.0, the Go peer not."""
    running_before, reaped_before = _cpu_seconds(running.pid), _reaped_cpu_seconds()
    began = time.monotonic()
    result = _json_result(finishing, timeout)
    wall = time.monotonic() - began
    busy = {"running": (_cpu_seconds(running.pid) - running_before) / wall,
            "finishing": (_reaped_cpu_seconds() - reaped_before) / wall}
    return result, busy


def _against_server(ctx, stack, what, loadgen_args, timeout, tls=False, interceptor=False):
    """Starts the Python server, runs one loadgen client mode against it, stops the server;
    with tls=True both ends speak TLS; interceptor=True adds a pass-through server interceptor."""
    server, target = _start_server(ctx, stack, what, tls, interceptor)
    try:
        secure = ["--tls-ca", _tls_files(ctx).ca] if tls else []
        peer = Pinned.start([ctx.loadgen, loadgen_args[0], "--target", target, *secure,
                             *loadgen_args[1:]], PEER_CORE, _log(ctx, stack, what + "-loadgen"))
        result, busy = _measure_busy(server, peer, timeout)
    finally:
        server.stop()
    result["under_test_cpu"] = round(busy["running"], 3)
    result["peer_cpu"] = round(busy["finishing"], 3)
    return result


def _timed_args(ctx):
    s = ctx.settings
    return ["--duration", str(s.duration), "--warmup", str(s.warmup)]


def _budget(ctx):
    return ctx.settings.duration + ctx.settings.warmup + 120


def _cell(metrics, raw):
    errors = dict(raw.get("errors") or {})
    if any(not value for value in metrics.values()):
        errors["NOTHING_MEASURED"] = 1  # e.g. no RPC completed in the window: a stall, not a figure
    return {"metrics": metrics, "raw": raw, "errors": errors}


def _run_s1(ctx, stack, tls=False, interceptor=False, sync=False):
    what, metric = ("s1-tls", "s1_tls_qps") if tls else \
        ("s1-interceptor", "s1_interceptor_qps") if interceptor else \
        ("s1-sync", "s1_sync_qps") if sync else ("s1", "s1_qps")
    raw = _against_server(ctx, stack, what,
                          ["unary", "--concurrency", str(S1_CONCURRENCY), "--connections", "1",
                           *_timed_args(ctx), "--size", "100"], _budget(ctx), tls, interceptor)
    return _cell({metric: raw["qps"]}, raw)


def run_s1(ctx, stack):
    return _run_s1(ctx, stack)


def run_s1_tls(ctx, stack):
    return _run_s1(ctx, stack, tls=True)


def run_s1_interceptor(ctx, stack):
    return _run_s1(ctx, stack, interceptor=True)


def run_s1_sync(ctx, stack):
    """S1 against a -sync stack's blocking server (the stack picks it: serve.py --stack)."""
    return _run_s1(ctx, stack, sync=True)


def _run_s2(ctx, stack, concurrency, interceptor=False):
    """On a -sync stack, concurrency is the number of blocking caller threads (one channel)."""
    sync = stack in SYNC_STACKS
    what = f"s2-sync-t{concurrency}" if sync else \
        f"s2-c{concurrency}" + ("-interceptor" if interceptor else "")
    peer = Pinned.start([ctx.loadgen, "server", "--port", "0"], PEER_CORE,
                        _log(ctx, stack, what + "-loadgen"))
    try:
        port = int(peer.wait_for_line("LISTENING", START_TIMEOUT_S).split()[1])
        client = Pinned.start(
            [_python(), os.path.join(BENCH_DIR, "clients", "unary_client.py"), "--stack", stack,
             "--target", f"127.0.0.1:{port}", "--concurrency", str(concurrency),
             *_timed_args(ctx), "--size", "100", *(["--interceptor"] if interceptor else [])],
            SERVER_CORE, _log(ctx, stack, what))
        raw, busy = _measure_busy(peer, client, _budget(ctx))
    finally:
        peer.stop()
    raw["under_test_cpu"] = round(busy["finishing"], 3)
    raw["peer_cpu"] = round(busy["running"], 3)
    metric = f"s2_sync_qps_t{concurrency}" if sync else \
        f"s2_interceptor_qps_c{concurrency}" if interceptor else f"s2_qps_c{concurrency}"
    return _cell({metric: raw["qps"]}, raw)


def run_s2_c1(ctx, stack):
    return _run_s2(ctx, stack, 1)


def run_s2_c100(ctx, stack):
    return _run_s2(ctx, stack, 100)


def run_s2_c100_interceptor(ctx, stack):
    return _run_s2(ctx, stack, 100, interceptor=True)


def run_s2_sync_t1(ctx, stack):
    return _run_s2(ctx, stack, 1)


def run_s2_sync_t16(ctx, stack):
    return _run_s2(ctx, stack, 16)


def run_s3_stream(ctx, stack):
    raw = _against_server(ctx, stack, "s3-stream", ["stream", "--streams", str(S3_STREAMS),
                          *_timed_args(ctx), "--size", "100"], _budget(ctx))
    return _cell({"s3_msgs": raw["msgs_per_s"]}, raw)


def run_s3_pingpong(ctx, stack):
    s = ctx.settings
    raw = _against_server(ctx, stack, "s3-pingpong", ["pingpong", "--count", str(s.pingpong_count),
                          "--warmup", str(s.pingpong_warmup), "--size", "100"], 300)
    return _cell({"s3_pp_p50": raw["p50_us"], "s3_pp_p99": raw["p99_us"]}, raw)


def run_s4(ctx, stack):
    raw = _against_server(ctx, stack, "s4", ["unary", "--concurrency", "1", *_timed_args(ctx),
                          "--size", str(S4_SIZE)], _budget(ctx))
    return _cell({"s4_mbps": raw["mb_per_s"]}, raw)


def _run_s4_bytes(ctx, stack, tls):
    raw = _against_server(ctx, stack, "s4-tls" if tls else "s4-bytes",
                          ["unary", "--bytes-service", "--concurrency", "1", *_timed_args(ctx),
                           "--size", str(S4_SIZE)], _budget(ctx), tls)
    return _cell({"s4_tls_bytes_mbps" if tls else "s4_bytes_mbps": raw["mb_per_s"]}, raw)


def run_s4_bytes(ctx, stack):
    return _run_s4_bytes(ctx, stack, tls=False)


def run_s4_tls(ctx, stack):
    return _run_s4_bytes(ctx, stack, tls=True)


def run_s5(ctx, stack):
    """Opens N PingPong streams held by the Go client; (RSS after - RSS before) / N."""
    streams = ctx.settings.hold_streams
    connections = max(10, math.ceil(streams / HOLD_STREAMS_PER_CONNECTION))
    server, target = _start_server(ctx, stack, "s5")
    try:
        time.sleep(0.5)  # let start-up allocations settle before the baseline
        before = vmrss_bytes(server.pid)
        peer = Pinned.start([ctx.loadgen, "hold", "--target", target, "--streams", str(streams),
                             "--connections", str(connections)], PEER_CORE,
                            _log(ctx, stack, "s5-loadgen"), stdin=True)
        try:
            ready = int(peer.wait_for_line("READY", 300).split()[1])
            time.sleep(0.5)
            after = vmrss_bytes(server.pid)
        finally:
            peer.close_stdin()
        raw = _json_result(peer, 120)
    finally:
        server.stop()
    raw.update(rss_before=before, rss_after=after, ready=ready, connections=connections)
    if ready != streams:
        raw.setdefault("errors", {})["NOT_READY"] = streams - ready
    return _cell({"s5_rss": (after - before) / max(ready, 1)}, raw)


@dataclass(frozen=True)
class Cell:
    id: str
    scenario: int
    run: object  # (Context, stack) -> {"metrics", "raw", "errors"}
    tls: bool = False
    interceptor: bool = False  # grpc.aio's interceptor API: the grpc.aio-shaped stacks only
    sync: bool = False  # the blocking API: the -sync stacks only (and they run nothing else)

    @property
    def selector(self):
        """How --scenarios names it: "1" for S1's plaintext cells, "1-tls" for S1-TLS,
        "1-interceptor" for S1 with a server interceptor, "1-sync" for S1 on the blocking API."""
        if self.tls:
            return f"{self.scenario}-tls"
        if self.sync:
            return f"{self.scenario}-sync"
        return f"{self.scenario}-interceptor" if self.interceptor else str(self.scenario)

    def runs_on(self, stack):
        if self.sync or stack in SYNC_STACKS:
            return self.sync and stack in SYNC_STACKS
        return not self.interceptor or stack != "grpclib"


CELLS = {cell.id: cell for cell in (
    Cell("s1", 1, run_s1),
    Cell("s1-tls", 1, run_s1_tls, tls=True),
    Cell("s1-interceptor", 1, run_s1_interceptor, interceptor=True),
    Cell("s1-sync", 1, run_s1_sync, sync=True),
    Cell("s2-c1", 2, run_s2_c1),
    Cell("s2-c100", 2, run_s2_c100),
    Cell("s2-c100-interceptor", 2, run_s2_c100_interceptor, interceptor=True),
    Cell("s2-sync-t1", 2, run_s2_sync_t1, sync=True),
    Cell("s2-sync-t16", 2, run_s2_sync_t16, sync=True),
    Cell("s3-stream", 3, run_s3_stream),
    Cell("s3-pingpong", 3, run_s3_pingpong),
    Cell("s4", 4, run_s4),
    Cell("s4-bytes", 4, run_s4_bytes),
    Cell("s4-tls", 4, run_s4_tls, tls=True),
    Cell("s5", 5, run_s5),
)}
