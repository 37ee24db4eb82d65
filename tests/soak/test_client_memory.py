"""Our client's resident memory stays flat over many calls of every shape on one channel.

The load: our client runs in its own process (bench/soak.py `client`, pinned to core 0): one
channel, 64 unary + 16 server-streaming + 16 client-streaming + 16 bidi callers at once (each
streaming call 4 messages of 32 bytes each way; every reply compared byte for byte), CALLS calls
in all, against grpc-go's interop server (TestService, core 1, not our engine). It reports its
VmRSS and completed calls every 0.25 s. Every call carries a 10-minute deadline, which outlives
the run: the engine once kept each finished call's deadline timer (24 bytes) until it expired,
which this test would see as 24 B/call.

The bound: warm-up is the first third of the calls; over the remaining 2/3 x CALLS (100,000)
calls the highest RSS may exceed the RSS at one third by less than 4 MiB and by less than
20 B/call. A leak of the size of issue 10's server defect (~300 B/call) would be ~29 MiB; the
client measured +0.02 MiB (0.1 B/call). Takes 10-20 s.
"""

from __future__ import annotations

MiB = 1024 * 1024
CALLS = 150_000
MAX_BYTES_PER_CALL = 20
MAX_GROWTH = 4 * MiB
TIME_CAP_S = 60


def test_client_rss_flat_on_one_channel(soak, assert_flat, tmp_path):
    result = soak.soak_client(["unary", "server_stream", "client_stream", "bidi"], CALLS,
                              TIME_CAP_S, str(tmp_path), deadline=600)
    assert result.calls >= CALLS
    assert_flat(result, max_bytes_per_call=MAX_BYTES_PER_CALL, max_growth=MAX_GROWTH,
                min_calls=CALLS // 2)
