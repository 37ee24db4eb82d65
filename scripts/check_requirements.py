"""Exit 0 when every pinned `name==version` line of a requirements file is installed as pinned.

Lets the bootstrap stay silent and offline when nothing needs installing.
"""
import sys
from importlib import metadata


def main(path: str) -> int:
    for line in open(path, encoding="utf-8"):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, version = line.partition("==")
        try:
            if metadata.version(name.strip()) != version.strip():
                return 1
        except metadata.PackageNotFoundError:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
