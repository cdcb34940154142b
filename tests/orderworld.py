"""A small company with a trained next-order model, for the tests of orders in the app.

The small demo company (seed 3: regions Lesnia and Vardenia, 300 shops, 8 months of orders
to 2024-08-31) is generated and its engine trained once per test process; each test gets a
fresh data folder and database holding its tables (an import) and the model registered as
the one in use. Today is Monday 2024-09-02, so the next delivery date is 2024-09-03.

Users (password ``PASSWORD``, ``@example.com``): admin, director, lesnia (manager of
Lesnia), vardenia (manager of Vardenia), rep (R02, Lesnia), shop (``SHOP``: a Lesnia field
shop of R02 whose suggestion holds a novelty), other (``OTHER``: another Lesnia shop of R02),
south (``SOUTH``: a Vardenia shop), auto (``AUTO``: a Lesnia shop in automatic mode).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from salescope.config import Settings
from salescope.data.adapters import AdapterOutput
from salescope.data.demo import DemoCompany, DemoConfig, generate_demo
from salescope.orders.model import EngineParams, NextOrderModel
from salescope.orders.persistence import fingerprint, save_model
from salescope.services import users
from salescope.services.imports import store_output
from salescope.services.models import do_register_model
from salescope.services.serving import in_holdout
from salescope.storage.db import Database
from tests.webworld import UserSpec, add_users, fast_settings

TODAY = dt.date(2024, 9, 2)
DELIVERY = dt.date(2024, 9, 3)
EMAILS = {
    name: f"{name}@example.com"
    for name in ("admin", "director", "lesnia", "vardenia", "rep", "shop", "other", "south", "auto")
}


@dataclass(frozen=True)
class Trained:
    company: DemoCompany
    folder: Path
    shop: str  # a Lesnia field shop of R02 with a novelty on DELIVERY, not in the holdout
    other: str  # another Lesnia shop of R02
    south: str  # a Vardenia shop
    auto: str  # a Lesnia shop in automatic mode
    novelty: str  # a novelty product of ``shop`` on DELIVERY


def _pick(company: DemoCompany, model: NextOrderModel) -> dict[str, str]:
    customers = company.tables["customers"].filter(pl.col("status") == "served")
    r02 = customers.filter((pl.col("rep_id") == "R02") & (pl.col("interaction_mode") == "field"))[
        "customer_id"
    ].to_list()
    r02 = [c for c in r02 if not in_holdout(c, 0.05)]
    targets = pl.DataFrame({"customer_id": r02, "order_date": [DELIVERY] * len(r02)})
    lines = model.recommend(targets, objectives=company.tables["objectives"])
    novel = (
        lines.filter((pl.col("kind") != "usual") & ~pl.col("lapsed"))
        .sort("customer_id", "rank")
        .group_by("customer_id", maintain_order=True)
        .first()
    )
    assert novel.height >= 1, "no R02 shop with a novelty: choose another seed"
    shop, novelty = novel.row(0)[0], novel["product_id"][0]
    other = next(c for c in r02 if c != shop)
    south = customers.filter(pl.col("region") == "Vardenia")["customer_id"][0]
    auto = customers.filter(
        (pl.col("region") == "Lesnia") & (pl.col("interaction_mode") == "automatic")
    )["customer_id"][0]
    return {"shop": shop, "other": other, "south": south, "auto": auto, "novelty": novelty}


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """The small company and its engine, trained once per test process."""
    company = generate_demo(DemoConfig.small(seed=3))
    t = company.tables
    model = NextOrderModel(EngineParams(seed=2)).fit(
        t["orders"], t["products"], customers=t["customers"]
    )
    folder = save_model(
        model, tmp_path_factory.mktemp("engine") / "model", data=fingerprint(t["orders"])
    )
    return Trained(company, folder, **_pick(company, model))


@dataclass
class OrderWorld:
    settings: Settings
    db: Database
    trained: Trained

    @property
    def shop(self) -> str:
        return self.trained.shop


def build_order_world(
    settings: Settings, db: Database, trained: Trained, *, register: bool = True
) -> OrderWorld:
    """Import the company, register the model, add the users."""
    store_output(
        settings,
        AdapterOutput("demo", dict(trained.company.tables)),
        files=("small demo",),
        fingerprint="small-demo-3",
        replace=True,
        actor="test",
    )
    hasher = users.password_hasher(settings)
    specs: dict[str, UserSpec] = {
        "admin": ("admin", (), None, None),
        "director": ("director", (), None, None),
        "lesnia": ("manager", ("Lesnia",), None, None),
        "vardenia": ("manager", ("Vardenia",), None, None),
        "rep": ("rep", (), "R02", None),
        "shop": ("shop", (), None, trained.shop),
        "other": ("shop", (), None, trained.other),
        "south": ("shop", (), None, trained.south),
        "auto": ("shop", (), None, trained.auto),
    }
    with db.session() as session:
        add_users(session, hasher, specs, EMAILS)
        if register:
            do_register_model(session, trained.folder, actor="test", source="test")
    return OrderWorld(settings, db, trained)


def order_settings(root: Path, database_url: str) -> Settings:
    settings = fast_settings(root / "data", database_url).model_copy(update={"today": TODAY})
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


@pytest.fixture
def order_world(database_url: str, tmp_path: Path, trained: Trained) -> Iterator[OrderWorld]:
    """The small company with its model in use, on SQLite and on PostgreSQL."""
    settings = order_settings(tmp_path, database_url)
    db = Database(database_url)
    db.upgrade()
    yield build_order_world(settings, db, trained)
    db.dispose()
