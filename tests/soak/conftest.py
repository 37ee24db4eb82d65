"""Soak tests: sustained load on long-lived connections while the resident memory of the process
under test (a child process, so nothing else shares its RSS) is sampled; after warm-up it must go
flat. Our stack only (with TURBOGRPC_TESTS_GRPC_ONLY=1 there is nothing to check, so this folder
is not collected). The machinery is bench/soak.py's, run short here; `python3 bench/soak.py` is
the long version (millions of calls).

Peers are never our engine: h2load (nghttp2's C client) drives our server, grpc-go's interop
server answers our client. Both are installed by scripts/bootstrap.sh; a missing one fails the
test (nothing here is skipped).
"""

from __future__ import annotations

import importlib.util
import pathlib
import shutil
import sys

import pytest

from e2e.helpers import GRPC_ONLY

collect_ignore_glob = ["test_*.py"] if GRPC_ONLY else []

REPO = pathlib.Path(__file__).resolve().parents[2]
MiB = 1024 * 1024


def _load_bench_soak():
    # Loaded by path under its own name: `soak` alone would be this test folder.
    spec = importlib.util.spec_from_file_location("bench_soak", REPO / "bench" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def soak():
    """bench/soak.py as a module: soak_server_h2load(), soak_client(), Growth."""
    if shutil.which("h2load") is None:
        pytest.fail("h2load is not installed (apt package nghttp2-client; scripts/bootstrap.sh)",
                    pytrace=False)
    return _load_bench_soak()


@pytest.fixture
def assert_flat():
    """assert_flat(result, max_bytes_per_call=, max_growth=, min_calls=) for a bench/soak.py phase."""
    return _assert_flat


def _assert_flat(result, *, max_bytes_per_call: float, max_growth: int, min_calls: int):
    """The phase ran cleanly, enough calls were measured after warm-up, and RSS stayed flat."""
    assert not result.problems, "\n".join(result.problems)
    growth = result.growth
    assert growth is not None
    assert growth.measured_calls >= min_calls, (
        f"only {growth.measured_calls:,} calls measured after warm-up: {growth.describe()}")
    assert growth.bytes_per_call < max_bytes_per_call and growth.growth < max_growth, (
        f"{result.phase}: resident memory kept growing after warm-up "
        f"(bounds {max_bytes_per_call} B/call, {max_growth / MiB:.0f} MiB): {growth.describe()}")
