"""grpc's blocking-API interfaces: ``RpcContext``, ``Call``, ``Future`` and the future errors.

With grpcio installed, ``FutureTimeoutError`` and ``FutureCancelledError`` *are* grpcio's
classes (so ``except grpc.FutureTimeoutError`` catches ours) and our call classes are
registered with ``grpc.Call`` and ``grpc.Future``; without it they are our own.
"""

from __future__ import annotations

import abc
import types
from typing import TYPE_CHECKING, Any, Callable, Optional

from .._core._grpcio import grpcio_attr, register_with_grpcio

if TYPE_CHECKING:
    from .._core._status import StatusCode

__all__ = ["RpcContext", "Call", "Future", "FutureTimeoutError", "FutureCancelledError",
           "FinishedContext", "FinishedFuture"]


class _OwnFutureTimeoutError(Exception):
    """A future's result was not ready within the given time."""


class _OwnFutureCancelledError(Exception):
    """The computation of a future was cancelled."""


FutureTimeoutError: type[Exception] = grpcio_attr("FutureTimeoutError") or _OwnFutureTimeoutError
FutureCancelledError: type[Exception] = grpcio_attr("FutureCancelledError") or _OwnFutureCancelledError


class RpcContext(abc.ABC):
    """What every RPC offers (grpc's ``RpcContext``)."""

    __slots__ = ()

    @abc.abstractmethod
    def is_active(self) -> bool:
        """True while the RPC runs."""

    @abc.abstractmethod
    def time_remaining(self) -> Optional[float]:
        """Seconds left before the deadline, or None without one."""

    @abc.abstractmethod
    def cancel(self) -> bool:
        """Cancels the RPC; True if it was still running."""

    @abc.abstractmethod
    def add_callback(self, callback: Callable[[], None]) -> bool:
        """Calls ``callback()`` when the RPC ends; False (not registered) if it already has."""


class Call(RpcContext):
    """A client-side RPC (grpc's ``Call``): its metadata and status."""

    __slots__ = ()

    @abc.abstractmethod
    def initial_metadata(self) -> Any:
        """The server's initial metadata (blocks until it arrives)."""

    @abc.abstractmethod
    def trailing_metadata(self) -> Any:
        """The server's trailing metadata (blocks until the RPC ends)."""

    @abc.abstractmethod
    def code(self) -> StatusCode:
        """The status code (blocks until the RPC ends)."""

    @abc.abstractmethod
    def details(self) -> Optional[str]:
        """The status details (blocks until the RPC ends)."""


class Future(abc.ABC):
    """grpc's ``Future``: an asynchronously computed value, waited for with ``result()``."""

    __slots__ = ()

    @abc.abstractmethod
    def cancel(self) -> bool: ...

    @abc.abstractmethod
    def cancelled(self) -> bool: ...

    @abc.abstractmethod
    def running(self) -> bool: ...

    @abc.abstractmethod
    def done(self) -> bool: ...

    @abc.abstractmethod
    def result(self, timeout: Optional[float] = None) -> Any: ...

    @abc.abstractmethod
    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]: ...

    @abc.abstractmethod
    def traceback(self, timeout: Optional[float] = None) -> Optional[types.TracebackType]: ...

    @abc.abstractmethod
    def add_done_callback(self, fn: Callable[[Any], None]) -> None: ...


class FinishedContext:
    """The RpcContext answers of an RPC that has ended (mixed in before RpcContext)."""

    __slots__ = ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> Optional[float]:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return False


class FinishedFuture:
    """The Future answers of a computation that has ended, not cancelled (mixed in before
    Future); ``result``, ``exception`` and ``traceback`` are the user's own."""

    __slots__ = ()

    def cancelled(self) -> bool:
        return False

    def running(self) -> bool:
        return False

    def done(self) -> bool:
        return True

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        fn(self)


register_with_grpcio(RpcContext, "RpcContext")
register_with_grpcio(Call, "Call")
register_with_grpcio(Future, "Future")
