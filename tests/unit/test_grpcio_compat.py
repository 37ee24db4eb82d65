"""With grpcio installed, our exceptions are grpcio's too (python/turbogrpc/_core/_grpcio.py)."""

from __future__ import annotations

import pickle

import grpc
import grpc.aio

import turbogrpc
from turbogrpc import aio


def test_rpc_errors_are_grpcio_errors():
    error = aio.AioRpcError(aio.StatusCode.NOT_FOUND, (), (("k", "v"),), "missing", "debug")
    assert isinstance(error, grpc.RpcError)
    assert isinstance(error, grpc.aio.AioRpcError)
    assert isinstance(error, aio.RpcError)
    assert (error.code(), error.details(), error.trailing_metadata()) == (
        aio.StatusCode.NOT_FOUND, "missing", (("k", "v"),))
    assert "missing" in str(error)


def test_rpc_errors_still_pickle():
    error = aio.AioRpcError(aio.StatusCode.UNAVAILABLE, None, None, "gone", "debug")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is aio.AioRpcError
    assert (copy.code(), copy.details(), copy.debug_error_string()) == (
        aio.StatusCode.UNAVAILABLE, "gone", "debug")


def test_usage_and_abort_errors():
    assert issubclass(turbogrpc.UsageError, grpc.aio.UsageError)
    assert issubclass(turbogrpc.UsageError, ValueError)  # what it was before grpcio joined
    assert issubclass(aio.AbortError, grpc.aio.AbortError)
