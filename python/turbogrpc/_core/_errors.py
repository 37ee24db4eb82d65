"""Errors raised when the API is used the wrong way (not RPC failures), the warning for
options turbogrpc does not implement, and RpcError, the base of the RPC failures both APIs
raise.

RPC failures travel as status codes (see ``turbogrpc.aio.AioRpcError``); a ``UsageError``
means the calling code has to change. With grpcio installed each class here also derives from
grpcio's class of the same name, so ``except grpc.aio.UsageError`` keeps catching.
"""

from ._grpcio import grpcio_bases

__all__ = ["RpcError", "BaseError", "UsageError", "InternalError", "UsageTypeError",
           "UsageRuntimeError", "UsageAttributeError", "UnsupportedOptionWarning"]


# With grpcio, its class of the same name joins the bases (a runtime tuple the type checker
# cannot follow: hence the ignores; statically these derive from the builtins named).
class RpcError(*grpcio_bases("RpcError"), Exception):  # type: ignore[misc]
    """Base class of RPC failures; also a ``grpc.RpcError`` when grpcio is installed."""


class BaseError(*grpcio_bases("aio.BaseError"), Exception):  # type: ignore[misc]
    """Base of the exceptions turbogrpc.aio raises itself (grpc.aio's ``BaseError``)."""


class UsageError(BaseError, *grpcio_bases("aio.UsageError"), ValueError):  # type: ignore[misc]
    """The API was misused: wrong argument, wrong state, wrong loop, use after fork.

    Also a ``grpc.aio.UsageError`` when grpcio is installed.

    Example::

        try:
            await channel.unary_unary("/pkg.Svc/M")(b"")
        except turbogrpc.UsageError as error:
            print("fix the caller:", error)
    """


class InternalError(BaseError, *grpcio_bases("aio.InternalError")):  # type: ignore[misc]
    """An unexpected failure inside turbogrpc (grpc.aio's ``InternalError``)."""


class UsageTypeError(UsageError, TypeError):
    """A UsageError where grpc.aio raises TypeError (metadata of the wrong type), so that both
    ``except TypeError`` (code written for grpc.aio) and ``except UsageError`` catch it."""


class UsageRuntimeError(UsageError, RuntimeError):
    """A UsageError where grpc.aio raises RuntimeError (``set_compression()`` after the
    response headers went out); both ``except`` clauses catch it."""


class UsageAttributeError(UsageError, AttributeError):
    """A UsageError where grpcio's sync server raises AttributeError (a generic handler with no
    ``service()``); both ``except`` clauses catch it."""


class UnsupportedOptionWarning(UserWarning):
    """A channel or server was given ``options`` turbogrpc does not implement (docs/options.md).

    Issued once per channel or server, naming every such option; options that only tune
    grpc-core's internals are accepted silently. To silence it::

        warnings.filterwarnings("ignore", category=turbogrpc.aio.UnsupportedOptionWarning)
    """
