"""Objects from before fork(): channels and servers remember the engine generation they were
made in (``_engine.generation()``, new in a child process), and using one in a child is a
clear UsageError instead of a hang."""

from __future__ import annotations

from .. import _engine
from ._errors import UsageError

__all__ = ["check_generation"]

_FORK_MESSAGE = (
    "this {} was created before fork(); create a new one in the child process"
)


def check_generation(generation: int, what: str) -> None:
    """Raise UsageError when an object from before fork() is used in the child."""
    if generation != _engine.generation():
        raise UsageError(_FORK_MESSAGE.format(what))
