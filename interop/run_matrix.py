"""Runs the official gRPC interop cases between turbogrpc and grpc-go, both ways, on loopback,
over plaintext and over TLS.

    python3 interop/run_matrix.py                      # every case x go->ours, ours->go, ours->ours,
                                                       # each plaintext and TLS (the -tls pairings)
    python3 interop/run_matrix.py --cases large_unary,ping_pong --pairings ours-go,ours-go-tls
    python3 interop/run_matrix.py --go-only            # grpc-go -> grpc-go: proves the harness itself

grpc-go's interop client and server are installed (and located) by scripts/install_go_peers.sh.
The TLS pairings use a CA and a server certificate (SANs *.test.google.fr, foo.test.google.fr,
localhost, 127.0.0.1, ::1) made at run time by tests/tls_certs.py into the run's temporary
directory; clients trust that CA and check the name foo.test.google.fr, grpc's interop
convention. Exit status is non-zero if any cell failed or a server did not start.
"""

import argparse
import asyncio
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASES = [
    "empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong",
    "empty_stream", "timeout_on_sleeping_server", "cancel_after_begin",
    "cancel_after_first_response", "custom_metadata", "status_code_and_message",
    "special_status_message", "unimplemented_method", "unimplemented_service",
    "client_compressed_unary", "server_compressed_unary", "client_compressed_streaming",
    "server_compressed_streaming",
]

# pairing id -> (client implementation, server implementation, over TLS)
PAIRINGS = {
    "go-ours": ("go", "ours", False),
    "ours-go": ("ours", "go", False),
    "ours-ours": ("ours", "ours", False),
    "go-ours-tls": ("go", "ours", True),
    "ours-go-tls": ("ours", "go", True),
    "ours-ours-tls": ("ours", "ours", True),
    # development only: check the harness without our programs
    "go-go": ("go", "go", False),
    "go-go-tls": ("go", "go", True),
}
DEFAULT_PAIRINGS = ["go-ours", "ours-go", "ours-ours", "go-ours-tls", "ours-go-tls",
                    "ours-ours-tls"]
GO_ONLY_PAIRINGS = ["go-go", "go-go-tls"]
# The name clients check the server certificate against (grpc's interop convention).
TLS_SERVER_NAME = "foo.test.google.fr"

# Cases grpc-go does not implement, decided from its source at the pinned version:
# interop/client/client.go switches on --test_case and has no compression cases, and
# interop/test_utils.go's testServer ignores expect_compressed and response_compressed (and the
# server binary registers no gzip codec), so the compression probes cannot pass against it.
_NO_GO_CLIENT_CASE = "grpc-go's interop client has no such test case ({version})"
_GO_SERVER_IGNORES = ("grpc-go's interop server ignores expect_compressed/response_compressed "
                      "and registers no gzip decompressor ({version})")
NOT_IMPLEMENTED_BY_PEER = {
    **{("go-client", case): _NO_GO_CLIENT_CASE for case in (
        "client_compressed_unary", "server_compressed_unary",
        "client_compressed_streaming", "server_compressed_streaming")},
    **{("go-server", case): _GO_SERVER_IGNORES for case in (
        "client_compressed_unary", "server_compressed_unary",
        "client_compressed_streaming", "server_compressed_streaming")},
}

CLIENT_TIMEOUT_S = 60
SERVER_START_TIMEOUT_S = 30
STOP_GRACE_S = 5
PARALLEL_CELLS = 4  # the CI machine has 2 cores; more only adds timing noise


@dataclass
class GoPeers:
    version: str
    client: str
    server: str


@dataclass
class TlsFiles:
    ca: str  # the root clients trust
    cert: str  # the server's certificate chain and key
    key: str


@dataclass
class Server:
    name: str
    argv: list
    port: int = 0
    process: asyncio.subprocess.Process | None = None
    log_path: str = ""
    start_error: str = ""

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Cell:
    case: str
    pairing: str
    verdict: str = ""  # PASS, FAIL or n/a
    reason: str = ""  # why n/a, or why the cell failed before the client ran
    argv: list = field(default_factory=list)
    exit_code: int | None = None
    seconds: float = 0.0
    stdout: str = ""
    stderr: str = ""


def locate_go_peers():
    """Installs the pinned grpc-go peers if missing and returns where they are."""
    script = os.path.join(REPO, "scripts", "install_go_peers.sh")
    out = subprocess.run(["bash", script, "--print-paths"], check=True, text=True,
                         stdout=subprocess.PIPE).stdout
    found = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return GoPeers(found["GO_INTEROP_VERSION"], found["GO_INTEROP_CLIENT"],
                   found["GO_INTEROP_SERVER"])


def free_port():
    # The port is released before the server binds it; a collision on loopback is unlikely
    # and would show up as a server that did not start.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_tls_files(directory):
    """Writes the test PKI (tests/tls_certs.py, with the openssl CLI) into ``directory``."""
    spec = importlib.util.spec_from_file_location(
        "tls_certs", os.path.join(REPO, "tests", "tls_certs.py"))
    tls_certs = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = tls_certs  # its dataclasses look their module up there
    spec.loader.exec_module(tls_certs)
    if TLS_SERVER_NAME != tls_certs.SERVER_NAME:
        raise RuntimeError(f"tests/tls_certs.py's server certificate is not for {TLS_SERVER_NAME}")
    pki = tls_certs.make_pki(os.path.join(directory, "pki"))
    return TlsFiles(str(pki.ca1.cert_path), str(pki.server.cert_path), str(pki.server.key_path))


def server_name(implementation, tls):
    return implementation + ("-tls" if tls else "")


def server_argv(implementation, peers, port, tls_files):
    """The server's command line; ``tls_files`` None for plaintext. grpc-go's server and ours
    take the same TLS flags."""
    if implementation == "go":
        argv = [peers.server, f"--port={port}"]
    else:
        argv = [sys.executable, os.path.join(REPO, "interop", "server.py"), f"--port={port}"]
    if tls_files is None:
        return argv
    return argv + ["--use_tls=true", f"--tls_cert_file={tls_files.cert}",
                   f"--tls_key_file={tls_files.key}"]


def client_argv(implementation, peers, port, case, tls_files):
    """The client's command line; ``tls_files`` None for plaintext. grpc-go's --use_test_ca
    alone would trust grpc's checked-in test CA: --ca_file replaces it with ours."""
    program = ([peers.client] if implementation == "go"
               else [sys.executable, os.path.join(REPO, "interop", "client.py")])
    argv = program + ["--server_host=127.0.0.1", f"--server_port={port}", f"--test_case={case}"]
    if tls_files is None:
        return argv + ["--use_tls=false"]
    return argv + ["--use_tls=true", "--use_test_ca=true", f"--ca_file={tls_files.ca}",
                   f"--server_host_override={TLS_SERVER_NAME}"]


def peer_gap(case, pairing, version):
    """The reason grpc-go cannot take part in this cell, or '' if it can."""
    client, server, _ = PAIRINGS[pairing]
    for role, implementation in (("go-client", client), ("go-server", server)):
        reason = NOT_IMPLEMENTED_BY_PEER.get((role, case))
        if implementation == "go" and reason:
            return reason.format(version=version)
    return ""


async def accepts_tcp(port):
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    return True


async def start_server(server, log_dir):
    server.log_path = os.path.join(log_dir, f"{server.name}-server.log")
    with open(server.log_path, "wb") as log:
        # Own session: a Ctrl-C in the terminal reaches only us, and we stop servers in order.
        server.process = await asyncio.create_subprocess_exec(
            *server.argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.returncode is not None:
            server.start_error = f"exited with code {server.process.returncode} before listening"
            return
        if await accepts_tcp(server.port):
            return
        await asyncio.sleep(0.1)
    server.start_error = f"did not accept TCP on 127.0.0.1:{server.port} within {SERVER_START_TIMEOUT_S} s"


async def stop_process(process):
    if process is None or process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_GRACE_S)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()


async def run_cell(cell, limit):
    async with limit:
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            *cell.argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = await asyncio.wait_for(process.communicate(), CLIENT_TIMEOUT_S)
        except asyncio.TimeoutError:
            process.kill()
            out, err = await process.communicate()
            cell.reason = f"client timed out after {CLIENT_TIMEOUT_S} s"
        finally:
            if process.returncode is None:  # cancelled (Ctrl-C): do not leave the client behind
                process.kill()
                await process.wait()
        cell.seconds = time.monotonic() - started
        cell.exit_code = process.returncode
        cell.stdout = out.decode(errors="replace")
        cell.stderr = err.decode(errors="replace")
        cell.verdict = "PASS" if process.returncode == 0 and not cell.reason else "FAIL"


async def run_matrix(cases, pairings, peers, log_dir):
    needed = sorted({PAIRINGS[p][1:] for p in pairings})  # (implementation, tls) of each server
    tls_files = make_tls_files(log_dir) if any(tls for _, tls in needed) else None
    servers = {}
    for implementation, tls in needed:
        server = Server(server_name(implementation, tls), [], port=free_port())
        server.argv = server_argv(implementation, peers, server.port, tls_files if tls else None)
        servers[server.name] = server
    cells = [Cell(case, pairing) for case in cases for pairing in pairings]
    try:
        await asyncio.gather(*(start_server(s, log_dir) for s in servers.values()))
        limit = asyncio.Semaphore(PARALLEL_CELLS)
        runs = []
        for cell in cells:
            client, implementation, tls = PAIRINGS[cell.pairing]
            server = servers[server_name(implementation, tls)]
            gap = peer_gap(cell.case, cell.pairing, peers.version)
            if gap:
                cell.verdict, cell.reason = "n/a", gap
            elif server.start_error:
                cell.verdict, cell.reason = "FAIL", f"{server.name} server {server.start_error}"
            else:
                cell.argv = client_argv(client, peers, server.port, cell.case,
                                        tls_files if tls else None)
                runs.append(run_cell(cell, limit))
        await asyncio.gather(*runs)
        crashed = {name: s.process.returncode for name, s in servers.items()
                   if not s.start_error and s.process.returncode is not None}
    finally:
        await asyncio.gather(*(stop_process(s.process) for s in servers.values()))
    return cells, servers, crashed


def print_report(cells, cases, pairings, servers, crashed, seconds):
    for cell in cells:
        if cell.verdict != "FAIL":
            continue
        print(f"== FAIL {cell.case} [{cell.pairing}]"
              + (f" exit {cell.exit_code}, {cell.seconds:.1f} s" if cell.argv else ""))
        if cell.reason:
            print(f"   {cell.reason}")
        if cell.argv:
            print("   $ " + " ".join(cell.argv))
        for label, text in (("stdout", cell.stdout), ("stderr", cell.stderr)):
            if text.strip():
                print(f"   --- {label}")
                print("\n".join("   " + line for line in text.rstrip().splitlines()))
    for server in servers.values():
        if server.start_error or server.name in crashed:
            what = server.start_error or f"exited during the run with code {crashed[server.name]}"
            print(f"== {server.name} server ({' '.join(server.argv)}) {what}; its log ends with:")
            print("\n".join("   " + line for line in server.log_tail().rstrip().splitlines()))

    verdicts = {(c.case, c.pairing): c.verdict for c in cells}
    width = max(len(c) for c in cases) + 2
    column = max(11, max(len(p) for p in pairings) + 2)
    print()
    print(("case".ljust(width) + "".join(p.ljust(column) for p in pairings)).rstrip())
    for case in cases:
        print(case.ljust(width)
              + "".join(verdicts[case, p].ljust(column) for p in pairings).rstrip())
    print()
    for pairing in pairings:
        counts = {v: sum(verdicts[case, pairing] == v for case in cases)
                  for v in ("PASS", "FAIL", "n/a")}
        print(f"{pairing.ljust(column)}{counts['PASS']} passed, {counts['FAIL']} failed, "
              f"{counts['n/a']} n/a")
    not_applicable = [c for c in cells if c.verdict == "n/a"]
    if not_applicable:
        print("\nn/a (not implemented by the peer):")
        for cell in not_applicable:
            print(f"  {cell.case} [{cell.pairing}]: {cell.reason}")
    passed = sum(c.verdict == "PASS" for c in cells)
    failed = sum(c.verdict == "FAIL" for c in cells)
    print(f"\n{len(not_applicable)} n/a (counted neither as passed nor as failed), {seconds:.1f} s")
    print(f"{passed} passed, {failed} failed")
    return failed == 0 and not crashed and not any(s.start_error for s in servers.values())


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", help="comma-separated subset of: " + ",".join(CASES))
    parser.add_argument("--pairings", help="comma-separated subset of: " + ",".join(PAIRINGS)
                        + f" (default {','.join(DEFAULT_PAIRINGS)})")
    parser.add_argument("--go-only", action="store_true",
                        help="run grpc-go client -> grpc-go server only, plaintext and TLS "
                             "(checks the harness)")
    args = parser.parse_args(argv)
    cases = args.cases.split(",") if args.cases else CASES
    pairings = (GO_ONLY_PAIRINGS if args.go_only
                else args.pairings.split(",") if args.pairings else DEFAULT_PAIRINGS)
    for name, known in (("case", CASES), ("pairing", PAIRINGS)):
        for value in cases if name == "case" else pairings:
            if value not in known:
                parser.error(f"unknown {name} {value!r}")
    return cases, pairings


def main(argv=None):
    cases, pairings = parse_args(argv)
    try:
        peers = locate_go_peers()
        print(f"{len(cases)} cases x {', '.join(pairings)} (client-server; grpc-go {peers.version})",
              flush=True)
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="turbogrpc-interop-") as log_dir:
            cells, servers, crashed = asyncio.run(run_matrix(cases, pairings, peers, log_dir))
            ok = print_report(cells, cases, pairings, servers, crashed, time.monotonic() - started)
    except KeyboardInterrupt:  # asyncio.run has already cancelled the cells and stopped the servers
        print("interrupted; servers stopped", file=sys.stderr)
        return 130
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
