"""Run the ``salescope`` command line in-process, as a user would from a shell."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

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


def child_env(data_dir: Path, database_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a ``salescope`` child process on ``data_dir`` (and the database at
    ``database_url``, default: SQLite in the data directory)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESCOPE_")}
    env["SALESCOPE_DATA_DIR"] = str(data_dir)
    if database_url is not None:
        env["SALESCOPE_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def spawn(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """Start ``salescope ARGS...`` in a child process (for kills and parallel runs)."""
    return subprocess.Popen(
        [sys.executable, "-m", "salescope", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_child(env: dict[str, str], *args: str, timeout: float = 300) -> Result:
    """Run ``salescope ARGS...`` in a child process; its status (negative: killed by that
    signal) and output."""
    child = spawn(env, *args)
    out, err = child.communicate(timeout=timeout)
    return Result(child.returncode, out, err)
