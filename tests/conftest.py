"""Shared fixtures: the real data in ../shared/data, a temporary data directory, the small
demo company and the next-order engine fitted on it (once per session: tests read them,
never change them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from salescope.data.demo import DemoCompany, DemoConfig, generate_demo
from salescope.orders.model import EngineParams, NextOrderModel
from salescope.runtime import quiet_openmp
from tests.pg import postgres_server_url, postgres_url  # noqa: F401 (fixtures)

quiet_openmp()  # before any test imports LightGBM or scikit-learn (the CLI's main does the same)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SALESCOPE_SHARED_DATA", REPO.parent / "shared" / "data"))


def _require_shared() -> bool:
    return os.environ.get("SALESCOPE_REQUIRE_SHARED_DATA", "") not in ("", "0", "false")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real data beside the repository; skips (or fails in CI) when absent."""
    if not (SHARED_DATA / "iowa-liquor").is_dir():
        message = (
            f"real data not found at {SHARED_DATA} (set SALESCOPE_SHARED_DATA or place "
            "../shared/data beside the repository)"
        )
        if _require_shared():
            pytest.fail(message + "; SALESCOPE_REQUIRE_SHARED_DATA=1 makes this an error")
        pytest.skip(message)
    return SHARED_DATA


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data directory, set as SALESCOPE_DATA_DIR for the test."""
    path = tmp_path / "salescope-data"
    path.mkdir()
    monkeypatch.setenv("SALESCOPE_DATA_DIR", str(path))
    monkeypatch.delenv("SALESCOPE_DATABASE_URL", raising=False)
    return path


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database: a SQLite file in a directory that does not exist yet, or a
    fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'not-yet' / 'salescope.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


DEMO_SEED = 11
"""The seed of the small demo company the tests share."""


@pytest.fixture(scope="session")
def demo_company() -> DemoCompany:
    """The small demo company (300 shops, 8 months; seed ``DEMO_SEED``) with its truth."""
    return generate_demo(DemoConfig.small(seed=DEMO_SEED))


@pytest.fixture(scope="session")
def demo_model(demo_company: DemoCompany) -> NextOrderModel:
    """The next-order engine fitted on the small demo company's orders, products and
    customers (segments, coordinates, margins: what the novelties need)."""
    t = demo_company.tables
    return NextOrderModel(EngineParams(seed=1)).fit(
        t["orders"], t["products"], customers=t["customers"]
    )
