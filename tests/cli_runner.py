"""Run the ``salescope`` command line in-process, as a user would from a shell."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest

from salescope.cli import main


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def run(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    """Call ``salescope ARGS...``; return its exit status and what it printed."""
    capsys.readouterr()
    argv = sys.argv
    sys.argv = ["salescope", *args]
    try:
        main()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        sys.argv = argv
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)
