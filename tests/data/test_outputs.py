"""Outputs: whole or not at all, the umask's permissions, stale temporaries, formulas."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from salescope.data.outputs import (
    atomic_dir,
    atomic_path,
    check_output_dir,
    check_output_file,
    escape_formulas,
    remove_stale,
    write_csv,
)
from salescope.domain.errors import InputError


def test_people_text_is_escaped_and_identifiers_are_not() -> None:
    """Names, addresses and reasons starting with = + - @ get a quote; ids and codes keep
    their value."""
    frame = pl.DataFrame(
        {
            "customer_id": ["=1+2", "-C2", "C3"],
            "name": ["=cmd|' /C calc'!A0", "+Shop", "Shop"],
            "address": ["@SUM(A1)", "-1 Main St", "1 Main St"],
            "reason": ["\tx", "ok", "-15 % off"],
            "segment_name": ["=HYPERLINK(1)", "b", "c"],
            "region": ["-North", "+South", "East"],
            "quantity": [-1.0, 2.0, 3.0],
        }
    )
    out = escape_formulas(frame)
    assert out["customer_id"].to_list() == ["=1+2", "-C2", "C3"]
    assert out["region"].to_list() == ["-North", "+South", "East"]
    assert out["quantity"].to_list() == [-1.0, 2.0, 3.0]
    assert out["name"].to_list() == ["'=cmd|' /C calc'!A0", "'+Shop", "Shop"]
    assert out["address"].to_list() == ["'@SUM(A1)", "'-1 Main St", "1 Main St"]
    assert out["reason"].to_list() == ["'\tx", "ok", "'-15 % off"]
    assert out["segment_name"].to_list() == ["'=HYPERLINK(1)", "b", "c"]


def test_write_csv_escapes_formulas_in_the_file(tmp_path: Path) -> None:
    """The file on disk holds the escaped name, the id unchanged."""
    target = tmp_path / "out.csv"
    write_csv(pl.DataFrame({"customer_id": ["=A1"], "name": ["=A1"]}), target)
    assert target.read_text().splitlines()[1] == "=A1,'=A1"


def test_outputs_follow_the_umask(tmp_path: Path) -> None:
    """A file written atomically gets 0666 less the umask, not mkstemp's 0600."""
    old = os.umask(0o027)
    try:
        write_csv(pl.DataFrame({"a": [1]}), tmp_path / "f.csv")
        with atomic_dir(tmp_path / "d") as stage:
            (stage / "x.csv").write_text("a\n")
    finally:
        os.umask(old)
    assert (tmp_path / "f.csv").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "d" / "x.csv").stat().st_mode & 0o777 == 0o640


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    """An error inside the block leaves neither the target nor a temporary."""

    def half_file() -> None:
        with atomic_path(tmp_path / "f.csv") as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")

    def half_dir() -> None:
        with atomic_dir(tmp_path / "d") as stage:
            (stage / "x").write_text("half")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        half_file()
    with pytest.raises(RuntimeError):
        half_dir()
    assert list(tmp_path.iterdir()) == []


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path: Path) -> None:
    """Temporaries named after a process that no longer runs go; a live one's stay."""
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    pid = int(dead.stdout)
    stale_file = tmp_path / f".next.csv.{pid}.abc123.partial"
    stale_file.write_text("half")
    stale_dir = tmp_path / f".cov.{pid}.xyz.partial"
    stale_dir.mkdir()
    (stale_dir / "customers.csv").write_text("half")
    live = tmp_path / f".next.csv.{os.getpid()}.def456.partial"
    live.write_text("being written")
    removed = remove_stale(tmp_path)
    assert sorted(removed) == sorted([stale_file, stale_dir])
    assert live.exists()
    assert not stale_file.exists() and not stale_dir.exists()


def test_output_checks_refuse_folders_files_and_unwritable_places(tmp_path: Path) -> None:
    """--out naming a folder, a folder naming a file, a path under a file are refused."""
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="names a folder"):
        check_output_file(tmp_path / "folder")
    with pytest.raises(InputError, match="names a file"):
        check_output_dir(tmp_path / "file")
    with pytest.raises(InputError, match="is a file, not a folder"):
        check_output_file(tmp_path / "file" / "out.csv")
    check_output_file(tmp_path / "new" / "deeper" / "out.csv")
    check_output_dir(tmp_path / "new-dir")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder"]
