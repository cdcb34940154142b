"""Writing outputs: whole or not at all, with the umask's permissions, safe to open.

* ``atomic_path`` / ``atomic_dir`` write into a temporary file or folder beside the target,
  named after it and the writing process (``.next.csv.<pid>.<random>.partial``), and move it
  into place only when the block succeeds. On an error, Ctrl-C or SIGTERM (the command line
  turns it into an exception) the temporary is removed; one left by a killed process (its pid
  no longer runs) is removed the next time anything is written beside it.
* Files get the permissions the umask gives new files (``mkstemp`` would keep 0600).
* ``write_csv`` escapes the text meant for people (names, addresses, reasons…): a cell
  starting with ``= + - @``, a tab or a carriage return gets a leading ``'`` so that a
  spreadsheet shows it instead of running it as a formula (OWASP, CSV injection).
  Identifiers (``*_id``) and codes are never altered.
* ``check_output_file`` / ``check_output_dir`` refuse, before any work, an output that names
  a folder (or a file), or a folder that cannot be written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from salescope.domain.errors import InputError
from salescope.faults import checkpoint

PARTIAL = ".partial"
"""Suffix of the temporary files and folders of outputs being written."""

PEOPLE_TEXT = frozenset(
    {
        "name",
        "address",
        "street",
        "city",
        "reason",
        "definition",
        "description",
        "comment",
        "comments",
        "note",
        "notes",
        "title",
        "label",
        "message",
    }
)
"""Columns of text meant for people, escaped against CSV injection (with ``*_name``,
``*_address``, ``*_reason``, ``*_note(s)``, ``*_comment(s)``, ``*_description``)."""
_PEOPLE_SUFFIXES = (
    "_name",
    "_address",
    "_reason",
    "_note",
    "_notes",
    "_comment",
    "_comments",
    "_description",
)
FORMULA_START = r"^[=+\-@\t\r]"


def is_people_text(column: str) -> bool:
    """Whether ``column`` holds text for people (never an identifier)."""
    name = column.strip().lower()
    if name == "id" or name.endswith("_id"):
        return False
    return name in PEOPLE_TEXT or name.endswith(_PEOPLE_SUFFIXES)


def escape_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with a ``'`` before every people-text cell that a spreadsheet would run as
    a formula (starting with ``= + - @``, a tab or a carriage return)."""
    columns = [
        name for name, dtype in frame.schema.items() if dtype == pl.String and is_people_text(name)
    ]
    if not columns:
        return frame
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(FORMULA_START))
        .then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in columns
    )


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_PARTIAL_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.partial$")


def remove_stale(folder: Path) -> list[Path]:
    """Remove the temporaries in ``folder`` left by processes that no longer run (killed
    mid-write); return what was removed. Those of running processes are left alone."""
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _PARTIAL_NAME.match(entry.name)
        if match is None or _pid_alive(int(match.group("pid"))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
        removed.append(entry)
    return removed


def _prefix(target: Path) -> str:
    return f".{target.name}.{os.getpid()}."


def _cannot_write(target: Path, error: OSError) -> InputError:
    return InputError.single(str(target), f"cannot be written: {describe_os_error(error)}")


def describe_os_error(error: OSError) -> str:
    """What an operating-system error means for the user, with the path it concerns."""
    reasons = {
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EROFS: "the file system is read-only",
        errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "disk quota exceeded",
        errno.EISDIR: "it is a folder, not a file",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.ENOENT: "no such file or folder",
        errno.EEXIST: "it already exists",
        errno.ENAMETOOLONG: "the name is too long",
    }
    reason = reasons.get(error.errno or -1, error.strerror or type(error).__name__)
    where = error.filename
    if where is not None:
        path = Path(os.fsdecode(where))
        if _PARTIAL_NAME.match(path.name):
            path = path.parent  # a temporary of ours: the folder is what matters
        return f"{reason} ({path})"
    return reason


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it into place only if the block succeeds.

    Nothing is left behind on failure: no half-written output ever carries the target's name.
    The file gets the permissions of the umask.
    """
    target = Path(target)
    if target.is_dir():
        raise InputError.single(str(target), "is a folder: expected the name of a file to write")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(target.parent)
        handle, tmp_name = tempfile.mkstemp(
            prefix=_prefix(target), suffix=PARTIAL, dir=target.parent
        )
        os.close(handle)
    except OSError as error:
        raise _cannot_write(target, error) from error
    tmp = Path(tmp_name)
    try:
        yield tmp
        checkpoint("output.written")
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, target)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(error, OSError):
            raise _cannot_write(target, error) from error
        raise


@contextlib.contextmanager
def atomic_dir(out_dir: str | Path) -> Iterator[Path]:
    """A temporary folder beside ``out_dir`` whose files replace those of ``out_dir`` only
    when the block succeeds (a new ``out_dir`` appears whole, in one rename); files and
    folder get the permissions of the umask, and nothing is left on failure."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError.single(str(out_dir), "exists and is not a folder: expected a folder")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(out_dir.parent)
        stage = Path(tempfile.mkdtemp(prefix=_prefix(out_dir), suffix=PARTIAL, dir=out_dir.parent))
    except OSError as error:
        raise _cannot_write(out_dir, error) from error
    umask = current_umask()
    try:
        yield stage
        checkpoint("output.dir_written")
        os.chmod(stage, 0o777 & ~umask)
        for item in stage.iterdir():
            os.chmod(item, 0o666 & ~umask)
        if not out_dir.exists():
            os.replace(stage, out_dir)
        else:
            for item in stage.iterdir():
                os.replace(item, out_dir / item.name)
    except OSError as error:
        raise _cannot_write(out_dir, error) from error
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def write_csv(frame: pl.DataFrame, target: str | Path) -> None:
    """Write ``frame`` as CSV atomically (ISO dates, empty cells for nulls, people text
    escaped against formulas)."""
    with atomic_path(target) as tmp:
        write_csv_file(frame, tmp)


def write_csv_file(frame: pl.DataFrame, path: Path) -> None:
    """Write ``frame`` as CSV to ``path`` as it is (inside ``atomic_dir``), people text
    escaped against formulas."""
    escape_formulas(frame).write_csv(path, date_format="%Y-%m-%d")


def write_parquet(frame: pl.DataFrame, target: str | Path) -> None:
    """Write ``frame`` as Parquet atomically."""
    with atomic_path(target) as tmp:
        frame.write_parquet(tmp, compression="zstd", statistics=True)


def _probe(folder: Path) -> None:
    """Create and remove a file in ``folder``; OSError when it cannot be written."""
    handle, name = tempfile.mkstemp(prefix=_prefix(Path("probe")), suffix=PARTIAL, dir=folder)
    os.close(handle)
    os.unlink(name)


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_file(path: Path, option: str = "--out") -> None:
    """Refuse, before any work, an output file that names a folder or lies where nothing can
    be written."""
    if path.is_dir():
        raise InputError.single(
            option, "names a folder: expected the name of a file to write", value=str(path)
        )
    _check_writable(path.parent, path, option)


def check_output_dir(path: Path, option: str = "--out") -> None:
    """Refuse, before any work, an output folder that is a file or cannot be written."""
    if path.exists() and not path.is_dir():
        raise InputError.single(
            option, "names a file: expected a folder to write into", value=str(path)
        )
    _check_writable(path if path.is_dir() else path.parent, path, option)


def _check_writable(folder: Path, path: Path, option: str) -> None:
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise InputError.single(
            option,
            f"cannot be written: {existing} is a file, not a folder",
            value=str(path),
        )
    try:
        _probe(existing)
    except OSError as error:
        raise InputError.single(
            option, f"cannot be written: {describe_os_error(error)}", value=str(path)
        ) from error
