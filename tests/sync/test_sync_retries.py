"""The blocking API gets the service config's retries too (the engine retries, whichever API
made the call): a call failing UNAVAILABLE twice succeeds on its third attempt."""

from __future__ import annotations

import json
from concurrent import futures

import grpc

SERVICE_CONFIG = json.dumps({"methodConfig": [{
    "name": [{"service": "test.Retry"}],
    "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.01s", "maxBackoff": "0.05s",
                    "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]})


def test_a_blocking_call_is_retried_by_the_service_config(client):
    attempts = []

    def flaky(request, context):
        attempts.append(dict(context.invocation_metadata()).get("grpc-previous-rpc-attempts"))
        if len(attempts) < 3:
            context.abort(grpc.StatusCode.UNAVAILABLE, "not yet")
        return request

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "test.Retry", {"Flaky": grpc.unary_unary_rpc_method_handler(flaky)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        options = [("grpc.service_config", SERVICE_CONFIG)]
        with client.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
            response, call = channel.unary_unary("/test.Retry/Flaky").with_call(b"x", timeout=5)
        assert response == b"x" and call.code() is grpc.StatusCode.OK
        assert attempts == [None, "1", "2"]
    finally:
        server.stop(None)
