"""What the two client-interceptor test files share (test_sync_client_interceptors.py and
test_sync_client_interceptor_calls.py): the service (the blocking tests' of servers.py plus
methods that report the metadata they received on every shape, and one that fails the first
time it sees a key), the ``env`` fixture serving it on each server kind, and the interceptors
both files use.
"""

from __future__ import annotations

import collections

import grpc
import pytest

from sync.servers import SERVICE, Service, serve

OK, NOT_FOUND, UNAVAILABLE = (grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND,
                              grpc.StatusCode.UNAVAILABLE)
SHAPES = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")


# -- the service ------------------------------------------------------------------------------

def _seen(context):
    return repr(sorted((k, v) for k, v in context.invocation_metadata() if k.startswith("x-")))


class InterceptedService(Service):
    def __init__(self):
        super().__init__()
        self.attempts = collections.Counter()

    def metadata_stream(self, request, context):
        yield _seen(context).encode()

    def metadata_join(self, request_iterator, context):
        return b"|".join(list(request_iterator) + [_seen(context).encode()])

    def metadata_chat(self, request_iterator, context):
        for request in request_iterator:
            yield request
        yield _seen(context).encode()

    def fail_stream(self, request, context):
        yield b"first"
        context.abort(grpc.StatusCode.NOT_FOUND, "no more")

    def flaky(self, request, context):
        """Fails with the status named by the request the first time, then echoes."""
        with self.lock:
            self.attempts[request] += 1
            first = self.attempts[request] == 1
        if first:
            context.abort(getattr(grpc.StatusCode, request.decode()), "try again")
        return request

    def handlers(self):
        base = super().handlers()
        extra = grpc.method_handlers_generic_handler(SERVICE, {
            "MetadataStream": grpc.unary_stream_rpc_method_handler(self.metadata_stream),
            "MetadataJoin": grpc.stream_unary_rpc_method_handler(self.metadata_join),
            "MetadataChat": grpc.stream_stream_rpc_method_handler(self.metadata_chat),
            "FailStream": grpc.unary_stream_rpc_method_handler(self.fail_stream),
            "Flaky": grpc.unary_unary_rpc_method_handler(self.flaky),
        })

        class Both(grpc.GenericRpcHandler):
            def service(self, handler_call_details):
                return extra.service(handler_call_details) or base.service(handler_call_details)

        return Both()


class Env:
    def __init__(self, client, channel, service):
        self.client = client
        self.channel = channel
        self.service = service

    def intercept(self, *interceptors):
        return self.client.intercept_channel(self.channel, *interceptors)


@pytest.fixture
def env(client, server_kind):
    service = InterceptedService()
    with serve(server_kind, service) as port:
        with client.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Env(client, channel, service)
        service.release.set()


def _path(name):
    return f"/{SERVICE}/{name}"


# -- interceptors -----------------------------------------------------------------------------

class _Details(collections.namedtuple("_Details", ("method", "timeout", "metadata", "credentials",
                                                   "wait_for_ready", "compression")),
               grpc.ClientCallDetails):
    """What interceptors written for grpcio pass on (grpc's own example builds these)."""


def _replaced(details, **changes):
    fields = {name: getattr(details, name) for name in _Details._fields}
    fields.update(changes)
    return _Details(**fields)


class AllShapes(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Routes all four shapes to ``_intercept``."""

    def _intercept(self, continuation, details, request):
        return continuation(details, request)

    def intercept_unary_unary(self, continuation, details, request):
        return self._intercept(continuation, details, request)

    def intercept_unary_stream(self, continuation, details, request):
        return self._intercept(continuation, details, request)

    def intercept_stream_unary(self, continuation, details, request_iterator):
        return self._intercept(continuation, details, request_iterator)

    def intercept_stream_stream(self, continuation, details, request_iterator):
        return self._intercept(continuation, details, request_iterator)


class AddMetadata(AllShapes):
    def __init__(self, key, value="1"):
        self.pair = (key, value)
        self.seen = []

    def _intercept(self, continuation, details, request):
        self.seen.append(details)
        metadata = list(details.metadata or ()) + [self.pair]
        return continuation(_replaced(details, metadata=metadata), request)


class Prefixed:
    """A response stream wrapped by an interceptor: prefixes each response, and is still the
    call (status and metadata come from the call it wraps)."""

    def __init__(self, call, prefix):
        self._call, self._prefix = call, prefix

    def __iter__(self):
        return self

    def __next__(self):
        return self._prefix + next(self._call)

    def __getattr__(self, name):
        return getattr(self._call, name)


class WrapResponses(grpc.UnaryStreamClientInterceptor, grpc.StreamStreamClientInterceptor):
    def __init__(self, prefix):
        self.prefix = prefix

    def intercept_unary_stream(self, continuation, details, request):
        return Prefixed(continuation(details, request), self.prefix)

    def intercept_stream_stream(self, continuation, details, request_iterator):
        return Prefixed(continuation(details, request_iterator), self.prefix)


def _call_shape(channel, shape, name, **options):
    """One call of each shape on ``channel``, to the method ``name`` of that shape: its
    responses as a list of bytes."""
    options.setdefault("timeout", 5)
    if shape == "unary_unary":
        return [channel.unary_unary(_path(name))(b"2", **options)]
    if shape == "unary_stream":
        return list(channel.unary_stream(_path(name))(b"2", **options))
    if shape == "stream_unary":
        return [channel.stream_unary(_path(name))(iter([b"a", b"b"]), **options)]
    return list(channel.stream_stream(_path(name))(iter([b"a", b"b"]), **options))
