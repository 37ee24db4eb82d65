"""Our server's resident memory stays flat under sustained load on long-lived connections, for
every RPC shape (issue 10, defect 0).

The defect: nghttp2 kept every closed stream of a connection (for RFC 7540 priorities, bounded
only by our MAX_CONCURRENT_STREAMS, unlimited by default), about 300 bytes per finished call for
as long as the connection lived; bench/soak.py measured 260-360 B/call on that engine.

The load: our server runs in its own process (bench/soak.py `serve`, pinned to core 0) and
reports its VmRSS and completed calls every 0.25 s; h2load (nghttp2's C client, pinned to core 1,
not our engine) makes CALLS calls of one shape over 4 connections that live for the whole test,
32 streams in flight on each. h2load's summary must show every call succeeded with the complete
response bytes, and the server's handlers must have completed the same number.

The bound: warm-up (allocator arenas, caches, connection set-up) is the first third of the
calls; from there to the end (2/3 x CALLS calls, 60,000-100,000) the highest RSS may exceed the
RSS at one third by less than MAX_GROWTH (4 MiB) and by less than MAX_BYTES_PER_CALL (20 B) per
call. The old defect grows ~17 MiB (streaming shapes) to ~28 MiB (unary) over that span,
~300 B/call; with the fix the growth measured was 0.02-0.25 MiB (0.3-3.6 B/call).
Each case takes 5-10 s.
"""

from __future__ import annotations

import pytest

MiB = 1024 * 1024
CALLS = {"unary": 150_000, "server_stream": 90_000, "client_stream": 90_000, "bidi": 90_000}
MAX_BYTES_PER_CALL = 20
MAX_GROWTH = 4 * MiB
TIME_CAP_S = 60  # per case: h2load not finishing by then fails the test


@pytest.mark.parametrize("shape", ["unary", "server_stream", "client_stream", "bidi"])
def test_server_rss_flat_under_h2load(shape, soak, assert_flat, tmp_path):
    result = soak.soak_server_h2load(shape, CALLS[shape], TIME_CAP_S, str(tmp_path))
    assert result.calls == CALLS[shape], f"server completed {result.calls:,} calls"
    assert_flat(result, max_bytes_per_call=MAX_BYTES_PER_CALL, max_growth=MAX_GROWTH,
                min_calls=CALLS[shape] // 2)
