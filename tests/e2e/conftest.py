"""Fixtures of the end-to-end tests: `pairing` (client stack × server stack), `ours_pairing`
(our stack on both sides, for behaviour only we guarantee), and the protos compiled at test time.

Pairings: "ours-ours", "ours-grpc", "grpc-ours" (client-server); `our_client_pairing` is the
first two. With TURBOGRPC_TESTS_GRPC_ONLY=1
only "grpc-grpc" is collected (validates the tests themselves against grpc.aio); without it,
grpc-grpc is not collected and turbogrpc.aio must import or collection fails. Nothing is
skipped: each mode collects only the pairings it runs.
"""

from __future__ import annotations

import pytest

import generated_protos  # noqa: F401  (compiles the test protos, puts them on sys.path)
from e2e.helpers import GRPC_ONLY, OURS_IMPORT_ERROR, Pairing


if GRPC_ONLY:
    PAIRINGS = ["grpc-grpc"]
    # Our stack on both sides; in grpc-only mode grpc.aio stands in so these tests are validated too.
    OURS_PAIRINGS = ["grpc-grpc"]
else:
    PAIRINGS = ["ours-ours", "ours-grpc", "grpc-ours"]
    OURS_PAIRINGS = ["ours-ours"]
# Our client against both servers: for client behaviour grpc.aio's client does not share (tests
# using it are marked ours_only, so grpc-only mode does not collect them).
OUR_CLIENT_PAIRINGS = ["ours-ours", "ours-grpc"]


def pytest_generate_tests(metafunc):
    uses = {"pairing", "ours_pairing", "our_client_pairing"} & set(metafunc.fixturenames)
    if uses and not GRPC_ONLY and OURS_IMPORT_ERROR is not None:
        pytest.fail(
            "turbogrpc.aio is not importable, so the e2e tests cannot run. Build/install it, or "
            "set TURBOGRPC_TESTS_GRPC_ONLY=1 to validate the tests against grpc.aio only.\n"
            + OURS_IMPORT_ERROR,
            pytrace=False,
        )


@pytest.fixture(params=PAIRINGS)
def pairing(request) -> Pairing:
    return Pairing(request.param)


@pytest.fixture(params=OURS_PAIRINGS)
def ours_pairing(request) -> Pairing:
    return Pairing(request.param)


@pytest.fixture(params=OUR_CLIENT_PAIRINGS)
def our_client_pairing(request) -> Pairing:
    return Pairing(request.param)


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """The test PKI of tests/tls_certs.py, made once per session with the openssl CLI."""
    import tls_certs  # noqa: PLC0415 - only sessions running TLS tests pay for it

    return tls_certs.make_pki(tmp_path_factory.mktemp("pki"))


