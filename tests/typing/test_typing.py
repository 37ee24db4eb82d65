"""turbogrpc is typed (PEP 561): ``mypy --strict`` is clean on the package and on a user
program that really runs, and the annotations catch real mistakes (they are not Any)."""

import asyncio
import importlib.util
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CACHE = os.path.join(REPO, "build", "mypy-cache")


def _mypy(*paths):
    """mypy with the project's configuration (pyproject.toml: strict); returns its output."""
    done = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", CACHE, *paths],
                          cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    return done.returncode, done.stdout + done.stderr


def test_package_is_strict_clean():
    code, output = _mypy()  # the configured files: python/turbogrpc
    assert code == 0, output


def test_user_program_is_strict_clean():
    code, output = _mypy("--strict", os.path.join(HERE, "user_program.py"))
    assert code == 0, output


def test_user_program_runs():
    spec = importlib.util.spec_from_file_location("user_program",
                                                  os.path.join(HERE, "user_program.py"))
    program = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(program)
    lines = asyncio.run(program.main())
    assert lines == ["hello OK 'r-1'", "0", "1", "2", "INVALID_ARGUMENT: asked to fail",
                     "READY"]


def test_annotations_catch_mistakes():
    path = os.path.join(HERE, "misuse.py")
    with open(path, encoding="utf-8") as handle:
        expected = {number: match.group(1)
                    for number, line in enumerate(handle, start=1)
                    if (match := re.search(r"# error: ([\w-]+)", line))}
    code, output = _mypy("--strict", path)
    assert code == 1, output
    found = {}
    for number, error_code in re.findall(r"misuse\.py:(\d+): error: .*\[([\w-]+)\]", output):
        found.setdefault(int(number), set()).add(error_code)
    missing = {n: c for n, c in expected.items() if c not in found.get(n, set())}
    unexpected = {n: c for n, c in found.items() if n not in expected}
    assert not missing and not unexpected, output
