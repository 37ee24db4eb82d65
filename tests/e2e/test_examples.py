"""The examples, run as a user runs them: each exits 0 and prints what it checked.

examples/route_guide is not here: scripts/demo.sh, CI's front door, runs it.
"""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import sys

import pytest

from e2e.helpers import ours_only

ROOT = pathlib.Path(__file__).resolve().parents[2]
TIMEOUT_SECONDS = 120


def run_example(*command: str) -> str:
    """Runs command in the repository root; returns its output (stdout and stderr) if it exits 0."""
    env = {**os.environ, "PYTHON": sys.executable}  # run.sh's interpreter: the one testing
    # A session of its own: on timeout the whole group goes, with any server the example started.
    with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, start_new_session=True) as process:
        try:
            output, _ = process.communicate(timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            pytest.fail(f"{' '.join(command)}: still running after {TIMEOUT_SECONDS} s:\n"
                        f"{output[-4000:]}")
    assert process.returncode == 0, f"{' '.join(command)}: exit {process.returncode}:\n{output}"
    return output


@ours_only
def test_tls_example():
    output = run_example("bash", "examples/tls/run.sh")
    assert "Hello, TLS example! You are greeter-client" in output  # the mutual TLS identity
    assert "refused as expected: UNAUTHENTICATED: missing or wrong access token" in output
    assert "== example OK (tls mtls)" in output


@ours_only
def test_interceptors_example():
    # -W error: a warning while the example runs fails it, as in the rest of the suite.
    output = run_example(sys.executable, "-W", "error", "examples/interceptors/main.py")
    assert "reply: Hello, echo! request id req-42, attempt 1" in output
    assert "UNAVAILABLE on attempt 1 of 3; calling again" in output
    assert "reply: Hello, flaky! request id" in output
    assert "refused: UNAUTHENTICATED: missing or wrong bearer token" in output
    assert output.rstrip().endswith("all checks OK")


@ours_only
def test_replicas_example():
    output = run_example(sys.executable, "-W", "error", "examples/replicas/main.py")
    rounds = re.findall(r"(\d+) calls answered: (.*); (\d+) of them on a retry", output)
    assert len(rounds) == 3, output
    assert [int(answered) for answered, _, _ in rounds] == [300, 300, 600], output
    assert all(int(retried) > 0 for _, _, retried in rounds), output  # c refuses first attempts
    assert "b " not in rounds[1][1], output  # NOT_SERVING: no calls
    assert output.rstrip().endswith("all checks OK")
