"""``turbogrpc.experimental``: the part of ``grpc.experimental`` that turbogrpc has.

For code that does ``grpc.experimental.insecure_channel_credentials()`` today.
"""

from ._core._credentials import insecure_channel_credentials

__all__ = ["insecure_channel_credentials"]
