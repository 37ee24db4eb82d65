"""Leak tests: our stack only (with TURBOGRPC_TESTS_GRPC_ONLY=1 there is nothing to check, so
this folder is not collected)."""

from e2e.helpers import GRPC_ONLY

collect_ignore_glob = ["test_*.py"] if GRPC_ONLY else []
