"""Fails when any module of turbogrpc is under a line-coverage floor.

    python3 scripts/check_coverage.py build/python-coverage.json 85

Reads coverage.py's JSON report; coverage's own --fail-under only judges the total.
"""
import json
import sys


def main(path: str, floor: float) -> int:
    with open(path, encoding="utf-8") as handle:
        files = json.load(handle)["files"]
    low = {name: data["summary"]["percent_covered"] for name, data in files.items()
           if data["summary"]["percent_covered"] < floor}
    for name, percent in sorted(low.items()):
        print(f"coverage: {name} is at {percent:.0f}%, under the floor of {floor:.0f}%")
    if not files:
        print("coverage: the report lists no files")
        return 1
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2])))
