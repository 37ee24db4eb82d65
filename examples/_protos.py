"""The examples' shared proto compiler: one .proto, compiled with grpcio-tools into a folder.

For the examples' ``generate.py`` wrappers and ``interceptors/main.py``:
``pb2, pb2_grpc = _protos.load(proto, example_dir / "_generated")``. Outputs are rebuilt when
the proto or the grpcio-tools version changed (recorded in a stamp beside them), so nothing
generated is ever committed. The generated ``*_pb2_grpc`` module imports its ``*_pb2`` sibling
by top-level name, so the folder goes on ``sys.path``: one process should load a given proto
from one folder only.
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


def _module_names(proto: pathlib.Path) -> tuple[str, str]:
    return f"{proto.stem}_pb2", f"{proto.stem}_pb2_grpc"


def _wanted_stamp(proto: pathlib.Path) -> str:
    digest = hashlib.sha256(proto.read_bytes()).hexdigest()
    return f"{digest} grpcio-tools=={importlib.metadata.version('grpcio-tools')}\n"


def compile_proto(proto: pathlib.Path, out_dir: pathlib.Path) -> None:
    """Runs protoc unless the outputs are fresh; each file is replaced atomically."""
    stamp_path = out_dir / f"{proto.stem}.stamp"  # one stamp per proto: a folder may hold more
    outputs = [out_dir / f"{name}.py" for name in _module_names(proto)]
    stamp = _wanted_stamp(proto)
    if stamp_path.exists() and stamp_path.read_text() == stamp and all(p.exists() for p in outputs):
        return
    out_dir.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        # A subprocess, as grpcio-tools documents; its import-time noise stays out of ours.
        subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto.parent}",
             f"--python_out={tmp}", f"--grpc_python_out={tmp}", str(proto)],
            check=True,
        )
        for output in outputs:
            os.replace(pathlib.Path(tmp, output.name), output)
        # The stamp goes last: a run cut short leaves it stale, so the next run compiles again.
        pathlib.Path(tmp, stamp_path.name).write_text(stamp)
        os.replace(pathlib.Path(tmp, stamp_path.name), stamp_path)


@functools.cache
def load(proto: pathlib.Path, out_dir: pathlib.Path):
    """Compiles if needed, then returns the (<stem>_pb2, <stem>_pb2_grpc) modules."""
    compile_proto(proto, out_dir)
    if str(out_dir) not in sys.path:
        sys.path.insert(0, str(out_dir))
    return tuple(importlib.import_module(name) for name in _module_names(proto))


def main(proto: pathlib.Path, out_dir: pathlib.Path) -> None:
    """What ``python generate.py`` does: compile only, and say where."""
    compile_proto(proto, out_dir)
    print(f"generated {', '.join(_module_names(proto))} in {out_dir}")
