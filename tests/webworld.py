"""A small company for the web layer's tests: two regions, reps, shops, a user per role, a
coverage output published as recommendations.

north: reps R1 (rep), R2 (merchandiser); shops C1 (served by R1, keep), C2 (prospect, add,
  proposed to R1), C3 (served by R1, drop)
south: rep R3; shops C4 (served by R3, grow), C5 (prospect, add, proposed to R3)

Users (password ``PASSWORD``): admin@, director@, north@ (manager of north), south@ (manager
of south), rep1@ (R1), merch2@ (R2), rep3@ (R3), shop1@ (C1), all ``@example.com``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from salescope.config import Settings, get_settings
from salescope.data.io import read_coverage_output
from salescope.services import users
from salescope.services.recommendations import check_coverage_output, do_publish
from salescope.storage import repositories as repo
from salescope.storage.db import Database

PASSWORD = "correct horse battery"
EMAILS = {
    "admin": "admin@example.com",
    "director": "director@example.com",
    "north": "north@example.com",
    "south": "south@example.com",
    "rep1": "rep1@example.com",
    "merch2": "merch2@example.com",
    "rep3": "rep3@example.com",
    "shop1": "shop1@example.com",
}
REC_OF = {"C1": "keep", "C2": "add", "C3": "drop", "C4": "grow", "C5": "add"}


def fast_settings(data_dir: Path, database_url: str) -> Settings:
    """Settings with a cheap Argon2id (tests hash many passwords)."""
    return get_settings(
        data_dir=data_dir,
        database_url=database_url,
        argon2_memory_kib=8,
        argon2_time_cost=1,
        secret_key="test-secret-key-not-for-production",
    )


CUSTOMERS = pl.DataFrame(
    {
        "customer_id": ["C1", "C2", "C3", "C4", "C5"],
        "name": ["Corner <b>Shop</b>", "Prospect Two", "Kiosk Three", "South Four", "South Five"],
        "region": ["north", "north", "north", "south", "south"],
        "status": ["served", "prospect", "served", "served", "prospect"],
        "rep_id": ["R1", None, "R1", "R3", None],
        "interaction_mode": ["field", None, "field", "field", None],
        "visits_per_month": [2.0, None, 1.0, 2.0, None],
        "latitude": [50.0, 50.1, 50.2, 48.0, 48.1],
        "longitude": [4.0, 4.1, 4.2, 2.0, 2.1],
    }
)
REPS = pl.DataFrame(
    {
        "rep_id": ["R1", "R2", "R3"],
        "name": ["Rita One", "Mark Two", "Sam Three"],
        "region": ["north", "north", "south"],
        "role": ["rep", "merchandiser", "rep"],
        "latitude": [50.0, 50.05, 48.0],
        "longitude": [4.0, 4.05, 2.0],
        "capacity_minutes": [7200.0, 7200.0, 7200.0],
    }
)


def write_coverage(folder: Path, recs: dict[str, str] | None = None, *, extra: bool = True) -> Path:
    """A coverage output folder as ``salescope coverage`` writes it (with issue 12's extra
    columns when ``extra``)."""
    recs = recs or REC_OF
    folder.mkdir(parents=True, exist_ok=True)
    ids = list(recs)
    rows = {
        "customer_id": ids,
        "status": ["served" if recs[c] in ("keep", "drop", "grow") else "prospect" for c in ids],
        "segment": ["S1"] * len(ids),
        "revenue_12m": [1000.0 * (i + 1) for i in range(len(ids))],
        "potential": [5000.0 * (i + 1) for i in range(len(ids))],
        "potential_low": [4000.0 * (i + 1) for i in range(len(ids))],
        "potential_high": [6000.0 * (i + 1) for i in range(len(ids))],
        "share_of_wallet": [0.2] * len(ids),
        "recommendation": [recs[c] for c in ids],
        "interaction_mode": ["field" if recs[c] != "drop" else None for c in ids],
        "visits_per_month": [2.0 if recs[c] != "drop" else 0.0 for c in ids],
        "rep_id": [
            {"C2": "R1", "C5": "R3", "C1": "R1", "C3": "R1", "C4": "R3"}.get(c) for c in ids
        ],
        "reason": [f"Because <script>alert('{c}')</script> potential is high" for c in ids],
    }
    frame = pl.DataFrame(rows)
    if extra:
        frame = frame.with_columns(
            pl.lit("field").alias("current_mode"),
            pl.lit(1.5).alias("current_visits_per_month"),
            pl.lit(900.0).alias("expected_margin_current"),
            pl.lit(1200.0).alias("expected_margin_recommended"),
        )
    frame.write_csv(folder / "customers.csv")
    pl.DataFrame(
        {
            "customer_id": ["C2", "C5"],
            "rep_id": ["R1", "R3"],
            "previous_rep_id": [None, None],
            "distance_km": [3.2, 4.1],
        }
    ).write_csv(folder / "assignments.csv")
    (folder / "summary.json").write_text(
        json.dumps({"as_of": "2024-09-01", "shops": len(ids), "margin_rate": 0.41})
    )
    pl.DataFrame(
        {
            "rep_id": ["R1", "R3"],
            "role": ["rep", "rep"],
            "capacity": [7200.0, 7200.0],
            "load_today": [3000.0, 2000.0],
            "load_recommended": [3500.0, 2600.0],
        }
    ).write_csv(folder / "reps.csv")
    return folder


@dataclass
class World:
    settings: Settings
    db: Database
    coverage_dir: Path
    rec_ids: dict[str, int]  # customer_id -> recommendation id


#: A test user: role, regions (managers), rep id (reps, merchandisers), customer id (shops).
UserSpec = tuple[str, tuple[str, ...], str | None, str | None]


def add_users(
    session: Session,
    hasher: PasswordHasher,
    specs: dict[str, UserSpec],
    emails: dict[str, str],
) -> None:
    """Add each user of ``specs`` (key: its name) with ``emails[key]`` and ``PASSWORD``."""
    for key, (role, regions, rep_id, customer_id) in specs.items():
        new = users.check_new_user(
            session,
            emails[key],
            role,
            regions=regions,
            rep_id=rep_id,
            customer_id=customer_id,
            password=PASSWORD,
            full_name=key.title(),
        )
        users.do_add_user(session, new, hasher, actor="test")


def build_world(db: Database, settings: Settings, root: Path) -> World:
    """Store the company, its users and a published coverage run."""
    hasher = users.password_hasher(settings)
    with db.session() as session:
        repo.ensure_regions(session, ["north", "south"])
        repo.upsert_reps(session, REPS)
        repo.upsert_customers(session, CUSTOMERS)
        specs = {
            "admin": ("admin", (), None, None),
            "director": ("director", (), None, None),
            "north": ("manager", ("north",), None, None),
            "south": ("manager", ("south",), None, None),
            "rep1": ("rep", (), "R1", None),
            "merch2": ("merchandiser", (), "R2", None),
            "rep3": ("rep", (), "R3", None),
            "shop1": ("shop", (), None, "C1"),
        }
        add_users(session, hasher, specs, EMAILS)
    coverage = write_coverage(root / "coverage")
    with db.session() as session:
        do_publish(session, check_coverage_output(read_coverage_output(coverage)), actor="test")
    with db.session() as session:
        from salescope.storage.models import CoverageRecommendation

        rec_ids = {r.customer_id: r.id for r in session.query(CoverageRecommendation)}
    return World(settings, db, coverage, rec_ids)


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    """The small company on SQLite and on PostgreSQL, migrated, with its users and run."""
    settings = fast_settings(tmp_path / "data", database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(database_url)
    db.upgrade()
    yield build_world(db, settings, tmp_path)
    db.dispose()
