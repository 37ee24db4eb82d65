"""Compiles helloworld.proto with grpcio-tools into _generated/ and imports the result.

Usage: ``pb2, pb2_grpc = generate.load()``. Running ``python generate.py`` only compiles.
Outputs are rebuilt when the proto or the grpcio-tools version changed (recorded in a stamp).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import os
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
PROTO = HERE / "helloworld.proto"
OUT_DIR = HERE / "_generated"
MODULES = ("helloworld_pb2", "helloworld_pb2_grpc")
STAMP = OUT_DIR / "stamp.txt"


def _wanted_stamp() -> str:
    digest = hashlib.sha256(PROTO.read_bytes()).hexdigest()
    return f"{digest} grpcio-tools=={importlib.metadata.version('grpcio-tools')}\n"


def _is_fresh(stamp: str) -> bool:
    outputs = [OUT_DIR / f"{name}.py" for name in MODULES]
    return STAMP.exists() and STAMP.read_text() == stamp and all(p.exists() for p in outputs)


def compile_proto() -> None:
    """Runs protoc unless the outputs are fresh; each file is replaced atomically."""
    stamp = _wanted_stamp()
    if _is_fresh(stamp):
        return
    OUT_DIR.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=OUT_DIR) as tmp:
        # A subprocess, as grpcio-tools documents; its import-time noise stays out of ours.
        subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", f"-I{HERE}",
             f"--python_out={tmp}", f"--grpc_python_out={tmp}", str(PROTO)],
            check=True,
        )
        for name in MODULES:
            os.replace(pathlib.Path(tmp, f"{name}.py"), OUT_DIR / f"{name}.py")
        pathlib.Path(tmp, STAMP.name).write_text(stamp)
        os.replace(pathlib.Path(tmp, STAMP.name), STAMP)


@functools.cache
def load():
    """Compiles if needed, then returns the (helloworld_pb2, helloworld_pb2_grpc) modules."""
    compile_proto()
    if str(OUT_DIR) not in sys.path:
        sys.path.insert(0, str(OUT_DIR))  # the _grpc module imports its sibling by top-level name
    return tuple(importlib.import_module(name) for name in MODULES)


if __name__ == "__main__":
    compile_proto()
    print(f"generated {', '.join(MODULES)} in {OUT_DIR}")
