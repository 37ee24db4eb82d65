"""How fast scenario 4's protobuf echo could possibly go: the handler's own work with no
transport at all — decode the 4 MiB request, run handlers.unary, encode the reply — in a tight
loop on one core. No stack can echo faster than this; bench/run.py reports it under the table.

    taskset -c 0 python bench/handler_ceiling.py --seconds 3    # prints one JSON object

With 4 MiB messages most of that time is the C library allocator, not protobuf: every echo
allocates several fresh 4 MiB blocks, and glibc gives freed ones back to the kernel, so each
new block starts as untouched pages that fault in one by one.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import handlers  # noqa: E402  (compiles the protos)
import bench_pb2  # noqa: E402

SIZE = 4 * 1024 * 1024


def _echo(serialized):
    request = bench_pb2.Payload.FromString(serialized)
    coroutine = handlers.unary(request)
    try:
        coroutine.send(None)  # the handler never awaits: it finishes on the first step
    except StopIteration as done:
        return done.value.SerializeToString()
    raise RuntimeError("handlers.unary suspended; the ceiling loop cannot drive it")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    serialized = bench_pb2.Payload(body=b"x" * SIZE).SerializeToString()
    for _ in range(5):  # warm-up
        _echo(serialized)
    count = 0
    began = time.perf_counter()
    while (elapsed := time.perf_counter() - began) < args.seconds:
        if len(_echo(serialized)) != len(serialized):
            raise RuntimeError("the echo changed the message size")
        count += 1
    print(json.dumps({"echoes": count, "seconds": round(elapsed, 3),
                      "ms_per_echo": round(elapsed / count * 1e3, 3),
                      "mb_per_s": round(count * SIZE / elapsed / 1e6, 1)}))


if __name__ == "__main__":
    main()
