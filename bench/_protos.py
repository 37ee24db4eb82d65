"""Compiles bench/bench.proto at run time into bench/_generated/ (gitignored) and puts that
folder on sys.path, for the benchmark servers and clients.

    import _protos
    _protos.ensure()
    import bench_pb2, bench_pb2_grpc   # protobuf messages, grpcio-style stubs and servicer
    import bench_grpc                  # grpclib's base class and stub

Generated: ``bench_pb2`` (grpc_tools.protoc), ``bench_pb2_grpc`` (grpcio-tools' plugin, used by
turbogrpc and grpc.aio alike) and ``bench_grpc`` (grpclib's protoc plugin). Safe when several
processes start at once: one generates under a file lock, the others find the stamp fresh.
"""

import fcntl
import os
import shutil
import stat
import subprocess
import sys
import tempfile

__all__ = ["ensure", "GENERATED_DIR"]

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(BENCH_DIR, "bench.proto")
GENERATED_DIR = os.path.join(BENCH_DIR, "_generated")
MODULES = ("bench_pb2.py", "bench_pb2_grpc.py", "bench_grpc.py")
_STAMP = "stamp"


def ensure():
    """Generates the modules if missing or stale, then makes them importable."""
    wanted = _wanted_stamp()
    if _read(os.path.join(GENERATED_DIR, _STAMP)) != wanted:
        os.makedirs(GENERATED_DIR, exist_ok=True)
        with open(os.path.join(GENERATED_DIR, ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _read(os.path.join(GENERATED_DIR, _STAMP)) != wanted:
                _generate(wanted)
    if GENERATED_DIR not in sys.path:
        sys.path.insert(0, GENERATED_DIR)


def _wanted_stamp():
    # Regenerate when the proto or the code generators change (gencode must match the runtime).
    from google.protobuf import __version__ as protobuf_version
    import grpc_tools
    import grpclib

    info = os.stat(PROTO)
    return (f"protobuf {protobuf_version}\ngrpc_tools {os.path.dirname(grpc_tools.__file__)}\n"
            f"grpclib {grpclib.__version__}\nbench.proto {info.st_mtime_ns} {info.st_size}\n")


def _read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None


def _generate(stamp):
    work = tempfile.mkdtemp(prefix=".gen-", dir=GENERATED_DIR)
    try:
        # protoc wants an executable for a plugin; this one runs grpclib's plugin on our Python.
        plugin = os.path.join(work, "protoc-gen-grpclib_python")
        with open(plugin, "w", encoding="utf-8") as handle:
            handle.write(f"#!/bin/sh\nexec '{sys.executable}' -c "
                         f"'from grpclib.plugin.main import main; main()'\n")
        os.chmod(plugin, os.stat(plugin).st_mode | stat.S_IXUSR)
        command = [sys.executable, "-m", "grpc_tools.protoc", f"-I{BENCH_DIR}",
                   f"--python_out={work}", f"--grpc_python_out={work}",
                   f"--plugin=protoc-gen-grpclib_python={plugin}", f"--grpclib_python_out={work}",
                   "bench.proto"]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"protoc failed ({result.returncode}): {result.stderr.strip()}")
        # Each rename is atomic; the stamp goes last, so a reader that sees it sees all modules.
        for name in MODULES:
            os.replace(os.path.join(work, name), os.path.join(GENERATED_DIR, name))
        with open(os.path.join(work, _STAMP), "w", encoding="utf-8") as handle:
            handle.write(stamp)
        os.replace(os.path.join(work, _STAMP), os.path.join(GENERATED_DIR, _STAMP))
    finally:
        shutil.rmtree(work, ignore_errors=True)
