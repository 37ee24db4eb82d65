"""Scenario 2's process under test: one Python client process calling Unary as fast as it can
with N calls in flight, against the Go server (bench/run.py starts it pinned with taskset -c 0).

    python bench/clients/unary_client.py --stack turbogrpc --target 127.0.0.1:50051 \
        --concurrency 100 --duration 10 --warmup 2 --size 100
    python bench/clients/unary_client.py --stack turbogrpc-sync --target 127.0.0.1:50051 \
        --concurrency 16        # S2-sync: 16 threads making blocking calls on one shared channel

On the asyncio stacks N is the number of coroutines awaiting a call each, on one event loop; on
the blocking stacks (turbogrpc-sync: turbogrpc.insecure_channel, grpc-sync:
grpc.insecure_channel) N is the number of threads, each making one blocking call at a time
through the same grpcio-tools stub on one shared channel (clients/sync_adapter.py).

Prints one JSON object shaped like loadgen's unary mode (only calls that completed after the
warm-up and before the end are counted; errors are counted by status code name).
"""

import argparse
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

STACKS = ("turbogrpc", "turbogrpc-uvloop", "grpcaio", "grpcaio-uvloop", "grpclib",
          "turbogrpc-sync", "grpc-sync")


def _adapter(stack, interceptor):
    if stack.startswith("turbogrpc"):
        import turbogrpc.aio as aio
        from aio_adapter import AioClient
        return AioClient(aio, interceptor)
    if stack.startswith("grpcaio"):
        import grpc.aio as aio
        from aio_adapter import AioClient
        return AioClient(aio, interceptor)
    if interceptor:
        raise SystemExit("unary_client.py: --interceptor needs a grpc.aio-shaped stack")
    from grpclib_adapter import GrpclibClient
    return GrpclibClient()


class _Tally:
    """What one caller measured: latencies (seconds) of the calls that completed inside the
    window, errors by name from the warm-up's end on, bytes received."""

    def __init__(self, error_name, measure_from, measure_until):
        self._error_name = error_name
        self._from = measure_from
        self._until = measure_until
        self.latencies, self.errors, self.received = [], {}, 0

    def answered(self, began, ended, reply):
        """Counts a reply; True once the window has closed (the caller stops)."""
        if self._from <= ended < self._until:
            self.latencies.append(ended - began)
            self.received += len(reply.body)
        return ended >= self._until

    def failed(self, ended, error):
        if ended >= self._from:
            name = self._error_name(error)
            self.errors[name] = self.errors.get(name, 0) + 1
        return ended >= self._until

    def merge(self, other):
        self.latencies += other.latencies
        self.received += other.received
        for name, count in other.errors.items():
            self.errors[name] = self.errors.get(name, 0) + count


def _percentile(sorted_values, fraction):
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def _summary(args, tally):
    latencies, errors, received = sorted(tally.latencies), tally.errors, tally.received
    ok = len(latencies)
    return {
        "mode": "unary", "stack": args.stack, "concurrency": args.concurrency,
        "rpcs": ok + sum(errors.values()), "ok": ok, "errors": errors,
        "seconds": args.duration, "qps": ok / args.duration,
        "p50_us": _us(_percentile(latencies, 0.50)), "p99_us": _us(_percentile(latencies, 0.99)),
        "mb_per_s": received / args.duration / 1e6,
    }


def _run_blocking(args):
    """The -sync stacks: args.concurrency threads calling through one shared channel."""
    import threading
    import bench_pb2
    from sync_adapter import SyncClient
    if args.interceptor:
        raise SystemExit("unary_client.py: --interceptor needs a grpc.aio-shaped stack")
    if args.stack == "turbogrpc-sync":
        import turbogrpc as package
    else:
        import grpc as package
    client = SyncClient(package)
    client.connect(args.target)
    request = bench_pb2.Payload(body=b"x" * args.size)
    clock = time.perf_counter
    start = clock()
    measure_from = start + args.warmup
    measure_until = measure_from + args.duration
    tallies = []  # one per thread that finished, merged at the end

    def worker():
        tally = _Tally(client.error_name, measure_from, measure_until)
        call = client.unary
        while True:
            began = clock()
            try:
                reply = call(request)
            except Exception as error:  # noqa: BLE001  (every failure is counted, by code)
                done = tally.failed(clock(), error)
            else:
                done = tally.answered(began, clock(), reply)
            if done:
                tallies.append(tally)  # list.append: atomic
                return

    threads = [threading.Thread(target=worker, name=f"caller-{i}", daemon=True)
               for i in range(args.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    total = _Tally(None, measure_from, measure_until)
    for tally in tallies:
        total.merge(tally)
    if len(tallies) != len(threads):  # a thread died of something not caught above
        total.errors["THREAD_DIED"] = len(threads) - len(tallies)
    result = _summary(args, total)
    result["threads"] = args.concurrency
    return result


async def _run(args):
    import bench_pb2
    client = _adapter(args.stack, args.interceptor)
    await client.connect(args.target)
    request = bench_pb2.Payload(body=b"x" * args.size)
    clock = time.perf_counter
    start = clock()
    measure_from = start + args.warmup
    measure_until = measure_from + args.duration
    tally = _Tally(client.error_name, measure_from, measure_until)

    async def worker():
        while True:
            began = clock()
            try:
                reply = await client.unary(request)
            except Exception as error:  # noqa: BLE001  (every failure is counted, by code)
                done = tally.failed(clock(), error)
            else:
                done = tally.answered(began, clock(), reply)
            if done:
                return

    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    await client.close()
    return _summary(args, tally)


def _us(seconds):
    return None if seconds is None else round(seconds * 1e6, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, choices=STACKS)
    parser.add_argument("--target", required=True, help="HOST:PORT")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="calls in flight: coroutines, or threads on the -sync stacks")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--interceptor", action="store_true",
                        help="call through one pass-through client interceptor")
    args = parser.parse_args()
    import _protos
    _protos.ensure()
    if args.stack.endswith("-sync"):
        result = _run_blocking(args)
    elif args.stack.endswith("-uvloop"):
        import uvloop
        result = uvloop.run(_run(args))
    else:
        result = asyncio.run(_run(args))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
