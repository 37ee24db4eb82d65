"""WriteWindow: how far a writer may run ahead of the engine's WRITE_DONE acknowledgements.

A write returns as soon as it is submitted while less than WRITE_AHEAD_BYTES are unacknowledged,
so a stream of small messages costs no loop round trip per message; past that the writer waits
for acknowledgements. Only the write a writer waits on asks the engine for a wakeup
(send_message's ack_wakes): the others' acknowledgements ride along with later events. Memory per stream stays bounded: this window in flight plus the engine's
own bound on unsent bytes. A failed write (the call ended) shows at the next write or await.
"""

from __future__ import annotations

import collections

__all__ = ["WRITE_AHEAD_BYTES", "WriteWindow"]

WRITE_AHEAD_BYTES = 64 * 1024


class WriteWindow:
    __slots__ = ("_sizes", "_bytes")

    def __init__(self) -> None:
        self._sizes: collections.deque[int] = collections.deque()  # one per unacknowledged write, oldest first
        self._bytes = 0

    def would_wait(self, size: int) -> bool:
        """Whether a write of `size` bytes will make the writer wait (see sent())."""
        return self._bytes + size >= WRITE_AHEAD_BYTES

    def sent(self, size: int) -> bool:
        """Records a submitted write; True when the writer must wait for acknowledgements."""
        self._sizes.append(size)
        self._bytes += size
        return self._bytes >= WRITE_AHEAD_BYTES

    def acked(self, ok: bool) -> bool:
        """Records one WRITE_DONE (they come in order); True when a waiting writer may go on."""
        if self._sizes:
            self._bytes -= self._sizes.popleft()
        return not ok or self._bytes < WRITE_AHEAD_BYTES
