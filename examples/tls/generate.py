"""Compiles ../protos/helloworld.proto into _generated/ on first use (with ../_protos.py).

Usage: ``pb2, pb2_grpc = generate.load()``. Running ``python generate.py`` only compiles.
"""

from __future__ import annotations

import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # examples/, where the shared _protos.py lives
import _protos  # noqa: E402

PROTO = HERE.parent / "protos" / "helloworld.proto"


def load():
    """Returns the (helloworld_pb2, helloworld_pb2_grpc) modules, compiled if needed."""
    return _protos.load(PROTO, HERE / "_generated")


if __name__ == "__main__":
    _protos.main(PROTO, HERE / "_generated")
