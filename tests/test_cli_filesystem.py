"""The command line against the file system: read-only places, folders for files, signals.

Read-only cases run the command as the unprivileged user ``nobody`` (root ignores permission
bits), in a folder outside pytest's private temporary directory."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from salescope.faults import ENV
from tests.cli_runner import Result, child_env, run, run_child, spawn

ORDERS = "customer_id,order_id,order_date,product_id,quantity\nc1,o1,2024-01-01,p1,2\n"
PROPOSALS = (
    "customer_id,rank,product_id,kind,probability,quantity,promotion_id,reason,order_date\n"
    "c1,1,p1,usual,0.9,2,,,2024-01-08\n"
)


@pytest.fixture
def public() -> Iterator[Path]:
    """A folder every user can enter (pytest's are root-only), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="salescope-fs-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def as_nobody(env: dict[str, str], *args: str) -> Result:
    """Run ``salescope ARGS...`` as the user nobody."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run a command as another user")
    command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    done = subprocess.run(
        [*command, sys.executable, "-m", "salescope", *args],
        env={**env, "HOME": "/tmp"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def clean_refusal(result: Result, *words: str) -> None:
    assert result.code == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr


def test_a_read_only_output_folder_is_refused_before_any_work(public: Path) -> None:
    """--out in a folder nobody may write: one message naming the folder, nothing left."""
    (public / "orders.csv").write_text(ORDERS)
    (public / "orders.csv").chmod(0o644)
    result = as_nobody(
        child_env(public / "data"),
        "next-orders",
        "--orders",
        str(public / "orders.csv"),
        "--out",
        str(public / "next.csv"),
    )
    clean_refusal(result, "--out", "permission denied", str(public))
    assert sorted(p.name for p in public.iterdir()) == ["orders.csv"]


def test_a_read_only_data_folder_is_named(public: Path) -> None:
    """A data folder nobody may write: feedback stops naming it."""
    for name, text in (("p.csv", PROPOSALS), ("o.csv", ORDERS)):
        (public / name).write_text(text)
        (public / name).chmod(0o644)
    data = public / "data"
    data.mkdir(mode=0o755)
    result = as_nobody(
        child_env(data),
        "feedback",
        "--proposals",
        str(public / "p.csv"),
        "--orders",
        str(public / "o.csv"),
    )
    clean_refusal(result, "data folder", str(data), "permission denied")


def test_a_read_only_database_is_named(public: Path) -> None:
    """A database file nobody may write, in a folder it may: feedback stops naming it."""
    for name, text in (("p.csv", PROPOSALS), ("o.csv", ORDERS)):
        (public / name).write_text(text)
        (public / name).chmod(0o644)
    data = public / "data"
    env = child_env(data)
    assert (
        run_child(
            env, "feedback", "--proposals", str(public / "p.csv"), "--orders", str(public / "o.csv")
        ).code
        == 0
    )
    shutil.chown(data, "nobody")
    for leftover in data.glob("salescope.db-*"):
        leftover.unlink()
    (data / "salescope.db").chmod(0o644)
    (data / ".lock").chmod(0o666)
    result = as_nobody(
        env, "feedback", "--proposals", str(public / "p.csv"), "--orders", str(public / "o.csv")
    )
    clean_refusal(result, "database", "salescope.db")


def test_an_unreadable_input_file_is_named(public: Path) -> None:
    """An input file nobody may read is refused as such, with its name (Typer's check of
    the option: a usage error)."""
    (public / "orders.csv").write_text(ORDERS)
    (public / "orders.csv").chmod(0o600)
    result = as_nobody(
        child_env(public / "data"),
        "next-orders",
        "--orders",
        str(public / "orders.csv"),
        "--out",
        "/tmp/never-written.csv",
    )
    assert result.code == 2
    assert "Traceback" not in result.stderr
    assert "is not readable" in result.stderr
    assert not Path("/tmp/never-written.csv").exists()


def test_out_naming_a_folder_and_data_dir_naming_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out naming a folder, and --data-dir naming a file, are one clean message each."""
    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS)
    (tmp_path / "folder").mkdir()
    result = run(capsys, "next-orders", "--orders", str(orders), "--out", str(tmp_path / "folder"))
    clean_refusal(result, "--out", "names a folder")
    proposals = tmp_path / "p.csv"
    proposals.write_text(PROPOSALS)
    result = run(
        capsys,
        "--data-dir",
        str(orders),
        "feedback",
        "--proposals",
        str(proposals),
        "--orders",
        str(orders),
    )
    clean_refusal(result, str(orders))


def test_assign_out_under_a_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An --out path through a file is refused before reading anything."""
    (tmp_path / "file").write_text("x")
    result = run(
        capsys,
        "assign",
        "--reps",
        "r.csv",
        "--customers",
        "c.csv",
        "--out",
        str(tmp_path / "file" / "out.csv"),
    )
    clean_refusal(result, "is a file, not a folder")


def _wait_for(folder: Path, pattern: str, child: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not list(folder.glob(pattern)):
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the temporary never appeared"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("signum", "word"), [(signal.SIGTERM, "terminated"), (signal.SIGINT, "interrupted")]
)
def test_a_signal_mid_write_removes_the_temporary(
    tmp_path: Path, signum: signal.Signals, word: str
) -> None:
    """SIGTERM or Ctrl-C while the output is being written: the command stops with a
    message, its temporary file is removed and no output appears."""
    (tmp_path / "r.csv").write_text("rep_id,latitude,longitude,capacity_minutes\nr1,45,10,600\n")
    (tmp_path / "c.csv").write_text(
        "customer_id,latitude,longitude,workload_minutes,rep_id\nc1,45.1,10.1,60,\n"
    )
    out = tmp_path / "out" / "a.csv"
    env = child_env(tmp_path / "data", **{ENV: "output.written:pause"})
    child = spawn(
        env,
        "assign",
        "--reps",
        str(tmp_path / "r.csv"),
        "--customers",
        str(tmp_path / "c.csv"),
        "--out",
        str(out),
    )
    _wait_for(out.parent, ".a.csv.*.partial", child)
    child.send_signal(signum)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 128 + signum
    assert word in err
    assert "Traceback" not in err
    assert list(out.parent.iterdir()) == []


def test_a_killed_write_is_cleaned_at_the_next_run(tmp_path: Path) -> None:
    """SIGKILL mid-write leaves a temporary; the next command writing there removes it."""
    (tmp_path / "r.csv").write_text("rep_id,latitude,longitude,capacity_minutes\nr1,45,10,600\n")
    (tmp_path / "c.csv").write_text(
        "customer_id,latitude,longitude,workload_minutes,rep_id\nc1,45.1,10.1,60,\n"
    )
    out = tmp_path / "out" / "a.csv"
    args = (
        "assign",
        "--reps",
        str(tmp_path / "r.csv"),
        "--customers",
        str(tmp_path / "c.csv"),
        "--out",
        str(out),
    )
    killed = run_child(child_env(tmp_path / "data", **{ENV: "output.written:kill"}), *args)
    assert killed.code == -signal.SIGKILL
    assert len(list(out.parent.glob(".a.csv.*.partial"))) == 1
    again = run_child(child_env(tmp_path / "data"), *args)
    assert again.code == 0, again.stderr
    assert [p.name for p in out.parent.iterdir()] == ["a.csv"]
