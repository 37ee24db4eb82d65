"""Running a call's client interceptors: the chain behind an intercepted call, and its outcome.

grpc.aio's semantics (its ``aio/_interceptor.py``): the interceptors of the call's kind run in
order, the first outermost. Each gets ``continuation(details, request)``, which runs the next
one or, after the last, starts the RPC from the details it is given (method, timeout, metadata,
credentials, wait_for_ready). The deadline starts there: time spent in interceptors does not
count, and each attempt of a retrying interceptor gets the whole timeout. What the outermost
returns, or what it raises, is the chain's outcome, kept here; what the caller sees of it is
the intercepted call's (_intercepted_call.py).

grpc.aio runs every chain in a new Task. Here the chain is driven eagerly (see _eager.py): its
first step runs inside ``__call__``, in a copy of the caller's context, with a stand-in as the
current task, so an interceptor that returns ``await continuation(...)`` at once costs no Task,
no Future and no loop iteration. A chain that really waits continues in a Task (the stand-in
forwarding to it from then on), which is what grpc.aio would have run it in.
"""

from __future__ import annotations

import asyncio
import functools
import time
import types
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, ClassVar, Generic, NoReturn, Optional, Union

from .._core._errors import UsageError
from .._core._events import run_done_callbacks
from .._core._metadata import Metadata, as_pairs
from .._core._typing import DoneCallbackType, MetadataType, RequestType, ResponseType
from ._client_interceptor import ClientCallDetails
from ._eager import _Resume, _StandInTask, copy_context

if TYPE_CHECKING:
    from collections.abc import Awaitable as AwaitableABC

    from .._core._credentials import CallCredentials
    from ._call import UnaryUnaryCall
    from ._completion import LoopState
    from ._intercepted_streams import CallLike
    from ._multicallable import (
        InterceptingStreamStreamMultiCallable, InterceptingStreamUnaryMultiCallable,
        InterceptingUnaryStreamMultiCallable, InterceptingUnaryUnaryMultiCallable,
    )
    from ._stream_call import StreamStreamCall, StreamUnaryCall, UnaryStreamCall

    # The multicallable an intercepted call runs for (_multicallable.py): its kind's.
    _Multicallable = Union[
        InterceptingUnaryUnaryMultiCallable[RequestType, ResponseType],
        InterceptingUnaryStreamMultiCallable[RequestType, ResponseType],
        InterceptingStreamUnaryMultiCallable[RequestType, ResponseType],
        InterceptingStreamStreamMultiCallable[RequestType, ResponseType],
    ]
    # The RPC the last continuation starts.
    _RpcClass = Union[type[UnaryUnaryCall[Any, Any]], type[UnaryStreamCall[Any, Any]],
                      type[StreamUnaryCall[Any, Any]], type[StreamStreamCall[Any, Any]]]

__all__ = ["InterceptorChain"]

_current_task = asyncio.current_task
# ClientCallDetails(...) without the namedtuple's Python-level __new__ (a third of the cost).
_tuple_new = tuple.__new__
_monotonic = time.monotonic
_CancelledError = asyncio.CancelledError
_CoroutineType = types.CoroutineType
_spare_stand_in: Optional[_StandInTask] = None  # one no chain kept, for the next call (same loop)


# Making the stand-in the loop's current task for the first step, and back: asyncio's own
# (private) _swap_current_task from 3.12 on; before, its table of current tasks, written
# directly (a Python-level swap function costs more than the rest of the step).
# (Typed loosely: the current task they hold may be a stand-in.)
_swap_current_task: Optional[Callable[[asyncio.AbstractEventLoop, object], object]] = getattr(
    asyncio.tasks, "_swap_current_task", None)
_current_tasks: Optional[dict[asyncio.AbstractEventLoop, object]] = (
    None if _swap_current_task is not None
    else asyncio.tasks._current_tasks)  # type: ignore[attr-defined]  # private, before 3.12

# Metadata's one field read directly (an empty one made without __init__, an empty one seen
# at a glance), when Metadata is what this expects.
_new_object = object.__new__
_FAST_EMPTY_METADATA = getattr(Metadata, "__slots__", None) == ("_entries",)


def _cancelling() -> bool:
    """Whether the running task is being cancelled (a CancelledError is then its own)."""
    task = _current_task()
    cancelling = getattr(task, "cancelling", None)  # 3.11+
    return bool(cancelling is not None and cancelling())


def _as_metadata(metadata: Optional[MetadataType]) -> Metadata:
    # grpc.aio gives interceptors a Metadata, empty when the caller passed none, and the
    # caller's own object when it passed one.
    if metadata is None:
        return Metadata()
    if isinstance(metadata, Metadata):
        return metadata
    return Metadata(*as_pairs(metadata))


def _path_of(method: object) -> str:
    """The path an interceptor put in ClientCallDetails.method: bytes, as grpc.aio gives it,
    or str."""
    if isinstance(method, bytes):
        method = method.decode("utf-8")
    if not isinstance(method, str) or not method.startswith("/"):
        raise UsageError(
            f"ClientCallDetails.method must be a path like b'/package.Service/Method', "
            f"got {method!r}")
    return method


def _relay(callback: DoneCallbackType, owner: object, _call: object) -> None:
    callback(owner)


async def _awaited(awaitable: AwaitableABC[Any]) -> Any:
    # An interceptor written as a plain ``def``: grpc.aio awaits whatever it returned.
    return await awaitable


class InterceptorChain(Generic[RequestType, ResponseType]):
    """One call's chain of interceptors: runs it (its first step inline) and keeps its outcome,
    the call it returned or what it raised. The base of InterceptedCall (_intercepted_call.py),
    which puts the Call API in front of that outcome."""

    __slots__ = ("_multicallable", "_state", "_compression", "_deadline", "_call", "_error",
                 "_task", "_pending_callbacks", "__weakref__")

    _multicallable: _Multicallable[RequestType, ResponseType]
    _state: LoopState
    _compression: int
    _deadline: Optional[float]
    _call: Optional[CallLike]  # what the chain returned (a call, or a stand-in for one)
    _error: Optional[BaseException]  # what the chain raised
    _task: Optional[asyncio.Task[CallLike]]  # the chain, once it waits on something
    _pending_callbacks: Optional[list[DoneCallbackType]]  # added while the chain runs
    _last: Optional[CallLike]  # response streams' (ReadsThrough)

    _call_class: ClassVar[_RpcClass]  # the RPC the last continuation starts
    _keeps_last = False  # whether _final records the call it made in _last (response streams)

    if TYPE_CHECKING:
        def _returned(self, result: Any) -> CallLike:
            """The call standing for what the chain returned (each shape's)."""

    def __init__(self, multicallable: _Multicallable[RequestType, ResponseType],
                 state: LoopState, request: Any, timeout: Optional[float],
                 metadata: Optional[MetadataType], credentials: Optional[CallCredentials],
                 wait_for_ready: Optional[bool], compression: int) -> None:
        self._run_chain(multicallable, state, request, timeout, metadata, credentials,
                        wait_for_ready, compression)

    def _run_chain(self, multicallable: _Multicallable[RequestType, ResponseType],
                   state: LoopState, request: Any, timeout: Optional[float],
                   metadata: Optional[MetadataType], credentials: Optional[CallCredentials],
                   wait_for_ready: Optional[bool], compression: int) -> None:
        # __init__'s work; the multicallables call it on object.__new__(cls) (cheaper).
        global _spare_stand_in
        self._multicallable = multicallable
        self._state = state
        self._compression = compression
        self._call = self._error = self._task = self._pending_callbacks = None
        self._deadline = (None if timeout is None else _monotonic() + timeout
                          if type(timeout) in (float, int) and timeout == timeout else None)
        if type(metadata) is not Metadata:
            if metadata is None and _FAST_EMPTY_METADATA:
                metadata = _new_object(Metadata)
                metadata._entries = {}
            else:
                metadata = _as_metadata(metadata)
        details = _tuple_new(ClientCallDetails, (multicallable._method_bytes, timeout, metadata,
                                                 credentials, wait_for_ready))
        intercepts = multicallable._intercepts
        continuation = self._final if len(intercepts) == 1 else functools.partial(self._next, 1)
        loop = state.loop
        stand_in = _spare_stand_in
        if stand_in is None or stand_in._loop is not loop:
            stand_in = _StandInTask(loop)
        else:
            _spare_stand_in = None
            stand_in._cancel_requests = 0
        context = copy_context()
        tasks = _current_tasks
        if tasks is not None:
            current = tasks.get(loop)
            tasks[loop] = stand_in
        else:
            current = _swap_current_task(loop, stand_in)  # type: ignore[misc]  # set: no table
        finished = True
        error = None
        try:
            coro = intercepts[0](continuation, details, request)
            if type(coro) is not _CoroutineType:
                coro = _awaited(coro)
            pending = context.run(coro.send, None)
            finished = False
        except StopIteration as stop:
            result = stop.value
        except BaseException as exc:  # noqa: BLE001 - sorted out below, once the task is back
            error = exc
        if tasks is not None:
            if current is None:
                del tasks[loop]
            else:
                tasks[loop] = current
        else:
            _swap_current_task(loop, current)  # type: ignore[misc]  # set: no table
        if finished:
            _spare_stand_in = stand_in
            if error is not None:
                if not isinstance(error, (Exception, _CancelledError)):
                    raise error  # KeyboardInterrupt, SystemExit: not the call's business
                self._error = error
            elif type(result) is self._call_class:
                self._call = result  # what the continuation made, as a pass-through returns
            else:
                try:
                    self._call = self._returned(result)
                except Exception as exc:  # noqa: BLE001 - e.g. an iterator that is not one
                    self._error = exc
            return
        # The chain waits on something: it goes on in a Task, as all of it does in grpc.aio.
        task = context.run(loop.create_task, self._resume(_Resume(coro, pending)))
        stand_in._task = task
        if stand_in._cancel_requests:
            task.cancel()
        self._task = task
        task.add_done_callback(self._chain_finished)
        chains = multicallable._channel._chains
        chains.add(task)
        task.add_done_callback(chains.discard)

    async def _resume(self, resumed: _Resume) -> CallLike:
        return self._returned(await resumed)

    async def _next(self, index: int, details: ClientCallDetails, request: Any) -> CallLike:
        intercepts = self._multicallable._intercepts
        continuation = (self._final if index + 1 == len(intercepts)
                        else functools.partial(self._next, index + 1))
        return self._returned(await intercepts[index](continuation, details, request))

    async def _final(self, details: ClientCallDetails, request: Any) -> CallLike:
        # After the last interceptor: the RPC, as the multicallable's _invoke starts it, from the
        # details passed on.
        multicallable = self._multicallable
        method: Union[str, bytes]  # bytes as grpc.aio gives it, or str
        metadata: Optional[MetadataType]  # the engine takes pairs
        if type(details) is ClientCallDetails:
            method, timeout, metadata, credentials, wait_for_ready = details
        else:  # any object with these attributes, as grpc.aio reads them
            method, timeout, metadata = details.method, details.timeout, details.metadata
            credentials, wait_for_ready = details.credentials, details.wait_for_ready
        if method is not multicallable._method_bytes:
            method = _path_of(method)
        else:
            method = multicallable._method
        if timeout is not None and (type(timeout) is not float or timeout != timeout):
            timeout = multicallable._checked_timeout(timeout)
        if type(metadata) is Metadata:  # the engine takes pairs; most calls have none
            metadata = () if _FAST_EMPTY_METADATA and not metadata._entries else tuple(metadata)
        channel = multicallable._channel
        if channel._closed:  # while an interceptor waited
            channel._loop_state()  # raises UsageError("Channel is closed")
        if credentials is not None or channel._security.call_credentials:
            call = multicallable._invoke_with_credentials(
                self._call_class, self._state, method, request, timeout, metadata, credentials,
                wait_for_ready, self._compression)
        else:
            call = self._call_class(
                self._state, channel, method, request, multicallable._serializer,
                multicallable._deserializer, timeout, as_pairs(metadata) if metadata else (),
                wait_for_ready, self._compression)
        if self._keeps_last:
            self._last = call  # type: ignore[misc]  # a slot of the classes that keep it
        return call

    # -- the chain's outcome -----------------------------------------------------------

    def _finished(self) -> bool:
        """Whether the chain has returned or raised; takes a finished Task's outcome."""
        task = self._task
        if task is None:
            return True
        if not task.done():
            return False
        self._task = None
        if task.cancelled():
            self._error = _CancelledError()
        else:
            error = task.exception()
            if error is None:
                self._call = task.result()
            else:
                self._error = error
        return True

    def _chain_finished(self, task: asyncio.Future[CallLike]) -> None:
        self._finished()
        callbacks, self._pending_callbacks = self._pending_callbacks, None
        if not callbacks:
            return
        call = self._call
        if call is None or call.done():
            run_done_callbacks(callbacks, self)
        else:
            for callback in callbacks:
                call.add_done_callback(functools.partial(_relay, callback, self))

    def _raise_error(self) -> NoReturn:
        error = self._error
        if isinstance(error, _CancelledError):
            raise _CancelledError()
        raise error  # type: ignore[misc]  # only called with an error

    def _chain_call(self) -> Generator[Any, None, CallLike]:
        """Generator giving the call the chain returned (raising what it raised)."""
        task = self._task
        if task is not None:
            # Cancelling the task awaiting this cancels the chain with it (grpc.aio: same).
            yield from task.__await__()
            self._finished()
        if self._error is not None:
            self._raise_error()
        return self._call  # type: ignore[return-value]  # set when no error

    async def _outcome(self) -> tuple[Optional[CallLike], Optional[BaseException]]:
        """(call, None) once the chain returned a call, or (None, what it raised)."""
        task = self._task
        if task is not None:
            try:
                await task
            except _CancelledError:
                if _cancelling():
                    raise  # it is the caller of this method that is being cancelled
            except Exception:  # noqa: BLE001,S110 - the chain's outcome, taken just below
                pass
            self._finished()
        return self._call, self._error
