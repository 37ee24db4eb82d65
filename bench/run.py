"""Benchmark suite: turbogrpc against grpc.aio (stock loop and uvloop) and grpclib, and
turbogrpc's blocking API against grpcio's, same service, same handler code, same payloads
(issue 4). The one entry point.

    python bench/run.py                      # full: 3 rounds, ~10 s per cell (~30 minutes)
    python bench/run.py --quick              # 1 round, ~2 s per cell: proves the suite runs
    python bench/run.py --scenarios 1,3 --stacks turbogrpc,grpcaio --rounds 5
    python bench/run.py --scenarios 1-tls,4-tls --stacks turbogrpc,grpcaio   # over TLS only
    python bench/run.py --scenarios 1-sync,2-sync --stacks turbogrpc-sync,grpc-sync  # blocking

Scenarios 1 to 5, and 1-tls and 4-tls: S1 and S4's bytes-handler echo over TLS, with
certificates made by openssl for the run in a scratch folder (bench/certs.py); 1-interceptor
and 2-interceptor: S1 with one pass-through server interceptor and S2 (c=100) with one
pass-through client interceptor, reported against the same stack's plain figure (what the
interceptor costs), on the grpc.aio-shaped stacks only; 1-sync and 2-sync: S1 against the
blocking server (16 handler threads) and S2 from 1 and from 16 threads sharing one blocking
channel, on the stacks turbogrpc-sync and grpc-sync only (which run nothing else), reported as
turbogrpc-sync over grpc-sync.

Every round runs every selected scenario on every stack that runs it once, the stack order
rotated per round. The process under test runs on core 0, the Go load generator / peer on
core 1. Writes results.json, results.md and chart.png into --out (default bench/results/) and
prints the table. Exit status 1 when any stack produced no figure or any RPC failed.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from importlib import metadata

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
sys.path.insert(0, BENCH_DIR)

import _protos  # noqa: E402
import certs  # noqa: E402
import report  # noqa: E402
from processes import ProcessError, pinning_available  # noqa: E402
from scenarios import CELLS, FULL, QUICK, Context  # noqa: E402

ALL_STACKS = ("turbogrpc", "grpcaio", "grpcaio-uvloop", "grpclib", "turbogrpc-uvloop",
              "turbogrpc-sync", "grpc-sync")
ALL_SCENARIOS = tuple(dict.fromkeys(cell.selector for cell in CELLS.values()))


def _loadgen_copy(scratch):
    """Builds the Go load generator if its sources changed (silent when up to date)."""
    script = os.path.join(REPO, "scripts", "install_bench_tools.sh")
    lines = subprocess.run(["bash", script, "--print-path"], check=True, stdout=subprocess.PIPE,
                           text=True).stdout.strip().splitlines()  # its errors reach our stderr
    for line in lines[:-1]:  # build progress, if it had to build
        print(line, file=sys.stderr)
    found = lines[-1] if lines else ""
    if not os.access(found, os.X_OK):
        raise SystemExit(f"bench: load generator not found at {found!r}")
    # A private copy: a rebuild (an edit of bench/loadgen) during a long run deletes the old one.
    copy = os.path.join(scratch, "loadgen")
    shutil.copy2(found, copy)
    return copy


def _git_rev():
    try:
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "python",
                                "cpp", "bindings"], capture_output=True, text=True).stdout.strip()
        return rev + ("+local changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _meta(args, rounds, loadavg_start):
    versions = {"python": platform.python_version()}
    for name in ("grpcio", "grpclib", "uvloop", "protobuf"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    versions["turbogrpc"] = _git_rev()
    pinned = pinning_available()
    return {
        "cpu": _cpu_model(), "cores": os.cpu_count(),
        "pinning": ("process under test on core 0, Go peer on core 1 (taskset)" if pinned
                    else "UNPINNED (fewer than 2 usable cores or no taskset)"),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": "quick" if args.quick else "full", "rounds": rounds, "versions": versions,
        "loadavg": [loadavg_start, os.getloadavg()[0]],
    }


def _handler_ceiling(seconds):
    """bench/handler_ceiling.py's result (pinned like a server under test), or None on failure."""
    argv = [sys.executable, os.path.join(BENCH_DIR, "handler_ceiling.py"), "--seconds", str(seconds)]
    if pinning_available():
        argv = ["taskset", "-c", "0", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        print(f"bench: handler ceiling failed: {done.stderr.strip()[-500:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout)


def _parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round, short cells, 1000 streams")
    parser.add_argument("--rounds", type=int, help="default: 3 (full) or 1 (quick)")
    parser.add_argument("--scenarios", default=",".join(ALL_SCENARIOS),
                        help="comma-separated subset of %(default)s")
    parser.add_argument("--stacks", default=",".join(ALL_STACKS),
                        help=f"comma-separated subset of {','.join(ALL_STACKS)}")
    parser.add_argument("--out", default=os.path.join(BENCH_DIR, "results"))
    parser.add_argument("--loadgen", help="path of a built loadgen (default: build/locate it)")
    parser.add_argument("--render-only", action="store_true",
                        help="measure nothing: rewrite results.md and chart.png from results.json")
    args = parser.parse_args()
    args.scenarios = {s.strip().lower() for s in args.scenarios.split(",") if s.strip()}
    if not args.render_only and (args.scenarios - set(ALL_SCENARIOS) or not args.scenarios):
        parser.error(f"unknown scenarios {sorted(args.scenarios - set(ALL_SCENARIOS))}; "
                     f"choose from {', '.join(ALL_SCENARIOS)}")
    args.stacks = [s.strip() for s in args.stacks.split(",") if s.strip()]
    unknown = [s for s in args.stacks if s not in ALL_STACKS]
    if unknown or not args.stacks:
        parser.error(f"unknown stacks {unknown}; choose from {', '.join(ALL_STACKS)}")
    if not args.render_only:
        _check_pairing(parser, args)
    return args


def _check_pairing(parser, args):
    """A scenario none of the chosen stacks runs (1-sync with the asyncio stacks, 1 with the
    -sync ones) measures nothing: say so, and refuse a run that would measure nothing at all."""
    idle = sorted(selector for selector in args.scenarios
                  if not any(cell.runs_on(stack) for cell in CELLS.values()
                             if cell.selector == selector for stack in args.stacks))
    if idle and len(idle) == len(args.scenarios):
        parser.error(f"no chosen stack runs scenarios {idle} (the -sync scenarios run on "
                     "turbogrpc-sync and grpc-sync, the others on the other stacks)")
    if idle:
        print(f"bench: note: no chosen stack runs scenarios {idle}; skipped", file=sys.stderr)
        args.scenarios -= set(idle)


def _run_cell(ctx, cell, stack, round_index):
    began = time.monotonic()
    record = {"round": round_index, "cell": cell.id, "scenario": cell.scenario, "stack": stack}
    try:
        record.update(cell.run(ctx, stack))
    except Exception as error:  # noqa: BLE001  (one broken stack must not stop the others)
        record.update(metrics={}, errors={}, failure=f"{type(error).__name__}: {error}")
        if not isinstance(error, ProcessError):  # those explain themselves, with a log tail
            traceback.print_exc(file=sys.stderr)
    record["wall_seconds"] = round(time.monotonic() - began, 1)
    status = record.get("failure") or (f"errors {record['errors']}" if record["errors"] else "ok")
    print(f"bench: round {round_index + 1} {cell.id:12} {stack:17} {record['wall_seconds']:6.1f}s "
          f"{status} {record['metrics']}", file=sys.stderr, flush=True)
    return record


def main():
    args = _parse_args()
    if args.render_only:
        return _render_only(os.path.abspath(args.out))
    with tempfile.TemporaryDirectory(prefix="turbogrpc-bench-") as scratch:
        return _run(args, args.loadgen or _loadgen_copy(scratch), scratch)


def _render_only(out):
    with open(os.path.join(out, "results.json"), encoding="utf-8") as handle:
        saved = json.load(handle)
    print(report.write(out, saved["meta"], saved["settings"], saved["cells"], saved["stacks"]))
    return 0


def _run(args, loadgen, scratch):
    settings = QUICK if args.quick else FULL
    rounds = args.rounds or (1 if args.quick else 3)
    _protos.ensure()  # once here, so the first server does not pay for protoc in its start-up
    out = os.path.abspath(args.out)
    cells = [cell for cell in CELLS.values() if cell.selector in args.scenarios]
    # The TLS cells' certificates: made for this run, gone with the scratch folder.
    tls = certs.make(os.path.join(scratch, "tls")) if any(c.tls for c in cells) else None
    ctx = Context(loadgen=loadgen, settings=settings, log_dir=os.path.join(out, "logs"), tls=tls)
    shutil.rmtree(ctx.log_dir, ignore_errors=True)  # children's stderr, this run's only
    if not pinning_available():
        print("bench: WARNING: running unpinned (needs cores 0 and 1 and taskset)",
              file=sys.stderr)
    loadavg_start = os.getloadavg()[0]
    records = []
    for round_index in range(rounds):
        for cell in cells:
            # Rotated among the stacks that run the cell (the -sync cells run on two of seven):
            # no stack always goes first.
            runnable = [stack for stack in args.stacks if cell.runs_on(stack)]
            shift = round_index % max(len(runnable), 1)
            for stack in runnable[shift:] + runnable[:shift]:
                records.append(_run_cell(ctx, cell, stack, round_index))
    meta = _meta(args, rounds, loadavg_start)
    if tls is not None:
        meta["tls"] = certs.describe()
    if "4" in args.scenarios:
        meta["s4_handler_ceiling"] = _handler_ceiling(settings.duration)
    markdown = report.write(out, meta, asdict(settings), records, args.stacks)
    print(markdown)
    failed = [r for r in records if r.get("failure") or r["errors"] or not r["metrics"]]
    for record in failed:
        print(f"bench: FAILED round {record['round'] + 1} {record['cell']} {record['stack']}: "
              f"{record.get('failure') or record['errors']}", file=sys.stderr)
    print(f"bench: results in {out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
