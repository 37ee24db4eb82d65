"""A real nginx (Debian's package, installed by scripts/bootstrap.sh) as a gRPC reverse proxy for
the end-to-end tests: `NginxProxy(tmp_path, backend_ports)` writes a config into `tmp_path` that
round-robins `grpc_pass` over the backends, runs `nginx -p <tmp> -c <conf> -g 'daemon off; ...'`
in the foreground as a child process listening on 127.0.0.1 (a free port, retried if another
process takes it first), and stops it at the end. Every wait is bounded.

The nginx binary is required, not optional: when it is missing, `NginxProxy` fails the test with
a message saying how to install it (a skipped proxy test would hide a missing install step).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

NGINX = "/usr/sbin/nginx"
START_TIMEOUT = 5.0  # seconds for nginx to accept on its port
STOP_TIMEOUT = 5.0  # seconds for a graceful stop (SIGQUIT), then SIGTERM, then SIGKILL
BIND_ATTEMPTS = 5  # free ports tried when another process takes the chosen one first

# The config the tests (and docs/deployment.md) use. {placeholders} are filled in by `config()`.
CONFIG_TEMPLATE = """\
worker_processes 1;
pid {prefix}/nginx.pid;
events {{ worker_connections 256; }}

http {{
    access_log {access_log};
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;

    # gRPC request streams carry no Content-Length: the default 1m limit would end any call whose
    # request messages add up to more than 1 MiB with HTTP 413 (seen by clients as INTERNAL).
    client_max_body_size 0;

    upstream backends {{
{servers}
        keepalive 8;  # reuse HTTP/2 connections to the backends instead of one per call
    }}

    server {{
        listen 127.0.0.1:{port} http2;

        location / {{
            grpc_pass grpc://backends;
            grpc_connect_timeout 5s;
            grpc_read_timeout 30s;   # longest silence from a backend (streams that idle longer
            grpc_send_timeout 30s;   # need a larger value, or keepalive pings)
            grpc_socket_keepalive on;{error_page}
        }}{extra_locations}
    }}
}}
"""

# Optional: nginx's own errors (no upstream reachable: 502; grpc_read_timeout before the response
# headers: 504) answered as a gRPC status instead of an HTML page. `return {status}`: 200 is what
# every client maps to UNAVAILABLE; nginx's published recipe uses 204.
ERROR_PAGE = """
            error_page 502 503 504 = @grpc_unavailable;"""
UNAVAILABLE_LOCATION = """
        location @grpc_unavailable {{
            internal;
            default_type application/grpc;
            add_header grpc-status 14 always;
            add_header grpc-message "upstream unavailable" always;
            return {status};
        }}"""


def nginx_binary() -> str:
    """Path of the nginx binary; fails the test (not skip) when it is not installed."""
    if not (os.path.isfile(NGINX) and os.access(NGINX, os.X_OK)):
        found = shutil.which("nginx")
        if found:
            return found
        pytest.fail(
            f"nginx is not installed ({NGINX} missing): run scripts/bootstrap.sh, which installs "
            "Debian's nginx package, to run the reverse-proxy tests.",
            pytrace=False,
        )
    return NGINX


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def config(prefix: Path, port: int, backend_ports, access_log: str = "off",
           unavailable_status: int | None = None) -> str:
    """The config text; `unavailable_status` adds the error_page answering nginx's 502/503/504
    with grpc-status 14 under that HTTP status."""
    servers = "\n".join(f"        server 127.0.0.1:{p};" for p in backend_ports)
    error_page = extra = ""
    if unavailable_status is not None:
        error_page = ERROR_PAGE
        extra = UNAVAILABLE_LOCATION.format(status=unavailable_status)
    return CONFIG_TEMPLATE.format(prefix=prefix, port=port, servers=servers,
                                  access_log=access_log, error_page=error_page,
                                  extra_locations=extra)


class NginxProxy:
    """nginx in front of `backend_ports`; `start()`/`stop()` (blocking, bounded) or a `with`."""

    def __init__(self, tmp_path: Path, backend_ports, *, log_access: bool = False,
                 unavailable_status: int | None = None):
        self.binary = nginx_binary()
        self.unavailable_status = unavailable_status
        self.prefix = Path(tmp_path) / "nginx"
        self.backend_ports = list(backend_ports)
        self.log_access = log_access
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.log_path = self.prefix / "stderr.log"
        self.access_log_path = self.prefix / "access.log"

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        """What nginx wrote to stderr (its error log at level notice)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self) -> "NginxProxy":
        self.prefix.mkdir(parents=True, exist_ok=True)
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.prefix / sub).mkdir(exist_ok=True)
        access_log = f"{self.access_log_path}" if self.log_access else "off"
        problems = []
        for _ in range(BIND_ATTEMPTS):
            self.port = free_port()
            conf = self.prefix / "nginx.conf"
            conf.write_text(config(self.prefix, self.port, self.backend_ports, access_log,
                                   self.unavailable_status))
            started = self._launch(conf)
            if started:
                return self
            problems.append(self.log())
            if "Address already in use" not in problems[-1]:
                break  # not a lost race for the port: retrying would not help
        raise AssertionError("nginx did not start:\n" + "\n---\n".join(problems))

    def _launch(self, conf: Path) -> bool:
        with open(self.log_path, "wb") as log:
            # The global error_log (before any config is read) goes to our log file too.
            self.process = subprocess.Popen(
                [self.binary, "-p", str(self.prefix), "-c", str(conf), "-e", "stderr",
                 "-g", "daemon off; master_process on; error_log stderr notice;"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.01)
        self.stop()
        raise AssertionError(f"nginx did not accept on 127.0.0.1:{self.port} within "
                             f"{START_TIMEOUT} s:\n{self.log()}")

    def stop(self) -> None:
        """Graceful stop (SIGQUIT: finish open requests), then SIGTERM, then SIGKILL; bounded."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGQUIT, STOP_TIMEOUT), (signal.SIGTERM, 2.0),
                          (signal.SIGKILL, 2.0)):
            try:
                process.send_signal(sig)
            except ProcessLookupError:
                return
            try:
                process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self) -> "NginxProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
