"""Call credentials at call time: grpcio's plugin interfaces, and the runtime that asks plugins
for a call's metadata in threads of their own. Engine-free; channels of both APIs call it.
"""

from __future__ import annotations

import abc
import asyncio
import concurrent.futures
import contextvars
import enum
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Final, NamedTuple, Optional, Tuple, Union

from ._grpcio import grpcio_bases
from ._status import StatusCode

if TYPE_CHECKING:
    from ._credentials import CallCredentials
    from ._typing import MetadatumType

__all__ = [
    "AuthMetadataContext", "AuthMetadataPlugin", "AuthMetadataPluginCallback",
    "CallCredentialsError", "blocking_call_credentials_metadata", "call_credentials_metadata",
    "service_url_and_method",
]

_LOGGER = logging.getLogger(__name__)

_GRPC_PLUGIN = grpcio_bases("AuthMetadataPlugin")


# With grpcio, its class of the same name joins the bases of the three classes below (a runtime
# tuple the type checker cannot follow: hence the ignores).
class AuthMetadataContext(
        NamedTuple("AuthMetadataContext", [("service_url", str), ("method_name", str)]),
        *grpcio_bases("AuthMetadataContext")):  # type: ignore[misc]
    """What a plugin learns of the call: ``service_url`` ("https://host/pkg.Service") and
    ``method_name`` ("Method")."""

    __slots__ = ()


class AuthMetadataPluginCallback(
        *(grpcio_bases("AuthMetadataPluginCallback") or (abc.ABC,))):  # type: ignore[misc]
    """Given to a plugin: call it once, from any thread, with ``(metadata, None)`` or
    ``(None, error)``."""

    def __call__(self, metadata: Optional[Sequence[MetadatumType]],
                 error: Optional[Exception]) -> None:
        raise NotImplementedError()


class AuthMetadataPlugin(*(_GRPC_PLUGIN or (abc.ABC,))):  # type: ignore[misc]
    """Custom call credentials: ``plugin(context, callback)``, run in a thread of its own.

    Example::

        class Token(turbogrpc.AuthMetadataPlugin):
            def __call__(self, context, callback):
                callback((("authorization", "Bearer " + fetch_token()),), None)

        creds = turbogrpc.metadata_call_credentials(Token())
    """

    def __call__(self, context: AuthMetadataContext,
                 callback: AuthMetadataPluginCallback) -> None:
        raise NotImplementedError()

    @classmethod
    def __subclasshook__(cls, subclass: type) -> bool:
        # grpcio plugins (google-auth's, say) count as ours. The MRO is read, not issubclass():
        # grpcio's ABC checks its subclasses (ours) and would recurse back here.
        if cls is AuthMetadataPlugin and _GRPC_PLUGIN and _GRPC_PLUGIN[0] in subclass.__mro__:
            return True
        return NotImplemented  # type: ignore[no-any-return]  # the ABC's "decide as usual"


# What metadata_call_credentials() takes: an AuthMetadataPlugin, or any callable like one.
MetadataPluginType = Callable[[AuthMetadataContext, AuthMetadataPluginCallback], None]


class _AccessTokenPlugin(AuthMetadataPlugin):
    """access_token_call_credentials' plugin; answers at once, so it runs without a thread."""

    def __init__(self, access_token: str) -> None:
        self._access_token = access_token

    def __call__(self, context: AuthMetadataContext,
                 callback: AuthMetadataPluginCallback) -> None:
        callback((("authorization", f"Bearer {self._access_token}"),), None)


# ---- The runtime -----------------------------------------------------------------------------

class CallCredentialsError(Exception):
    """A call-credentials plugin failed: the call ends with ``code`` and ``details`` (grpc's)."""

    code = StatusCode.UNAVAILABLE

    def __init__(self, details: str):
        super().__init__(details)
        self.details = details


def service_url_and_method(authority: str, method_path: str, secure: bool) -> Tuple[str, str]:
    """grpc-core's AuthMetadataContext values for a call: ("https://host[:port]/pkg.Service",
    "Method"). TLS ("https") drops a ":443" port; local credentials have no scheme ("://...")."""
    slash = method_path.rfind("/")
    if slash < 0:
        service, method = "", ""
    elif slash == 0:  # grpc-core keeps the whole path as the service then
        service, method = method_path, ""
    else:
        service, method = method_path[:slash], method_path[slash + 1:]
    scheme = "https" if secure else ""
    if secure:
        host, colon, port = authority.rpartition(":")
        if colon and port == "443":
            authority = host
    return f"{scheme}://{authority}{service}", method


async def call_credentials_metadata(call_credentials: Sequence[CallCredentials],
                                    service_url: str, method_name: str,
                                    timeout: Optional[float] = None) -> list[MetadatumType]:
    """The metadata of every plugin of ``call_credentials``, in order, as [(key, value)].

    Each plugin runs in a thread of its own, one after the other (as grpc-core composes them).
    Raises CallCredentialsError if one fails, asyncio.TimeoutError after ``timeout`` seconds.
    Cancelling is safe: a plugin still running finishes alone and its answer is dropped.
    """
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    context = AuthMetadataContext(service_url, method_name)
    metadata: list[MetadatumType] = []
    for plugin, _name in _plugins_of(call_credentials):
        if deadline is not None and loop.time() >= deadline:
            raise asyncio.TimeoutError()
        answered: asyncio.Future[_Outcome] = loop.create_future()
        _start(plugin, context, _loop_settler(loop, answered))
        timer = None if deadline is None else loop.call_at(deadline, _settle_future, answered,
                                                            _TIMED_OUT)
        try:
            outcome = await answered
        finally:
            if timer is not None:
                timer.cancel()
        metadata += _unwrap(outcome)
    return metadata


def blocking_call_credentials_metadata(call_credentials: Sequence[CallCredentials],
                                       service_url: str, method_name: str,
                                       timeout: Optional[float] = None) -> list[MetadatumType]:
    """call_credentials_metadata for the blocking API: waits in the calling thread."""
    deadline = None if timeout is None else time.monotonic() + timeout
    context = AuthMetadataContext(service_url, method_name)
    metadata: list[MetadatumType] = []
    for plugin, _name in _plugins_of(call_credentials):
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise TimeoutError()
        answered: concurrent.futures.Future[_Outcome] = concurrent.futures.Future()
        _start(plugin, context, answered.set_result)
        try:
            outcome = answered.result(remaining)
        except concurrent.futures.TimeoutError:  # a distinct class before Python 3.11
            raise TimeoutError() from None
        metadata += _unwrap(outcome)
    return metadata


class _TimedOut(enum.Enum):
    TIMED_OUT = "timed out"


# An outcome: results, not exceptions, so none is ever left unretrieved. (A one-member enum, so
# the type checker narrows `outcome is _TIMED_OUT`.)
_TIMED_OUT: Final = _TimedOut.TIMED_OUT
# What a plugin's run settles with: its metadata, its failure, or (async API) the deadline.
_Outcome = Union[list["MetadatumType"], CallCredentialsError, _TimedOut]
_LEGAL_KEY = re.compile(r"[0-9a-z_.\-]+")  # grpc-core's header key characters
_LEGAL_VALUE = re.compile(r"[\x20-\x7e]*")  # and its non-binary value characters


def _plugins_of(call_credentials: Iterable[CallCredentials]
                ) -> Iterator[Tuple[MetadataPluginType, Optional[str]]]:
    for credentials in call_credentials:
        yield from credentials._plugins


def _start(plugin: MetadataPluginType, context: AuthMetadataContext,
           settle: Callable[[_Outcome], None]) -> None:
    invocation = _Invocation(plugin, settle)
    if type(plugin) is _AccessTokenPlugin:
        invocation.run(context)
        return
    # A thread per invocation, as grpcio: a plugin may block (a token refresh) and must hold
    # neither the loop nor a shared pool. The caller's contextvars go with it.
    threading.Thread(target=contextvars.copy_context().run, args=(invocation.run, context),
                     name="turbogrpc-auth-plugin", daemon=True).start()


def _loop_settler(loop: asyncio.AbstractEventLoop,
                  future: asyncio.Future[_Outcome]) -> Callable[[_Outcome], None]:
    loop_thread = threading.get_ident()

    def settle(outcome: _Outcome) -> None:
        if threading.get_ident() == loop_thread:
            _settle_future(future, outcome)
            return
        try:
            loop.call_soon_threadsafe(_settle_future, future, outcome)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    return settle


def _settle_future(future: asyncio.Future[_Outcome], outcome: _Outcome) -> None:
    if not future.done():  # cancelled, or timed out first
        future.set_result(outcome)


def _unwrap(outcome: _Outcome) -> list[MetadatumType]:
    if outcome is _TIMED_OUT:
        raise asyncio.TimeoutError()
    if isinstance(outcome, CallCredentialsError):
        raise outcome
    return outcome


class _Answer(enum.Enum):
    PENDING = "pending"  # neither called back nor raised yet
    GIVEN = "given"  # the callback was called: any further call is refused
    RAISED = "raised"  # the plugin raised first: the call failed with its text


class _Invocation:
    """One run of one plugin for one call. Settles once, from whichever thread answers first,
    with a metadata list or a CallCredentialsError."""

    __slots__ = ("_plugin", "_settle", "_lock", "_answer", "_raised")

    def __init__(self, plugin: MetadataPluginType, settle: Callable[[_Outcome], None]) -> None:
        self._plugin = plugin
        self._settle = settle
        self._lock = threading.Lock()  # guards _answer and _raised
        self._answer = _Answer.PENDING
        self._raised: Optional[BaseException] = None

    def run(self, context: AuthMetadataContext) -> None:
        try:
            self._plugin(context, _Callback(self))
        except BaseException as error:  # noqa: B902 - the thread's top: nothing above catches
            _LOGGER.warning("call credentials plugin %r raised", self._plugin, exc_info=True)
            with self._lock:
                if self._answer is not _Answer.PENDING:
                    return
                self._answer, self._raised = _Answer.RAISED, error
            self._settle(_failure(error))

    def answer(self, metadata: Optional[Sequence[MetadatumType]],
               error: Optional[Exception]) -> None:
        with self._lock:
            if self._answer is _Answer.RAISED:
                raise RuntimeError(
                    f'AuthMetadataPluginCallback called after the plugin raised "{self._raised}"!')
            if self._answer is _Answer.GIVEN:
                raise RuntimeError("AuthMetadataPluginCallback invoked more than once!")
            self._answer = _Answer.GIVEN
        if error is not None:
            self._settle(_failure(error))
            return
        try:
            pairs = _checked_metadata(metadata)
        except Exception as problem:  # noqa: BLE001 - whatever the plugin handed us
            _LOGGER.warning("call credentials plugin %r gave illegal metadata: %s",
                            self._plugin, problem)
            self._settle(CallCredentialsError("Illegal metadata"))  # grpc-core's details
            return
        self._settle(pairs)


class _Callback(AuthMetadataPluginCallback):
    __slots__ = ("_invocation",)

    def __init__(self, invocation: _Invocation) -> None:
        self._invocation = invocation

    def __call__(self, metadata: Optional[Sequence[MetadatumType]],
                 error: Optional[Exception]) -> None:
        self._invocation.answer(metadata, error)


def _failure(error: object) -> CallCredentialsError:
    failure = CallCredentialsError(f"Getting metadata from plugin failed with error: {error}")
    if isinstance(error, BaseException):
        failure.__cause__ = error
    return failure


def _checked_metadata(
        metadata: Optional[Iterable[Tuple[Union[str, bytes], Union[str, bytes, None]]]]
) -> list[MetadatumType]:
    """[(key, str or bytes value)] by grpc-core's rules for plugin metadata; ValueError or
    TypeError says what is illegal (grpcio hangs on some of these; we fail the call)."""
    pairs: list[MetadatumType] = []
    for key, value in metadata or ():
        if isinstance(key, bytes):
            key = key.decode("ascii")
        if not isinstance(key, str) or not _LEGAL_KEY.fullmatch(key):
            raise ValueError(f"illegal key {key!r}")
        if key.endswith("-bin"):
            if not isinstance(value, bytes):
                raise TypeError(f"binary key {key!r} needs a bytes value, got {type(value)}")
        else:
            if value is None:  # grpcio sends None as empty
                value = ""
            elif isinstance(value, bytes):
                value = value.decode("ascii")
            if not isinstance(value, str) or not _LEGAL_VALUE.fullmatch(value):
                raise ValueError(f"illegal value {value!r} for key {key!r}")
        pairs.append((key, value))
    return pairs
