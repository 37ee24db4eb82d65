"""grpc-style ``options`` (a sequence of ``(name, value)``) turned into the engine's dicts."""

import logging

from .._errors import UsageError

__all__ = ["channel_options", "server_options", "option_value"]

_LOGGER = logging.getLogger("turbogrpc.aio")

_CHANNEL_KEYS = {
    "grpc.max_receive_message_length": "max_receive_message_length",
    "grpc.max_send_message_length": "max_send_message_length",
    "grpc.max_metadata_size": "max_metadata_size",
    "grpc.absolute_max_metadata_size": "absolute_max_metadata_size",
    "grpc.default_authority": "authority",
    "grpc.primary_user_agent": "user_agent",
}
_SERVER_KEYS = {
    "grpc.max_receive_message_length": "max_receive_message_length",
    "grpc.max_send_message_length": "max_send_message_length",
    "grpc.max_concurrent_streams": "max_concurrent_streams",
    "grpc.server_handshake_timeout_ms": "handshake_timeout_ms",
    "grpc.max_connection_idle_ms": "max_connection_idle_ms",
    "grpc.max_metadata_size": "max_metadata_size",
    "grpc.absolute_max_metadata_size": "absolute_max_metadata_size",
}
_STRING_VALUED = ("authority", "user_agent")


def _convert(options, known, what):
    result = {}
    if not options:
        return result
    if isinstance(options, dict):
        options = options.items()
    for item in options:
        try:
            name, value = item
        except (TypeError, ValueError):
            raise UsageError(f"{what} options must be (name, value) pairs, got {item!r}") from None
        key = known.get(name)
        if key is None:
            # Unknown grpc.* options (keepalive, lb policy, ...) are accepted and ignored so
            # that options written for grpcio keep working.
            _LOGGER.debug("turbogrpc: ignoring %s option %r", what, name)
            continue
        if key in _STRING_VALUED:
            if not isinstance(value, str):
                raise UsageError(f"option {name!r} takes a str, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"option {name!r} takes an int, got {value!r}")
        elif value < 0:
            value = -1  # grpcio: any negative length means unlimited
        result[key] = value
    return result


def channel_options(options):
    """The dict ``_engine.create_channel`` takes."""
    return _convert(options, _CHANNEL_KEYS, "channel")


def server_options(options):
    """The dict ``_engine.start_server`` takes."""
    return _convert(options, _SERVER_KEYS, "server")


def option_value(options, name):
    """The last value given for ``name`` in grpc-style options, or None."""
    if isinstance(options, dict):
        return options.get(name)
    found = None
    for item in options or ():
        if isinstance(item, (tuple, list)) and len(item) == 2 and item[0] == name:
            found = item[1]
    return found
