"""The examples' self-checks: ``expect`` raises CheckFailed when what it was told is false, and
``run`` runs an example's ``main()`` and exits 1 (printing why) on a failed check or an RPC error.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Callable, Coroutine


class CheckFailed(Exception):
    pass


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise CheckFailed(what)


def run(main: Callable[[], Coroutine[Any, Any, None]], rpc_error: type[BaseException]) -> None:
    try:
        asyncio.run(main())
    except (CheckFailed, rpc_error) as err:
        print(f"FAILED: {err}", file=sys.stderr)
        sys.exit(1)
    print("all checks OK")
