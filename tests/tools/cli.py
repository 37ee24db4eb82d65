"""The real gRPC command-line tools for the e2e tests: grpcurl and grpc_health_probe, pinned and
built by scripts/install_grpc_tools.sh (bootstrap runs it; so does the first use here, when a
binary is missing), run as asyncio subprocesses so the server under test keeps its loop.
Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import functools
import pathlib
import subprocess
from dataclasses import dataclass

REPO = pathlib.Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 900.0  # a first build of both tools takes ~2.5 min on 2 cores
RUN_TIMEOUT = 15.0


@functools.lru_cache(maxsize=None)
def tool_paths() -> dict[str, str]:
    """{"GRPCURL": path, "GRPC_HEALTH_PROBE": path}; builds them if missing."""
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "install_grpc_tools.sh"), "--print-paths"],
        capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"scripts/install_grpc_tools.sh failed ({done.returncode}):\n"
                             f"{done.stderr}")
    paths = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    for path in paths.values():
        assert pathlib.Path(path).is_file(), f"{path} missing after install_grpc_tools.sh"
    return paths


@dataclass
class Ran:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self):
        return (f"$ {' '.join(self.argv)}\nexit {self.returncode}\n--- stdout\n{self.stdout}"
                f"--- stderr\n{self.stderr}")


async def run(argv: list[str], stdin: str | None = None, timeout: float = RUN_TIMEOUT) -> Ran:
    """Runs `argv` to completion (killed and failed after `timeout` s) without blocking the loop."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(None if stdin is None else stdin.encode()), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"{argv} did not finish within {timeout} s") from None
    return Ran(list(argv), proc.returncode, out.decode(errors="replace"),
               err.decode(errors="replace"))
