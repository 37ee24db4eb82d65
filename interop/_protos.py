"""The grpc.testing interop protos, compiled on first use into interop/_generated/.

Why not plain ``protoc grpc/testing/test.proto``: the result would be a ``grpc.testing``
Python package, which collides with the installed grpcio package ``grpc``. So the protos are
copied under the directory ``interop_testing/`` (only their ``import`` lines are rewritten; the
proto ``package grpc.testing`` stays, so the wire names stay ``/grpc.testing.TestService/...``)
and compiled there. Only ``*_pb2`` modules are generated: the ``_pb2_grpc`` modules would
import grpcio, which our interop programs must not load.

Usage::

    from _protos import load
    empty_pb2, messages_pb2 = load()
"""

import fcntl
import importlib
import os
import shutil
import subprocess
import sys
import tempfile

__all__ = ["load", "GENERATED_DIR"]

SOURCE_DIR = "/usr/share/grpc-proto/grpc/testing"
PROTO_NAMES = ("empty.proto", "messages.proto", "test.proto")
PACKAGE = "interop_testing"  # the Python package name the generated modules live in
GENERATED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_generated")
_STAMP = "stamp"


def load():
    """Makes sure the modules are generated and fresh; returns (empty_pb2, messages_pb2)."""
    _ensure_generated()
    if GENERATED_DIR not in sys.path:
        sys.path.insert(0, GENERATED_DIR)
    empty_pb2 = importlib.import_module(f"{PACKAGE}.empty_pb2")
    messages_pb2 = importlib.import_module(f"{PACKAGE}.messages_pb2")
    importlib.import_module(f"{PACKAGE}.test_pb2")  # registers the services' descriptors
    return empty_pb2, messages_pb2


def _wanted_stamp():
    # Regenerate when a source changes or another protobuf (gencode must match the runtime).
    from google.protobuf import __version__ as protobuf_version

    parts = [f"protobuf {protobuf_version}"]
    for name in PROTO_NAMES:
        info = os.stat(os.path.join(SOURCE_DIR, name))
        parts.append(f"{name} {info.st_mtime_ns} {info.st_size}")
    return "\n".join(parts) + "\n"


def _read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None


def _ensure_generated():
    os.makedirs(GENERATED_DIR, exist_ok=True)
    ignore = os.path.join(GENERATED_DIR, ".gitignore")
    if not os.path.exists(ignore):
        with open(ignore, "w", encoding="utf-8") as handle:
            handle.write("*\n")
    wanted = _wanted_stamp()
    target = os.path.join(GENERATED_DIR, PACKAGE)
    if _read(os.path.join(target, _STAMP)) == wanted:
        return
    # Two processes may start at once: one generates under the lock, the other waits and
    # then finds the stamp fresh. Readers only import after this returns.
    with open(os.path.join(GENERATED_DIR, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _read(os.path.join(target, _STAMP)) == wanted:
            return
        _generate(target, wanted)


def _generate(target, stamp):
    work = tempfile.mkdtemp(prefix=".gen-", dir=GENERATED_DIR)
    try:
        proto_root = os.path.join(work, "protos")
        out = os.path.join(work, "out")
        os.makedirs(os.path.join(proto_root, PACKAGE))
        os.makedirs(os.path.join(out, PACKAGE))
        for name in PROTO_NAMES:
            with open(os.path.join(SOURCE_DIR, name), encoding="utf-8") as handle:
                text = handle.read()
            text = text.replace('import "grpc/testing/', f'import "{PACKAGE}/')
            with open(os.path.join(proto_root, PACKAGE, name), "w", encoding="utf-8") as handle:
                handle.write(text)
        command = [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto_root}",
                   f"--python_out={out}"]
        command += [f"{PACKAGE}/{name}" for name in PROTO_NAMES]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"protoc failed ({result.returncode}): {result.stderr.strip()}")
        package_dir = os.path.join(out, PACKAGE)
        open(os.path.join(package_dir, "__init__.py"), "w").close()
        with open(os.path.join(package_dir, _STAMP), "w", encoding="utf-8") as handle:
            handle.write(stamp)
        # Swap the fresh package in with renames; a stale one moves aside first.
        if os.path.exists(target):
            os.rename(target, os.path.join(work, "stale"))
        os.rename(package_dir, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
