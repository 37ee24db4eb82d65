"""A real DNS server for the tests: dnsmasq (Debian's dnsmasq-base, installed by
scripts/bootstrap.sh) on a free UDP port of a loopback address, answering only from the
records the test gives it (no upstream, no hosts file; any other name is REFUSED). It runs in
the foreground as a child process, its query log kept in memory, and is killed at the end.
Every wait is bounded. A missing binary fails the test, saying how to install it."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import tempfile
import time

import pytest

DNSMASQ = "/usr/sbin/dnsmasq"
START_TIMEOUT = 5.0  # seconds for dnsmasq to answer its first query
BIND_ATTEMPTS = 5  # free ports tried when another process takes the chosen one first


def _query(name: str) -> bytes:
    """A DNS query for `name`'s A records (recursion desired)."""
    labels = b"".join(bytes([len(part)]) + part for part in name.encode().split(b"."))
    return struct.pack(">6H", 0x7467, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack(">2H", 1, 1)


def _free_udp_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class DnsServer:
    """`records`: name → addresses (IPv4 or IPv6 text). `with DnsServer(...) as dns:` gives
    `dns.authority` ("127.0.0.1:PORT", "[::1]:PORT") for dns://AUTHORITY/name targets, and
    `dns.queries()`: the names asked for so far, one per query, as dnsmasq logged them."""

    def __init__(self, records: dict[str, list[str]], host: str = "127.0.0.1", port: int = 0):
        """`port` 0 picks a free one; a given port (a restart with other records) is tried once."""
        if not os.access(DNSMASQ, os.X_OK):
            pytest.fail(f"{DNSMASQ} is missing: run scripts/bootstrap.sh (apt package dnsmasq-base)")
        self.records = records
        self.host = host
        self.port = port
        self._process: subprocess.Popen | None = None
        self._log = tempfile.TemporaryFile()

    @property
    def authority(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def __enter__(self) -> "DnsServer":
        fixed = self.port != 0
        for _ in range(1 if fixed else BIND_ATTEMPTS):
            if not fixed:
                self.port = _free_udp_port(self.host)
            if self._start():
                return self
        log = self.log()
        self.__exit__(None, None, None)
        pytest.fail(f"dnsmasq did not start on {self.host}: {log}")

    def __exit__(self, *exc_info) -> None:
        self._stop()
        self._log.close()

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(5)
            self._process = None

    def _start(self) -> bool:
        command = [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                   "--no-hosts", "--bind-interfaces", f"--listen-address={self.host}",
                   f"--port={self.port}", "--pid-file=", "--log-queries", "--log-facility=-"]
        for name, addresses in self.records.items():
            command += [f"--host-record={name},{address}" for address in addresses]
        self._process = subprocess.Popen(command, stdout=self._log, stderr=self._log,
                                         stdin=subprocess.DEVNULL)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        deadline = time.monotonic() + START_TIMEOUT
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.settimeout(0.1)
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    self._process = None
                    return False  # most likely the port was taken meanwhile
                probe.sendto(_query("ready.probe"), (self.host, self.port))
                try:
                    if probe.recv(512)[:2] == b"\x74\x67":
                        return True
                except OSError:
                    time.sleep(0.05)
        self._stop()
        pytest.fail(f"dnsmasq did not answer on {self.authority} in {START_TIMEOUT} s: {self.log()}")

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def queries(self) -> list[str]:
        """Every query after the readiness probes, as "A name" / "AAAA name"."""
        asked = []
        for line in self.log().splitlines():
            if "]: query[" in line:
                kind, _, name = line.split("query[", 1)[1].partition("] ")
                name = name.split(" from ", 1)[0]
                if name != "ready.probe":
                    asked.append(f"{kind} {name}")
        return asked
