"""python/turbogrpc/_engine.pyi is what nanobind's stubgen makes of the built extension: the
checked-in stub (what type checkers read) cannot drift from the binding."""

import os
import subprocess
import sys

STUB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "python", "turbogrpc", "_engine.pyi")


def test_engine_stub_matches_the_binding(tmp_path):
    made = tmp_path / "_engine.pyi"
    subprocess.run([sys.executable, "-m", "nanobind.stubgen", "-q", "-m", "turbogrpc._engine",
                    "-o", str(made)], check=True, capture_output=True, timeout=120)
    with open(STUB, encoding="utf-8") as handle:
        assert made.read_text(encoding="utf-8") == handle.read(), (
            "the engine's binding changed: regenerate the stub with "
            "`python3 -m nanobind.stubgen -m turbogrpc._engine -o python/turbogrpc/_engine.pyi`")
