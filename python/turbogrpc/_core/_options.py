"""grpc-style ``options`` (a sequence of ``(name, value)``) turned into the engine's dicts.

Every option grpc-core knows (and grpc-js's grpc.retry_buffer_size) is classified here, per
channel and per server (docs/options.md is the same table for readers; a unit test keeps the
two equal):

- honoured: converted for the engine below, or read where it applies (``option_value``);
- accepted no-op: it only tunes grpc-core's own machinery (HPACK tables, read chunk sizes,
  channelz ...) or turns off a grpc feature turbogrpc does not have, so ignoring it changes
  nothing the application can rely on;
- anything else (load balancing policies, proxies, unknown names): not supported,
  and never dropped silently: one ``UnsupportedOptionWarning`` per channel or server names them
  all. All of this runs once, when the channel or server is created.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable, Mapping
from types import FrameType
from typing import Any, Optional, Union

from ._errors import UnsupportedOptionWarning, UsageError
from ._service_config import LB_POLICIES, parse_service_config
from ._typing import ChannelArgumentType

__all__ = ["ChannelArgumentType", "channel_options", "server_options", "option_value",
           "reuse_port", "OPTIONS", "HONOURED", "NO_OP", "UNSUPPORTED"]

# ChannelArgumentType (grpc.aio's type of ``options``) is re-exported from _typing for
# turbogrpc.aio. These functions also take a dict, or any iterable of pairs.
OptionsArgument = Union[Iterable[tuple[str, Any]], dict[str, Any], None]

# Converted into the engine's option dicts (create_channel / start_server, docs/seam.md).
_CHANNEL_KEYS = {
    "grpc.max_receive_message_length": "max_receive_message_length",
    "grpc.max_send_message_length": "max_send_message_length",
    "grpc.max_metadata_size": "max_metadata_size",
    "grpc.absolute_max_metadata_size": "absolute_max_metadata_size",
    "grpc.default_authority": "authority",
    "grpc.primary_user_agent": "user_agent",
    "grpc.initial_reconnect_backoff_ms": "initial_reconnect_backoff_ms",
    "grpc.min_reconnect_backoff_ms": "min_reconnect_backoff_ms",
    "grpc.max_reconnect_backoff_ms": "max_reconnect_backoff_ms",
    "grpc.client_idle_timeout_ms": "idle_timeout_ms",
    "grpc.keepalive_time_ms": "keepalive_time_ms",
    "grpc.keepalive_timeout_ms": "keepalive_timeout_ms",
    "grpc.keepalive_permit_without_calls": "keepalive_permit_without_calls",
    "grpc.http2.max_pings_without_data": "max_pings_without_data",
    "grpc.service_config": "service_config",
    "grpc.dns_min_time_between_resolutions_ms": "min_time_between_resolutions_ms",
    "grpc.enable_retries": "enable_retries",
    "grpc.per_rpc_retry_buffer_size": "per_rpc_retry_buffer_size",
    "grpc.lb_policy_name": "lb_policy",
    "grpc.happy_eyeballs_connection_attempt_delay_ms": "happy_eyeballs_delay_ms",
    "grpc.retry_buffer_size": "retry_buffer_size",
}
_SERVER_KEYS = {
    "grpc.max_receive_message_length": "max_receive_message_length",
    "grpc.max_send_message_length": "max_send_message_length",
    "grpc.max_concurrent_streams": "max_concurrent_streams",
    "grpc.server_handshake_timeout_ms": "handshake_timeout_ms",
    "grpc.max_connection_idle_ms": "max_connection_idle_ms",
    "grpc.max_metadata_size": "max_metadata_size",
    "grpc.absolute_max_metadata_size": "absolute_max_metadata_size",
    "grpc.compression_enabled_algorithms_bitset": "enabled_compression",
    "grpc.max_connection_age_ms": "max_connection_age_ms",
    "grpc.max_connection_age_grace_ms": "max_connection_age_grace_ms",
    "grpc.keepalive_time_ms": "keepalive_time_ms",
    "grpc.keepalive_timeout_ms": "keepalive_timeout_ms",
    "grpc.keepalive_permit_without_calls": "keepalive_permit_without_calls",
    "grpc.http2.min_ping_interval_without_data_ms": "min_ping_interval_without_data_ms",
    "grpc.http2.max_ping_strikes": "max_ping_strikes",
}
_STRING_VALUED = ("authority", "user_agent", "lb_policy")

HONOURED, NO_OP, UNSUPPORTED = "honoured", "accepted no-op", "not supported"

# HONOURED, NO_OP, UNSUPPORTED, or _no_op_if(value)
Classification = Union[str, tuple[str, object]]


def _no_op_if(value: object) -> tuple[str, object]:
    """Classification of a switch for a grpc feature turbogrpc lacks: a no-op when set to
    ``value`` (the feature stays off, as here), not supported otherwise."""
    return ("if", value)


_H, _N, _U = HONOURED, NO_OP, UNSUPPORTED

# name -> (on a channel, on a server). Options honoured but not in the key tables above are
# read where they apply: the default compression (_channel / _server), the TLS name override
# (_security), SO_REUSEPORT (reuse_port, for the server's listen).
OPTIONS: dict[str, tuple[Classification, Classification]] = {
    # message and metadata limits (docs/limits.md)
    "grpc.max_receive_message_length": (_H, _H),
    "grpc.max_send_message_length": (_H, _H),
    "grpc.max_metadata_size": (_H, _H),
    "grpc.absolute_max_metadata_size": (_H, _H),
    # channel identity
    "grpc.default_authority": (_H, _N),
    "grpc.primary_user_agent": (_H, _N),
    "grpc.secondary_user_agent": (_U, _N),
    "grpc.ssl_target_name_override": (_H, _N),
    # compression
    "grpc.default_compression_algorithm": (_H, _H),
    "grpc.default_compression_level": (_U, _U),
    "grpc.compression_enabled_algorithms_bitset": (_U, _H),
    "grpc.per_message_compression": (_no_op_if(1), _no_op_if(1)),
    "grpc.per_message_decompression": (_no_op_if(1), _no_op_if(1)),
    # connections (server side)
    "grpc.max_concurrent_streams": (_N, _H),
    "grpc.server_handshake_timeout_ms": (_N, _H),
    "grpc.max_connection_idle_ms": (_N, _H),
    "grpc.max_connection_age_ms": (_N, _H),
    "grpc.max_connection_age_grace_ms": (_N, _H),
    "grpc.max_allowed_incoming_connections": (_N, _U),
    "grpc.so_reuseport": (_N, _H),
    # grpc-core queues calls no handler has taken yet; ours hands each to its handler at once
    # (maximum_concurrent_rpcs bounds them), so there is no queue to bound.
    "grpc.server.max_pending_requests": (_N, _N),
    "grpc.server.max_pending_requests_hard_limit": (_N, _N),
    "grpc.expand_wildcard_addrs": (_N, _U),
    "grpc.tcp_receive_buffer_size": (_U, _U),
    "grpc.dscp": (_U, _U),
    # keepalive and pings
    "grpc.keepalive_time_ms": (_H, _H),
    "grpc.keepalive_timeout_ms": (_H, _H),
    "grpc.keepalive_permit_without_calls": (_H, _H),
    "grpc.http2.max_pings_without_data": (_H, _N),
    "grpc.http2.min_time_between_pings_ms": (_N, _N),
    "grpc.http2.min_ping_interval_without_data_ms": (_N, _H),
    "grpc.http2.max_ping_strikes": (_N, _H),
    # connecting, name resolution, load balancing, proxies (client side)
    "grpc.min_reconnect_backoff_ms": (_H, _N),
    "grpc.max_reconnect_backoff_ms": (_H, _N),
    "grpc.initial_reconnect_backoff_ms": (_H, _N),
    "grpc.client_idle_timeout_ms": (_H, _N),
    "grpc.happy_eyeballs_connection_attempt_delay_ms": (_H, _N),
    "grpc.dns_min_time_between_resolutions_ms": (_H, _N),
    "grpc.dns_ares_query_timeout": (_N, _N),
    "grpc.dns_enable_srv_queries": (_no_op_if(0), _N),
    "grpc.service_config": (_H, _N),
    "grpc.service_config_disable_resolution": (_no_op_if(1), _N),  # no DNS TXT service config
    "grpc.lb_policy_name": (_H, _N),
    "grpc.lb.ring_hash.ring_size_cap": (_N, _N),
    "grpc.grpclb_call_timeout_ms": (_N, _N),
    "grpc.grpclb_fallback_timeout_ms": (_N, _N),
    "grpc.experimental.grpclb_channel_args": (_N, _N),
    "grpc.priority_failover_timeout_ms": (_N, _N),
    "grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config": (_U, _N),
    "grpc.use_local_subchannel_pool": (_N, _N),
    "grpc.inhibit_health_checking": (_H, _N),
    "grpc.enable_retries": (_H, _N),
    "grpc.experimental.enable_hedging": (_H, _N),
    "grpc.per_rpc_retry_buffer_size": (_H, _N),
    # not grpc-core's (grpcio ignores it): grpc-js's and grpc-java's channel-wide retry buffer
    "grpc.retry_buffer_size": (_H, _N),
    "grpc.enable_http_proxy": (_no_op_if(0), _N),
    "grpc.http_proxy": (_U, _N),
    "grpc.address_http_proxy": (_U, _N),
    "grpc.address_http_proxy_enabled_addresses": (_U, _N),
    "grpc.http2_scheme": (_U, _N),
    "grpc.ssl_session_cache": (_U, _N),
    # observability and policy
    "grpc.census": (_no_op_if(0), _no_op_if(0)),
    "grpc.loadreporting": (_no_op_if(0), _no_op_if(0)),
    "grpc.server_call_metric_recording": (_N, _no_op_if(0)),
    "grpc.enable_channelz": (_N, _N),
    "grpc.max_channel_trace_event_memory_per_node": (_N, _N),
    "grpc.experimental.stats_plugins": (_N, _N),
    "grpc.authorization_policy_provider": (_N, _U),
    "grpc.surface_user_agent": (_N, _no_op_if(1)),
    # grpc-core's own machinery: HTTP/2 tuning, TCP reads, allocators, filters, other platforms
    "grpc.minimal_stack": (_N, _N),
    "grpc.optimization_target": (_N, _N),
    "grpc.http2.lookahead_bytes": (_N, _N),
    "grpc.http2.hpack_table_size.decoder": (_N, _N),
    "grpc.http2.hpack_table_size.encoder": (_N, _N),
    "grpc.http2.max_frame_size": (_N, _N),
    "grpc.http2.bdp_probe": (_N, _N),
    "grpc.http2.write_buffer_size": (_N, _N),
    "grpc.http2.true_binary": (_N, _N),
    "grpc.http2.initial_sequence_number": (_N, _N),
    "grpc.experimental.http2.enable_preferred_frame_size": (_N, _N),
    "grpc.experimental.tcp_read_chunk_size": (_N, _N),
    "grpc.experimental.tcp_min_read_chunk_size": (_N, _N),
    "grpc.experimental.tcp_max_read_chunk_size": (_N, _N),
    "grpc.experimental.tcp_tx_zerocopy_enabled": (_N, _N),
    "grpc.experimental.tcp_tx_zerocopy_send_bytes_threshold": (_N, _N),
    "grpc.experimental.tcp_tx_zerocopy_max_simultaneous_sends": (_N, _N),
    "grpc.tsi.max_frame_size": (_N, _N),
    "grpc.resource_quota": (_N, _N),
    "grpc.event_engine_use_memory_allocator_factory": (_N, _N),
    "grpc.socket_mutator": (_N, _N),
    "grpc.socket_factory": (_N, _N),
    "grpc.server_max_unrequested_time_in_server": (_N, _N),
    "grpc.experimental.server_config_change_drain_grace_time_ms": (_N, _N),
    "grpc.disable_client_authority_filter": (_N, _N),
    "grpc.security_frame_allowed": (_N, _N),
    "grpc.workaround.cronet_compression": (_N, _N),
    "grpc.use_cronet_packet_coalescing": (_N, _N),
    "grpc.mobile_log_context": (_N, _N),
    "grpc.channel_pooling_domain": (_N, _N),
    "grpc.channel_id": (_N, _N),
    "SingleThreadedUnaryStream": (_N, _N),  # grpc.experimental.ChannelOptions (sync stack)
}


def _ignored(classification: Classification, value: object) -> bool:
    """Whether an option is not supported (for the warning), given its classification."""
    if type(classification) is tuple:  # _no_op_if(value)
        return value != classification[1]
    return classification == UNSUPPORTED


def _convert(options: OptionsArgument, known: Mapping[str, str], side: int,
             what: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if not options:
        return result
    if isinstance(options, dict):
        options = options.items()
    ignored: Optional[list[str]] = None
    inhibit_health_checking = False
    enable_hedging = True  # the service config's hedgingPolicy is what asks for hedging
    for item in options:
        try:
            name, value = item
        except (TypeError, ValueError):
            raise UsageError(f"{what} options must be (name, value) pairs, got {item!r}") from None
        if name == "grpc.inhibit_health_checking":  # read with the service config, below
            inhibit_health_checking = bool(value)
        if name == "grpc.experimental.enable_hedging":
            enable_hedging = bool(value)
        key = known.get(name)
        if key is None:
            classification = OPTIONS.get(name)
            if classification is None or _ignored(classification[side], value):
                if ignored is None:
                    ignored = []
                if name not in ignored:
                    ignored.append(name)
            continue
        if key == "service_config":
            result[key], unsupported = parse_service_config(value)
            if unsupported:
                ignored = (ignored or []) + [f"{name} ({'; '.join(unsupported)})"]
            continue
        if key == "lb_policy" and value not in LB_POLICIES:
            # grpc-core logs an unknown policy name and uses pick_first; so do we, but loudly.
            ignored = (ignored or []) + [f"{name} ({value!r}: only {', '.join(LB_POLICIES)})"]
            continue
        if key in _STRING_VALUED:
            if not isinstance(value, str):
                raise UsageError(f"option {name!r} takes a str, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"option {name!r} takes an int, got {value!r}")
        elif value < 0:
            value = -1  # grpcio: any negative length means unlimited
        result[key] = value
    # The service config's policy wins over grpc.lb_policy_name (as grpc-core chooses).
    config = result.get("service_config")
    if config is not None:
        config_policy = config.pop("lb_policy")
        if config_policy is not None:
            result["lb_policy"] = config_policy
        if config.pop("shuffle_address_list"):
            result["shuffle_address_list"] = 1
        if not enable_hedging:  # the last element of each method entry is its hedging policy
            config["methods"] = [entry[:-1] + (None,) for entry in config["methods"]]
        health_check_service = config.pop("health_check_service")
        if health_check_service is not None and not inhibit_health_checking:
            result["health_check_service"] = health_check_service
    if ignored:
        _warn_ignored(ignored, what)
    return result


def _warn_ignored(names: Iterable[str], what: str) -> None:
    listed = ", ".join(repr(name) for name in names)
    warnings.warn(
        f"turbogrpc does not implement these {what} options and ignores them: {listed} "
        f"(docs/options.md lists every grpc option and what turbogrpc does with it)",
        UnsupportedOptionWarning, stacklevel=_caller_stacklevel())


def _caller_stacklevel() -> int:
    """The stacklevel of the first frame outside turbogrpc: the application's line that
    created the channel or server, whichever turbogrpc function it called."""
    frame: Optional[FrameType] = sys._getframe(1)  # _warn_ignored: warnings.warn's stacklevel 1
    level = 1
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module != "turbogrpc" and not module.startswith("turbogrpc."):
            return level
        frame = frame.f_back
        level += 1
    return 1


def channel_options(options: OptionsArgument) -> dict[str, Any]:
    """The dict ``_engine.create_channel`` takes; warns once about options not supported."""
    return _convert(options, _CHANNEL_KEYS, 0, "channel")


def server_options(options: OptionsArgument) -> dict[str, Any]:
    """The dict ``_engine.start_server`` takes; warns once about options not supported."""
    return _convert(options, _SERVER_KEYS, 1, "server")


def option_value(options: OptionsArgument, name: str) -> Any:
    """The last value given for ``name`` in grpc-style options, or None."""
    if isinstance(options, dict):
        return options.get(name)
    found = None
    for item in options or ():
        if isinstance(item, (tuple, list)) and len(item) == 2 and item[0] == name:
            found = item[1]
    return found


def reuse_port(options: OptionsArgument) -> bool:
    """``grpc.so_reuseport`` for the server's listening sockets: on unless it is 0 (grpcio's
    default is 1: SO_REUSEPORT on TCP listeners, so several servers may share a port)."""
    value = option_value(options, "grpc.so_reuseport")
    if value is None:
        return True
    if not isinstance(value, int):
        raise UsageError(f"option 'grpc.so_reuseport' takes an int, got {value!r}")
    return value != 0
