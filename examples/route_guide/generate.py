"""Compiles route_guide.proto into _generated/ on first use (with ../_protos.py) and imports it.

Usage: ``pb2, pb2_grpc = generate.load()``. Running ``python generate.py`` only compiles.
"""

from __future__ import annotations

import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # examples/, where the shared _protos.py lives
import _protos  # noqa: E402

PROTO = HERE / "route_guide.proto"


def load():
    """Returns the (route_guide_pb2, route_guide_pb2_grpc) modules, compiled if needed."""
    return _protos.load(PROTO, HERE / "_generated")


if __name__ == "__main__":
    _protos.main(PROTO, HERE / "_generated")
