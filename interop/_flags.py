"""Command-line flags in the interop suite's style (``--name=value``, booleans as true/false)."""

import argparse

__all__ = ["add_bool_flag", "parse_bool", "new_parser"]


def parse_bool(text):
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no", ""):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_bool_flag(parser, name, help=None):
    """A false-by-default boolean taking ``--name``, ``--name=true`` or ``--name=false``, as
    Go's flag package and the other interop programs do."""
    parser.add_argument(name, type=parse_bool, nargs="?", const=True, default=False, help=help)


def new_parser(description):
    # allow_abbrev=False: a reference flag we do not know must not match one of ours by prefix.
    return argparse.ArgumentParser(description=description, allow_abbrev=False)
