"""Parallel writers: runs of feedback and import at the same time end as if one ran after
the other — no "database is locked", no lost or doubled rows — on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.cli_runner import Result, child_env, spawn
from tests.reading import read_inputs
from tests.services.test_feedback import (
    MARCH,
    MARCH_ORDERS,
    ORDERS_HEADER,
    PROPOSALS_HEADER,
    write,
)

from salescope.config import get_settings
from salescope.storage import repositories as repo
from salescope.storage.db import Database
from salescope.storage.lock import data_folder_lock
from salescope.storage.models import AuditEvent, ProposalRun
from salescope.storage.tables import TableStore

RUNS = 3


def _together(envs: list[dict[str, str]], *args: str) -> list[Result]:
    children = [spawn(env, *args) for env in envs]
    results = []
    for child in children:
        out, err = child.communicate(timeout=300)
        results.append(Result(child.returncode, out, err))
    return results


def _feedback_files(tmp_path: Path) -> tuple[Path, Path]:
    return (
        write(tmp_path / "proposals.csv", PROPOSALS_HEADER, MARCH),
        write(tmp_path / "orders.csv", ORDERS_HEADER, MARCH_ORDERS),
    )


def _feedback_state(url: str) -> tuple[int, int, int, int]:
    with Database(url) as database, database.session() as session:
        outcomes = repo.feedback_outcomes(session).height
        runs = session.scalar(sa.select(sa.func.count()).select_from(ProposalRun)) or 0
        lines = repo.proposal_lines(session, ["c1", "c2", "c3"]).height
        events = (
            session.scalar(
                sa.select(sa.func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action.like("feedback.%"))
            )
            or 0
        )
    return outcomes, runs, lines, events


def _single_run(tmp_path: Path) -> tuple[int, int, int, int]:
    """What one feedback run alone stores (on SQLite, in a folder of its own)."""
    from salescope.services.feedback import check_feedback, do_feedback

    proposals, orders = _feedback_files(tmp_path)
    settings = get_settings(data_dir=tmp_path / "alone", database_url=None)
    request = check_feedback(**read_inputs(proposals=proposals, orders=orders))
    do_feedback(request, settings, actor="t")
    outcomes, runs, lines, _ = _feedback_state(settings.resolved_database_url)
    return outcomes, runs, lines, RUNS


def _assert_once(results: list[Result], url: str, alone: tuple[int, int, int, int]) -> None:
    for result in results:
        assert result.code == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert "locked" not in result.stderr
    stored = [r for r in results if "3 stored now" in r.stdout]
    assert len(stored) == 1
    assert sum("Nothing new" in r.stdout for r in results) == RUNS - 1
    assert _feedback_state(url) == alone


def test_parallel_feedback_runs_on_one_data_folder(tmp_path: Path, database_url: str) -> None:
    """Three feedback runs started together on one data folder all succeed; the proposals and
    outcomes are stored once, each run is audited."""
    proposals, orders = _feedback_files(tmp_path)
    env = child_env(tmp_path / "data", database_url)
    results = _together(
        [env] * RUNS, "feedback", "--proposals", str(proposals), "--orders", str(orders)
    )
    _assert_once(results, database_url, _single_run(tmp_path))


def test_parallel_feedback_runs_sharing_only_the_database(
    tmp_path: Path, database_url: str
) -> None:
    """Three runs from different data folders on one database (no folder lock between them)
    are serialised by the database: SQLite's write lock, PostgreSQL's writer lock."""
    proposals, orders = _feedback_files(tmp_path)
    url = database_url
    if url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'shared.db'}"
    envs = [child_env(tmp_path / f"data{i}", url) for i in range(RUNS)]
    results = _together(envs, "feedback", "--proposals", str(proposals), "--orders", str(orders))
    _assert_once(results, url, _single_run(tmp_path))


def test_a_second_writer_is_told_another_run_is_in_progress(tmp_path: Path) -> None:
    """While a run holds the data folder, another writer that may not wait stops with
    "another run is in progress", naming the run, and changes nothing."""
    proposals, orders = _feedback_files(tmp_path)
    data = tmp_path / "data"
    env = child_env(data, SALESCOPE_LOCK_WAIT="0")
    with data_folder_lock(data, command="import tables"):
        child = spawn(env, "feedback", "--proposals", str(proposals), "--orders", str(orders))
        _, err = child.communicate(timeout=120)
    assert child.returncode == 1
    assert "another run is in progress" in err
    assert "import tables (pid" in err
    assert "Traceback" not in err
    assert not (data / "salescope.db").exists()


def test_parallel_imports_into_one_data_folder(tmp_path: Path, database_url: str) -> None:
    """Three imports of different orders started together all succeed, one after the other:
    the store holds every order and names the version the database committed last."""
    envs = []
    files = []
    for i in range(RUNS):
        folder = tmp_path / f"in{i}"
        folder.mkdir()
        path = folder / "orders.csv"
        path.write_text(
            "customer_id,order_id,order_date,product_id,quantity\n"
            f"c{i},o{i},2024-01-0{i + 1},p1,{i + 1}\n"
        )
        files.append(path)
        envs.append(child_env(tmp_path / "data", database_url))
    children = [
        spawn(env, "import", "tables", str(path)) for env, path in zip(envs, files, strict=True)
    ]
    for child in children:
        _, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        assert "Traceback" not in err
    settings = get_settings(data_dir=tmp_path / "data", database_url=database_url)
    store = TableStore(settings.tables_dir)
    assert store.counts() == {"orders": RUNS}
    from salescope.services.imports import committed_version

    with Database.from_settings(settings) as database, database.session() as session:
        assert committed_version(session, store.store_id) == store.version
        assert [r.status for r in repo.list_imports(session)] == ["ok"] * RUNS


@pytest.mark.parametrize("runs", [RUNS])
def test_parallel_next_orders_readers_do_not_create_or_lock(tmp_path: Path, runs: int) -> None:
    """Readers of the feedback in force never create a database nor wait for a lock."""
    from salescope.services.feedback import in_force

    settings = get_settings(data_dir=tmp_path / "data")
    import datetime as dt

    for _ in range(runs):
        resting, calibrator = in_force(settings, dt.date(2024, 1, 1))
        assert resting.is_empty()
        assert not calibrator.is_fitted
    assert not (tmp_path / "data").exists()
