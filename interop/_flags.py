"""Command-line flags in the interop suite's style (``--name=value``, booleans as true/false)."""

import argparse

__all__ = ["parse_bool", "new_parser"]


def parse_bool(text):
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no", ""):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def new_parser(description):
    # allow_abbrev=False: a reference flag we do not know must not match one of ours by prefix.
    return argparse.ArgumentParser(description=description, allow_abbrev=False)
