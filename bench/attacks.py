"""The attacks of tests/hostile, against our server and grpc.aio's side by side.

    python3 bench/attacks.py            # HPACK bomb, oversize header list, 10,000 streams, floods
    python3 bench/attacks.py --silent   # 1,000 connections that never speak, for 25 s

Each attack gets a fresh server process (ours or grpc.aio's, one echo method, default options)
on 127.0.0.1; a row says how the attacker's connection ended, how much the server's RSS grew,
and whether a normal call on a fresh connection still worked (1 s timeout).
"""
import asyncio, os, struct, subprocess, sys, textwrap, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from hostile.raw_h2 import *
from hostile.test_http2_limits import hpack_bomb_block, flood_bytes, FLOODS

SERVER = textwrap.dedent("""
    import asyncio, sys, grpc
    stack = sys.argv[1]
    if stack == "ours":
        import turbogrpc.aio as aio
    else:
        aio = grpc.aio
    async def main():
        async def echo(r, c): return r
        async def hold(it, c):
            async for _ in it: pass
            return b""
        s = aio.server()
        s.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Svc", {
            "Echo": grpc.unary_unary_rpc_method_handler(echo),
            "Hold": grpc.stream_unary_rpc_method_handler(hold)}),))
        port = s.add_insecure_port("127.0.0.1:0"); await s.start()
        print(port, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    asyncio.run(main())
""")

def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"): return int(line.split()[1]) * 1024

async def fresh_call_ok(port):
    import grpc
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        try:
            await ch.unary_unary("/test.Svc/Echo")(b"x", timeout=1); return "ok"
        except grpc.RpcError as e: return str(e.code())

async def attack(name, port):
    conn = await RawH2.connect(port)
    try:
        if name == "hpack_bomb_16_streams":
            for i in range(16):
                conn.send(frame(HEADERS, END_HEADERS | END_STREAM, 1 + 2*i, hpack_bomb_block(i == 0, 12000)))
            await drain(conn)
            await conn.pump(lambda c: all((1+2*i) in c.streams and c.streams[1+2*i].done for i in range(16)) or c.goaway is not None, timeout=20)
            codes = {c.value("grpc-status") or f"RST{c.reset}" for c in conn.streams.values()}
            return f"streams: {sorted(codes)}, goaway={conn.goaway}"
        if name == "header_list_21KB":
            big = [(f"x-big-{i}", "v" * 1000) for i in range(20)]
            conn.send(conn.request(1, request_headers(extra=big), b"x"))
            await drain(conn)
            await conn.pump(lambda c: 1 in c.streams and c.streams[1].done or c.goaway is not None)
            s = conn.streams.get(1)
            return f"grpc-status={s and s.value('grpc-status')} rst={s and s.reset} goaway={conn.goaway}"
        if name == "10000_streams":
            conn.send(b"".join(conn.request(1 + 2*i, request_headers("/test.Svc/Hold"), None, end_stream=False) for i in range(10000)))
            await drain(conn)
            await conn.pump(lambda c: False, timeout=3)
            refused = sum(1 for s in conn.streams.values() if s.reset is not None)
            return f"refused={refused} goaway={conn.goaway} closed={conn.closed}"
        conn.send(flood_bytes(conn, name))
        await drain(conn)
        await conn.pump(lambda c: c.goaway is not None or c.closed, timeout=10)
        return f"goaway={conn.goaway} closed={conn.closed}"
    finally:
        await conn.close()

async def silent(port, n=1000, wait=25):
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(n)]
    await asyncio.sleep(wait)
    closed = 0
    for r, w in conns:
        try:
            data = await asyncio.wait_for(r.read(65536), 0.01)
            while data:
                data = await asyncio.wait_for(r.read(65536), 0.01)
            closed += 1
        except (asyncio.TimeoutError, ConnectionError):
            pass
        w.close()
    return f"{closed}/{n} closed after {wait}s"

async def main():
    attacks = ["hpack_bomb_16_streams", "header_list_21KB", "10000_streams", "ping", "settings", "rapid_reset", "continuation", "empty_data"]
    if "--silent" in sys.argv: attacks = ["silent"]
    for stack in ("ours", "grpc"):
        for name in attacks:
            p = subprocess.Popen([sys.executable, "-c", SERVER, stack], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            port = int(p.stdout.readline())
            await fresh_call_ok(port)
            before = rss(p.pid)
            t = time.monotonic()
            try:
                out = await (silent(port) if name == "silent" else attack(name, port))
            except Exception as e:
                out = f"error {type(e).__name__}: {e}"
            grown = (rss(p.pid) - before) / 2**20
            ok = await fresh_call_ok(port)
            print(f"{stack:5} {name:22} {out:60} rss +{grown:7.1f} MiB  fresh call: {ok}  ({time.monotonic()-t:.1f}s)", flush=True)
            p.stdin.close(); p.wait(10)

asyncio.run(main())
