"""The engine's events as Python receives them (docs/seam.md): their kinds, the tuple type,
what takes the events of one call, and what any consumer does once a call is over whatever
waits on its queue: run its done callbacks, or refuse a server call no server takes."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from .. import _engine

if TYPE_CHECKING:
    from ._typing import DoneCallbackType

__all__ = ["UNARY_DONE", "INITIAL_METADATA", "MESSAGE", "WRITE_DONE", "FINISHED", "SERVER_CALL",
           "SERVER_DONE", "CERTIFICATE_FETCH", "CONNECTIVITY", "EngineEvent", "EventReceiver",
           "run_done_callbacks", "reject_orphan_call"]

# The asyncio API's logger, as before these helpers were shared.
_LOGGER = logging.getLogger("turbogrpc.aio")

# Event kinds (docs/seam.md). UNARY_DONE, FINISHED and SERVER_DONE close a call.
UNARY_DONE = 0
INITIAL_METADATA = 1
MESSAGE = 2
WRITE_DONE = 3
FINISHED = 4
SERVER_CALL = 5
SERVER_DONE = 6
CERTIFICATE_FETCH = 7
CONNECTIVITY = 8  # a channel watch's one event: closes it like a call's last event

# One engine event: (kind, call or server id, ...) as docs/seam.md lists per kind.
EngineEvent = tuple[Any, ...]


class EventReceiver(Protocol):
    """What a queue's table of calls holds: an object taking the events of one call."""

    def _on_event(self, event: EngineEvent) -> object: ...


def run_done_callbacks(callbacks: Iterable[DoneCallbackType], owner: object) -> None:
    """Call each done callback with `owner`; a failing callback is logged, never raised."""
    for callback in callbacks:
        try:
            callback(owner)
        except Exception:
            _LOGGER.exception("turbogrpc: done callback %r raised", callback)


def reject_orphan_call(event: EngineEvent) -> None:
    # A call for a server that was stopped (or belongs to no loop here): refuse it cleanly.
    try:
        _engine.finish(event[1], None, None, 14, "Server is not running", ())
    except Exception:
        _LOGGER.debug("turbogrpc: could not reject call %r", event[1], exc_info=True)
