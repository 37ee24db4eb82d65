"""The test protos (tests/protos/*.proto) compiled by grpcio-tools into tests/_generated/ at
import, when a source is newer than its output; tests/_generated/ goes on sys.path, so tests
import e.g. ``e2e_echo_pb2_grpc`` as generated code is imported in real projects."""

from __future__ import annotations

import pathlib
import subprocess
import sys

TESTS_DIR = pathlib.Path(__file__).resolve().parent
PROTOS_DIR = TESTS_DIR / "protos"
GENERATED_DIR = TESTS_DIR / "_generated"


def _compile_protos() -> None:
    protos = sorted(PROTOS_DIR.glob("*.proto"))
    GENERATED_DIR.mkdir(exist_ok=True)
    newest_source = max(p.stat().st_mtime for p in protos)
    outputs = [GENERATED_DIR / f"{p.stem}_pb2{suffix}.py" for p in protos for suffix in ("", "_grpc")]
    if all(o.exists() and o.stat().st_mtime >= newest_source for o in outputs):
        return
    # A subprocess keeps grpc_tools' own import-time warnings out of this (warnings-as-errors) run.
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTOS_DIR}",
         f"--python_out={GENERATED_DIR}", f"--grpc_python_out={GENERATED_DIR}",
         *map(str, protos)],
        check=True,
    )


_compile_protos()
if str(GENERATED_DIR) not in sys.path:
    sys.path.insert(0, str(GENERATED_DIR))
