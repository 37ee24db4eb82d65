"""The asyncio side of security, both off the loop: the task that runs a held call's
call-credentials plugins and then releases the call or fails it UNAVAILABLE, and the one that
asks a server's certificate fetcher for new certificates before waiting handshakes go on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from .. import _engine
from .._core._call_credentials import (
    CallCredentialsError, call_credentials_metadata, service_url_and_method,
)
from .._core._server_security import install_fetched_certificates

if TYPE_CHECKING:
    from .._core._credentials import CallCredentials
    from .._core._server_security import CertificateFetcher
    from ._call import Call
    from ._channel import Channel

__all__ = ["fetch_call_metadata", "refresh_certificates"]

_LOGGER = logging.getLogger("turbogrpc.aio")
_UNAVAILABLE = 14
# Strong references: the loop keeps tasks only weakly.
_pending_fetches: set[asyncio.Task[None]] = set()


def fetch_call_metadata(call: Call, channel: Channel, method: str,
                        call_credentials: tuple[CallCredentials, ...]) -> None:
    """Runs the plugins for a call started held (awaits_metadata) and releases or fails it."""
    task = call._loop.create_task(_fetch(call, channel, method, call_credentials))
    _pending_fetches.add(task)
    task.add_done_callback(_pending_fetches.discard)
    call.add_done_callback(lambda _call: task.cancel())  # type: ignore[arg-type]  # result unused


async def _fetch(call: Call, channel: Channel, method: str,
                 call_credentials: tuple[CallCredentials, ...]) -> None:
    service_url, method_name = service_url_and_method(
        channel._authority, method, channel._security.tls is not None)
    try:
        metadata = await call_credentials_metadata(call_credentials, service_url, method_name)
        if call._code is None:
            _engine.call_metadata(channel._channel_id, call._call_id, metadata)
    except asyncio.CancelledError:
        raise
    except CallCredentialsError as exc:
        call._fail_locally(_UNAVAILABLE, exc.details)
    except Exception as exc:  # noqa: BLE001 - e.g. metadata the engine refuses: the call must end
        call._fail_locally(_UNAVAILABLE, f"Getting metadata from plugin failed with error: {exc}", exc)


async def refresh_certificates(server_id: int, listener: int, fetcher: CertificateFetcher,
                               require_client_auth: bool) -> None:
    """Runs a server's certificate fetcher off the loop (it may read files), see
    install_fetched_certificates."""
    await asyncio.get_running_loop().run_in_executor(
        None, install_fetched_certificates, server_id, listener, fetcher, require_client_auth,
        _LOGGER)
