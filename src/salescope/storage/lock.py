"""The data-folder lock: one writer of a data folder at a time.

Commands that change a data folder (imports, feedback, the demo) hold ``<data_dir>/.lock``
while they write. A second one waits up to ``Settings.lock_wait`` seconds, saying which run
it waits for, then stops with "another run is in progress …" (``BusyError``) instead of
failing half-way.

It is an ``fcntl.flock`` on an open file: the kernel releases it when the holder exits,
however it exits (even SIGKILL), so a killed run never leaves a stale lock. The holder writes
its pid, command and start time into the file for the message. (The ``filelock`` package
would add a dependency and truncates the file when it opens it, losing the holder's details;
Salescope runs on Linux and macOS, where ``flock`` exists.) Re-entrant within a process: the
demo's import and feedback run under the demo's lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from salescope.data.outputs import describe_os_error
from salescope.domain.errors import SalescopeError

LOCK_NAME = ".lock"
_held: dict[Path, int] = {}
_log = logging.getLogger("salescope.lock")


class BusyError(SalescopeError):
    """Another run holds the data folder."""


def _holder(handle: int) -> str:
    try:
        os.lseek(handle, 0, os.SEEK_SET)
        info = json.loads(os.read(handle, 4096).decode("utf-8") or "{}")
    except (OSError, ValueError):
        return "another run"
    if not isinstance(info, dict) or "pid" not in info:
        return "another run"
    what = info.get("command") or "a run"
    return f"{what} (pid {info['pid']}, started {info.get('started', '?')})"


def _open(folder: Path) -> int:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        raise SalescopeError(
            f"the data folder {folder} cannot be written: {describe_os_error(error)}; "
            "choose another --data-dir"
        ) from error


@contextlib.contextmanager
def data_folder_lock(folder: Path, *, command: str, wait: float = 60.0) -> Iterator[None]:
    """Hold the lock of the data folder ``folder`` for the block (see the module
    docstring); ``BusyError`` when another run still holds it after ``wait`` seconds."""
    key = folder.resolve()
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    handle = _open(folder)
    try:
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(handle)
                if time.monotonic() >= deadline:
                    raise BusyError(
                        f"another run is in progress in {folder}: {holder}; try again when "
                        "it has finished"
                    ) from None
                if not told:
                    _log.warning(
                        "another run is in progress in %s: %s; waiting up to %.0f s",
                        folder,
                        holder,
                        wait,
                    )
                    told = True
                time.sleep(0.1)
        info = {
            "pid": os.getpid(),
            "command": command,
            "argv": sys.argv[1:6],
            "started": dt.datetime.now().isoformat(timespec="seconds"),
        }
        with contextlib.suppress(OSError):
            os.ftruncate(handle, 0)
            os.lseek(handle, 0, os.SEEK_SET)
            os.write(handle, json.dumps(info).encode("utf-8"))
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
            with contextlib.suppress(OSError):
                os.ftruncate(handle, 0)
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        os.close(handle)
