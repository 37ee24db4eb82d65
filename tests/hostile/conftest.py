"""Attack tests: raw HTTP/2 peers on 127.0.0.1 against our server (grpc.aio's stands in when
validating the tests with TURBOGRPC_TESTS_GRPC_ONLY=1). Every flood is bounded in count and
time, and every test ends by checking that a normal call on a fresh connection still works."""

from e2e.conftest import ours_pairing  # noqa: F401  (the fixture: our server, or grpc's)
