"""Soak: millions of short calls on long-lived connections; the RSS under test must go flat.

The resident memory of the process under test is sampled while it serves or makes the calls;
after warm-up it must stay flat. Server and client, all four RPC shapes.

    python3 bench/soak.py                      # full: 1.25M calls per phase (5M per side), ~17 min
    python3 bench/soak.py --quick              # 100k calls per phase: about 75 s
    python3 bench/soak.py --calls 300000 --seconds 60 --phases server-unary,client-bidi

Phases (each: a fresh process under test on core 0, its peer on core 1, 4 connections or one
channel held for the whole phase):

    server-<shape>  our server (`soak.py serve`) driven by h2load, which is nghttp2's C client,
                    not our engine: `-c 4 -m 32 -n CALLS`, so 4 connections carry every call.
    server-unary-go our server driven by the Go load generator (bench/loadgen, grpc-go), which
                    also checks every status and response: time-bounded (--go-seconds). Unlike
                    h2load it puts a deadline on every call (the end of the run + 10 s).
    client-<shape>  our client (`soak.py client`), one channel, against grpc-go's interop server
                    (grpc.testing.TestService, built by scripts/install_go_peers.sh); calls
                    carry no deadline unless --deadline is given.

Shapes: unary, server_stream (4 replies), client_stream (4 requests), bidi (4 round trips);
every message is 32 bytes. The process under test prints `PROGRESS {"t","calls","rss"}` lines
(its own VmRSS, calls completed so far) every 0.25 s. Growth after warm-up is measured from the
sample where a third of the phase's calls were done to the highest RSS after it; the table shows
it in bytes and bytes per call. issue 10's defect (nghttp2 kept every closed stream: ~300 B per
call for a connection's life) shows as ~300 B/call here; a flat process shows ~0.

Exit status 1 when a phase failed (a call failed, a peer misbehaved) or grew more than
--max-bytes-per-call after warm-up. The child modes `serve` and `client` are what the phases
(and tests/soak/) start; they can be run by hand too:

    python3 bench/soak.py serve --stack ours --port 0          # prints LISTENING <port>, PROGRESS
    python3 bench/soak.py client --target 127.0.0.1:PORT --shapes unary,bidi --calls 100000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import queue
import re
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bench/, also when loaded by path
from processes import Pinned  # noqa: E402
from soak_children import (  # noqa: E402  (the child modes; names re-exported for tests/soak)
    MESSAGE_SIZE, MESSAGES_PER_STREAM, PROGRESS_INTERVAL_S, SHAPES, SOAK_SERVICE, _client,
    _run_child, _serve,
)

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)

SERVER_CORE, PEER_CORE = 0, 1
START_TIMEOUT_S = 60
STOP_GRACE_S = 10
# h2load: connections, and streams in flight on each.
H2LOAD_CONNECTIONS, H2LOAD_STREAMS = 4, 32

# ---- the parent: phases, processes, samples ------------------------------------------------

@dataclasses.dataclass
class Sample:
    t: float
    calls: int
    rss: int
    py_blocks: int = 0  # objects Python's allocator holds: tells a Python leak from a C++ one


@dataclasses.dataclass
class Growth:
    """RSS growth of a process under test after warm-up, from its samples."""
    rss_first: int       # first sample (process started, before load)
    rss_warm: int        # at the first sample with a third of the calls done
    rss_peak_after: int  # the highest sample after that
    calls_warm: int
    calls_total: int

    @property
    def growth(self) -> int:
        return self.rss_peak_after - self.rss_warm

    @property
    def measured_calls(self) -> int:
        return self.calls_total - self.calls_warm

    @property
    def bytes_per_call(self) -> float:
        return self.growth / max(self.measured_calls, 1)

    def describe(self) -> str:
        mib = 1024 * 1024
        return (f"RSS {self.rss_first / mib:.1f} MiB at start, {self.rss_warm / mib:.1f} MiB after "
                f"{self.calls_warm:,} calls (warm-up), peak {self.rss_peak_after / mib:.1f} MiB "
                f"over the next {self.measured_calls:,} calls: growth {self.growth / mib:+.2f} MiB, "
                f"{self.bytes_per_call:+.1f} B/call")


def growth_after_warmup(samples: list[Sample]) -> Growth:
    """Warm-up (allocator arenas, caches, the first connections) is the first third of the calls:
    compare the RSS when a third were done with the highest RSS seen afterwards."""
    if len(samples) < 3 or samples[-1].calls <= 0:
        raise ValueError(f"too few samples with calls to judge growth: {samples!r:.300}")
    total = samples[-1].calls
    warm_index = next(i for i, s in enumerate(samples) if s.calls * 3 >= total)
    warm = samples[warm_index]
    return Growth(rss_first=samples[0].rss, rss_warm=warm.rss,
                  rss_peak_after=max(s.rss for s in samples[warm_index:]),
                  calls_warm=warm.calls, calls_total=total)


class Child(Pinned):
    """A Pinned child read line by line (the soak children stream PROGRESS lines)."""

    @classmethod
    def launch(cls, argv, log_path, core):
        return cls.start(argv, core, log_path)

    @property
    def lines(self) -> queue.Queue:
        return self._lines

    def next_line(self, timeout):
        """The next stdout line, or None at end of output; raises TimeoutError."""
        try:
            return self._lines.get(timeout=max(timeout, 0))
        except queue.Empty:
            raise TimeoutError(f"no output within {timeout:.0f} s from {self.what()}") from None

    def wait_for(self, prefix, timeout):
        deadline = time.monotonic() + timeout
        while True:
            line = self.next_line(deadline - time.monotonic())
            if line is None:
                raise RuntimeError(f"{self.what()} ended before printing {prefix!r}")
            if line.startswith(prefix):
                return line

    def what(self):
        return f"{' '.join(self.argv)} (log {self.log_path}):\n{self.log_tail()}"

    def stop(self, grace=STOP_GRACE_S):
        code = super().stop(grace)
        self._reader.join(timeout=5)
        if not self._reader.is_alive():
            self.popen.stdout.close()
        return code


def _progress(lines) -> list[Sample]:
    return [Sample(**json.loads(line.split(" ", 1)[1])) for line in lines
            if line.startswith("PROGRESS ")]


def _drain(child: Child, timeout: float) -> list[str]:
    """Every line the child prints until it exits (or timeout, then it is stopped)."""
    out = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = child.next_line(deadline - time.monotonic())
        except TimeoutError:
            child.stop()
            raise
        if line is None:
            return out
        out.append(line)


def _collected(child: Child) -> list[str]:
    out = []
    while True:
        try:
            line = child.lines.get_nowait()
        except queue.Empty:
            return out
        if line is not None:
            out.append(line)


@dataclasses.dataclass
class PhaseResult:
    phase: str
    peer: str
    calls: int
    seconds: float
    growth: Growth | None
    samples: list[Sample]
    problems: list[str]


def _soak_argv(*args):
    return [sys.executable, os.path.abspath(__file__), *args]


def start_our_server(log_dir, stack="ours", uvloop=False) -> tuple[Child, int]:
    argv = _soak_argv("serve", "--stack", stack, "--port", "0", *(["--uvloop"] if uvloop else []))
    server = Child.launch(argv, os.path.join(log_dir, "soak-server.log"), SERVER_CORE)
    try:
        port = int(server.wait_for("LISTENING", START_TIMEOUT_S).split()[1])
    except BaseException:
        server.stop()
        raise
    return server, port


def _finish_server(server: Child, already: list[str]):
    """Stops the server and returns its samples and per-shape completed calls."""
    server.stop()
    lines = already + _collected(server)
    completed = {}
    for line in lines:
        if line.startswith("COMPLETED "):
            completed = json.loads(line.split(" ", 1)[1])
    return _progress(lines), completed


def h2load_request(shape: str) -> bytes:
    """The one request body h2load posts for `shape`: gRPC-framed messages of our soak service."""
    def frame(message):
        return b"\x00" + len(message).to_bytes(4, "big") + message
    if shape == "server_stream":
        return frame(bytes([MESSAGES_PER_STREAM]) + b"x" * (MESSAGE_SIZE - 1))
    if shape == "unary":
        return frame(b"u" * MESSAGE_SIZE)
    return frame(b"m" * MESSAGE_SIZE) * MESSAGES_PER_STREAM  # client_stream, bidi


def h2load_reply_bytes(shape: str) -> int:
    """DATA bytes of one call's response (5-byte frame header per message)."""
    if shape == "client_stream":
        return 5 + len(b"%d %d" % (MESSAGES_PER_STREAM, MESSAGES_PER_STREAM * MESSAGE_SIZE))
    return (5 + MESSAGE_SIZE) * (1 if shape == "unary" else MESSAGES_PER_STREAM)


_METHOD = {"unary": "Unary", "server_stream": "ServerStream", "client_stream": "ClientStream",
           "bidi": "Bidi"}


def soak_server_h2load(shape, calls, seconds, log_dir, uvloop=False,
                       connections=H2LOAD_CONNECTIONS, streams=H2LOAD_STREAMS) -> PhaseResult:
    """Our server under `calls` calls of `shape` from h2load over `connections` connections."""
    problems = []
    body = os.path.join(log_dir, f"h2load-{shape}.body")
    with open(body, "wb") as handle:
        handle.write(h2load_request(shape))
    server, port = start_our_server(log_dir, uvloop=uvloop)
    began = time.monotonic()
    try:
        time.sleep(2 * PROGRESS_INTERVAL_S)  # a sample or two before any load
        peer = Child.launch(["h2load", "-c", str(connections), "-m", str(streams), "-n", str(calls),
                      "-H", "content-type: application/grpc", "-H", "te: trailers", "-d", body,
                      f"http://127.0.0.1:{port}/{SOAK_SERVICE}/{_METHOD[shape]}"],
                     os.path.join(log_dir, f"h2load-{shape}.log"), PEER_CORE)
        try:
            out = _drain(peer, seconds)
        except TimeoutError:
            out = []
            problems.append(f"h2load did not finish {calls:,} calls within {seconds} s")
        peer.stop()
        elapsed = time.monotonic() - began
    finally:
        samples, completed = _finish_server(server, [])
    text = "\n".join(out)
    match = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                      r"(\d+) failed, (\d+) errored, (\d+) timeout", text)
    data = re.search(r"traffic: .*?, .*?\(\d+\) headers.*?, .*?\((\d+)\) data", text)
    if out and not (match and data):
        problems.append("h2load printed no summary:\n" + text[-2000:])
    elif match:
        succeeded = int(match.group(4))
        if succeeded != calls:
            problems.append(f"h2load: {succeeded:,} of {calls:,} calls succeeded ({match.group(0)})")
        want = succeeded * h2load_reply_bytes(shape)
        if int(data.group(1)) != want:
            problems.append(f"h2load received {int(data.group(1)):,} DATA bytes, expected "
                            f"{want:,} ({succeeded:,} complete responses)")
        if completed.get(shape, 0) != succeeded:
            problems.append(f"server handlers completed {completed.get(shape, 0):,} {shape} calls, "
                            f"h2load saw {succeeded:,} succeed")
    return _result(f"server-{shape}", f"h2load -c {connections} -m {streams}",
                   samples, elapsed, problems)


def soak_server_loadgen_unary(loadgen, seconds, log_dir, uvloop=False, connections=4,
                              concurrency=100) -> PhaseResult:
    """Our server under `seconds` of unary echo calls from grpc-go (bench/loadgen)."""
    problems = []
    server, port = start_our_server(log_dir, uvloop=uvloop)
    began = time.monotonic()
    try:
        time.sleep(2 * PROGRESS_INTERVAL_S)
        peer = Child.launch([loadgen, "unary", "--target", f"127.0.0.1:{port}", "--concurrency",
                      str(concurrency), "--connections", str(connections), "--warmup", "0",
                      "--duration", str(seconds), "--size", str(MESSAGE_SIZE)],
                     os.path.join(log_dir, "loadgen-unary.log"), PEER_CORE)
        out = _drain(peer, seconds + 60)
        if peer.stop() != 0:
            problems.append(f"loadgen exited {peer.popen.returncode}: {peer.log_tail()}")
        elapsed = time.monotonic() - began
    finally:
        samples, completed = _finish_server(server, [])
    result = next((json.loads(line) for line in reversed(out) if line.startswith("{")), None)
    if result is None:
        problems.append("loadgen printed no result")
    else:
        if result.get("errors"):
            problems.append(f"loadgen saw failed calls: {result['errors']}")
        if result.get("ok", 0) <= 0 or result["ok"] > completed.get("unary", 0):
            problems.append(f"loadgen counted {result.get('ok')} OK calls, the server completed "
                            f"{completed.get('unary', 0)}")
    return _result("server-unary-go", f"grpc-go loadgen, {connections} conns x "
                   f"{concurrency // connections}, deadlines", samples, elapsed, problems)


def start_go_interop_server(log_dir) -> tuple[Child, int]:
    """grpc-go's interop server (TestService) on a free port; waits until it accepts."""
    paths = subprocess.run(["bash", os.path.join(REPO, "scripts", "install_go_peers.sh"),
                            "--print-paths"], check=True, capture_output=True, text=True).stdout
    binary = re.search(r"^GO_INTEROP_SERVER=(.+)$", paths, re.M).group(1)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = Child.launch([binary, f"--port={port}"], os.path.join(log_dir, "go-interop-server.log"),
                   PEER_CORE)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, port
        except OSError:
            if server.popen.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"grpc-go interop server did not listen: {server.what()}")
            time.sleep(0.05)


def soak_client(shapes, calls, seconds, log_dir, uvloop=False, target=None,
                deadline=None) -> PhaseResult:
    """Our client (a child process, one channel) making `calls` calls of `shapes` (mixed)
    against grpc-go's interop server, or against `target` if given; `deadline`: per-call timeout
    in seconds (None: no deadline)."""
    problems = []
    server = None
    if target is None:
        server, port = start_go_interop_server(log_dir)
        target = f"127.0.0.1:{port}"
    try:
        client = Child.launch(_soak_argv("client", "--target", target, "--shapes", ",".join(shapes),
                                  "--calls", str(calls), "--seconds", str(seconds),
                                  *(["--uvloop"] if uvloop else []),
                                  *(["--deadline", str(deadline)] if deadline else [])),
                       os.path.join(log_dir, "soak-client.log"), SERVER_CORE)
        began = time.monotonic()
        out = _drain(client, seconds + START_TIMEOUT_S)
        elapsed = time.monotonic() - began
        if client.stop() != 0:
            problems.append(f"client exited {client.popen.returncode}: {client.log_tail()}")
    finally:
        if server is not None:
            server.stop()
    done = next((json.loads(line.split(" ", 1)[1]) for line in out if line.startswith("DONE ")),
                None)
    if done is None:
        problems.append("client printed no DONE line")
    else:
        if done["errors"]:
            problems.append(f"failed calls: {done['errors']}")
        if sum(done["calls"].values()) < calls:
            problems.append(f"only {sum(done['calls'].values()):,} of {calls:,} calls in "
                            f"{seconds} s: {done['calls']}")
    return _result("client-" + "+".join(shapes), "grpc-go interop server" if server else target,
                   _progress(out), elapsed, problems)


def _result(phase, peer, samples, elapsed, problems) -> PhaseResult:
    growth = None
    try:
        growth = growth_after_warmup(samples)
    except ValueError as error:
        problems.append(str(error))
    return PhaseResult(phase, peer, samples[-1].calls if samples else 0, round(elapsed, 1),
                       growth, samples, problems)


# ---- main --------------------------------------------------------------------------------

ALL_PHASES = ([f"server-{s}" for s in SHAPES] + ["server-unary-go"]
              + [f"client-{s}" for s in SHAPES])


def _loadgen_path():
    out = subprocess.run(["bash", os.path.join(REPO, "scripts", "install_bench_tools.sh"),
                          "--print-path"], check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def _run_phase(phase, args, log_dir):
    side, shape = phase.split("-", 1)
    if phase == "server-unary-go":
        return soak_server_loadgen_unary(_loadgen_path(), args.go_seconds, log_dir, args.uvloop)
    if side == "server":
        return soak_server_h2load(shape, args.calls, args.seconds, log_dir, args.uvloop)
    return soak_client([shape], args.calls, args.seconds, log_dir, args.uvloop,
                       deadline=args.deadline)


def _table(results, max_per_call):
    mib = 1024 * 1024
    rows = [("phase", "peer", "calls", "s", "RSS start", "RSS @1/3", "RSS peak after",
             "growth", "B/call", "flat?")]
    for r in results:
        g = r.growth
        if g is None:
            rows.append((r.phase, r.peer, f"{r.calls:,}", f"{r.seconds}", *["-"] * 5, "FAIL"))
            continue
        flat = g.bytes_per_call <= max_per_call and not r.problems
        rows.append((r.phase, r.peer, f"{r.calls:,}", f"{r.seconds}", f"{g.rss_first / mib:.1f} MiB",
                     f"{g.rss_warm / mib:.1f} MiB", f"{g.rss_peak_after / mib:.1f} MiB",
                     f"{g.growth / mib:+.2f} MiB", f"{g.bytes_per_call:+.1f}",
                     "yes" if flat else "NO"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode")
    serve = sub.add_parser("serve", help="child: our (or grpc.aio's) soak server")
    serve.add_argument("--stack", choices=("ours", "grpc"), default="ours")
    serve.add_argument("--port", type=int, default=0)
    serve.add_argument("--uvloop", action="store_true")
    client = sub.add_parser("client", help="child: our client against a TestService server")
    client.add_argument("--stack", choices=("ours", "grpc"), default="ours")
    client.add_argument("--target", required=True)
    client.add_argument("--shapes", default=",".join(SHAPES))
    client.add_argument("--calls", type=int, required=True)
    client.add_argument("--seconds", type=float, default=600)
    client.add_argument("--uvloop", action="store_true")
    client.add_argument("--deadline", type=float, default=None, help="per-call timeout (s)")
    parser.add_argument("--quick", action="store_true", help="100k calls per phase (about 75 s)")
    parser.add_argument("--calls", type=int, help="calls per phase (default 1,250,000: 4 shapes "
                        "x 1.25M = 5M per side; --quick 100,000)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="time cap per phase (default 900; --quick 120); a phase that hits "
                             "it fails")
    parser.add_argument("--go-seconds", type=float, default=None,
                        help="length of the server-unary-go phase (default 60; --quick 5)")
    parser.add_argument("--phases", default=",".join(ALL_PHASES),
                        help=f"comma-separated subset of {','.join(ALL_PHASES)}")
    parser.add_argument("--max-bytes-per-call", type=float, default=20.0,
                        help="growth after warm-up that fails a phase (default 20 B/call)")
    parser.add_argument("--deadline", type=float, default=None,
                        help="client phases: per-call timeout in seconds (default: none)")
    parser.add_argument("--uvloop", action="store_true", help="run the process under test on uvloop")
    parser.add_argument("--log-dir", help="child logs (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.mode == "serve":
        return _run_child(_serve, args)
    if args.mode == "client":
        return _run_child(_client, args)

    args.calls = args.calls or (100_000 if args.quick else 1_250_000)
    args.seconds = args.seconds or (120 if args.quick else 900)
    args.go_seconds = args.go_seconds or (5 if args.quick else 60)
    phases = args.phases.split(",")
    unknown = set(phases) - set(ALL_PHASES)
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}; choose from {ALL_PHASES}")
    log_dir = args.log_dir or tempfile.mkdtemp(prefix="turbogrpc-soak-")
    os.makedirs(log_dir, exist_ok=True)
    print(f"soak: {len(phases)} phases, {args.calls:,} calls each (cap {args.seconds:.0f} s); "
          f"logs in {log_dir}", flush=True)
    results = []
    for phase in phases:
        result = _run_phase(phase, args, log_dir)
        results.append(result)
        g = result.growth
        print(f"  {phase}: {result.calls:,} calls in {result.seconds} s; "
              f"{g.describe() if g else 'no growth figure'}", flush=True)
        for problem in result.problems:
            print(f"    PROBLEM: {problem}", flush=True)
    print()
    print(_table(results, args.max_bytes_per_call))
    print(f"\nGrowth = highest RSS after a third of the phase's calls - RSS at that point; a phase "
          f"fails above {args.max_bytes_per_call:g} B/call or on any failed call.")
    bad = [r for r in results if r.problems or r.growth is None
           or r.growth.bytes_per_call > args.max_bytes_per_call]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
