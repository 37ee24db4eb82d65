"""Child processes of the benchmark: started pinned to a core, read line by line without
blocking, stopped politely then firmly; plus the server's resident memory from /proc.

    proc = Pinned.start(["python", "serve.py", ...], core=0, log_path="logs/x.log")
    port = int(proc.wait_for_line("LISTENING", timeout=30).split()[1])
    ...
    proc.stop()
"""

import os
import queue
import signal
import subprocess
import threading
import time

__all__ = ["Pinned", "ProcessError", "pinning_available", "vmrss_bytes"]

_PINNING = None  # decided once by pinning_available()


class ProcessError(RuntimeError):
    """A child did not start, printed no expected line in time, or exited badly."""


def pinning_available():
    """True when this process may run on cores 0 and 1 and taskset exists (the 2-core layout)."""
    global _PINNING
    if _PINNING is None:
        cores = os.sched_getaffinity(0)
        has_taskset = any(os.access(os.path.join(d, "taskset"), os.X_OK)
                          for d in os.environ.get("PATH", "").split(os.pathsep))
        _PINNING = {0, 1} <= cores and has_taskset
    return _PINNING


def vmrss_bytes(pid):
    """The process's resident set size (VmRSS in /proc/PID/status), in bytes."""
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise ProcessError(f"no VmRSS for pid {pid}")


class Pinned:
    """One child process; its stdout lines are queued by a reader thread, stderr goes to a log."""

    def __init__(self, popen, argv, log_path):
        self.popen = popen
        self.argv = argv
        self.log_path = log_path
        self._lines = queue.Queue()
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()

    @classmethod
    def start(cls, argv, core, log_path, stdin=False):
        """Starts argv under ``taskset -c core`` (unpinned when pinning is unavailable).

        taskset execs the command, so the child's pid is the program's own pid (for VmRSS).
        With stdin=True the child gets a pipe on stdin (loadgen hold waits for it to close).
        """
        full = (["taskset", "-c", str(core)] if pinning_available() else []) + list(argv)
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        log = open(log_path, "ab")
        try:
            popen = subprocess.Popen(
                full, stdout=subprocess.PIPE, stderr=log,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                start_new_session=True)  # our Ctrl-C does not reach it; we stop it ourselves
        finally:
            log.close()
        return cls(popen, full, log_path)

    @property
    def pid(self):
        return self.popen.pid

    def _read_stdout(self):
        for raw in self.popen.stdout:
            self._lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self._lines.put(None)  # end of output

    def wait_for_line(self, prefix, timeout):
        """Returns the first stdout line starting with prefix (a string, or a tuple of them: the
        first line starting with any); raises on timeout or exit."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProcessError(f"no {prefix!r} line within {timeout:.0f} s from "
                                   f"{' '.join(self.argv)}; log tail:\n{self.log_tail()}")
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.popen.wait()
                raise ProcessError(f"{' '.join(self.argv)} exited {self.popen.returncode} "
                                   f"before printing {prefix!r}; log tail:\n{self.log_tail()}")
            if line.startswith(prefix):
                return line

    def remaining_output(self, timeout):
        """Waits for the child to exit (up to timeout) and returns its stdout lines not read yet."""
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise ProcessError(f"{' '.join(self.argv)} still running after {timeout:.0f} s; "
                               f"log tail:\n{self.log_tail()}") from None
        self._reader.join(timeout=5)
        lines = []
        while not self._lines.empty():
            line = self._lines.get()
            if line is not None:
                lines.append(line)
        return lines

    def close_stdin(self):
        if self.popen.stdin and not self.popen.stdin.closed:
            self.popen.stdin.close()

    def stop(self, grace=10.0):
        """SIGTERM, then SIGKILL after grace seconds; returns the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.close_stdin()
        return self.popen.returncode

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return "(no log)"
