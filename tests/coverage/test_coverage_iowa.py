"""`salescope coverage` on a real case: Iowa stores, one vendor as "us", as an export has it.

The store file is the market universe (name, address, city, county, coordinates; no
interaction mode, no visits a month); the vendor's lines of 2019–2020 are our orders; the
stores that bought from it in 2020 have the nearest of 8 reps; market totals of 2020 are given
for a random 30 % of the stores.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import spearmanr
from tests.coverage.rules import broken_rules
from tests.reading import read_inputs

from salescope.data.adapters.iowa import from_iowa

VENDOR = "LUXCO INC"
YEAR = 2020


@pytest.fixture(scope="module")
def iowa_case(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The files of the case, and the truth (every vendor's purchases of 2020 per store)."""
    root = tmp_path_factory.mktemp("iowa")
    iowa = shared_data / "iowa-liquor"
    cut = root / "sales.parquet"
    (
        pl.scan_parquet(iowa / "iowa_sales_2012_2022.parquet")
        .filter(pl.col("date").dt.year().is_between(YEAR - 1, YEAR))
        .sink_parquet(cut)
    )
    tables = from_iowa([cut, iowa / "iowa_stores.csv", iowa / "iowa_products.csv"]).tables
    products = tables["products"].with_columns(own=pl.col("vendor") == VENDOR)
    ours = products.filter(pl.col("own"))["product_id"].implode()
    orders = tables["orders"].filter(pl.col("product_id").is_in(ours))
    this_year = pl.col("order_date").dt.year() == YEAR
    truth = (
        tables["orders"]
        .filter(this_year)
        .group_by("customer_id")
        .agg(pl.col("amount").sum().alias("truth"))
    )
    buyers = orders.filter(this_year).select("customer_id").unique()
    customers = tables["customers"].drop("status")
    customers = customers.select(
        c for c in customers.columns if customers[c].null_count() < customers.height
    )
    served = customers.join(buyers, on="customer_id", how="semi").drop_nulls(
        ["latitude", "longitude"]
    )
    rng = np.random.default_rng(0)
    pick = rng.choice(served.height, 8, replace=False)
    reps = pl.DataFrame(
        {
            "rep_id": [f"R{k}" for k in range(8)],
            "latitude": served["latitude"].to_numpy()[pick],
            "longitude": served["longitude"].to_numpy()[pick],
            "capacity_minutes": np.full(8, 9600.0),
        }
    )
    d = (served["latitude"].to_numpy()[:, None] - reps["latitude"].to_numpy()) ** 2 + (
        (served["longitude"].to_numpy()[:, None] - reps["longitude"].to_numpy()) * 0.74
    ) ** 2
    rep_of = served.select(
        "customer_id", pl.Series("rep_id", reps["rep_id"].to_numpy()[d.argmin(1)])
    )
    customers = customers.join(rep_of, on="customer_id", how="left")
    universe = customers.select("customer_id").join(truth, on="customer_id", how="left")
    given = pl.Series(rng.random(universe.height) < 0.3)
    market = universe.filter(given).select(
        "customer_id",
        pl.lit(str(YEAR)).alias("period"),
        pl.col("truth").fill_null(0.0).alias("total_amount"),
    )
    files = {name: root / f"{name}.csv" for name in ("customers", "products", "market", "reps")}
    files["orders"] = root / "orders.parquet"
    files["truth"] = root / "truth.parquet"
    customers.write_csv(files["customers"])
    products.write_csv(files["products"])
    market.write_csv(files["market"])
    reps.write_csv(files["reps"])
    orders.write_parquet(files["orders"])
    universe.with_columns(given.alias("given"), pl.col("truth").fill_null(0.0)).write_parquet(
        files["truth"]
    )
    return files


@pytest.fixture(scope="module")
def iowa_run(iowa_case: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from salescope.services.coverage import check_coverage, do_coverage

    request = check_coverage(
        **read_inputs(
            customers=iowa_case["customers"],
            orders=iowa_case["orders"],
            reps=iowa_case["reps"],
            products=iowa_case["products"],
            market=iowa_case["market"],
        ),
        as_of=dt.date(YEAR + 1, 1, 1),
    )
    out = tmp_path_factory.mktemp("iowa-out") / "coverage"
    do_coverage(request, out)
    return out


def test_iowa_recommendations_obey_every_rule(iowa_run: Path) -> None:
    """On the Iowa case every row obeys the rules of a coherent recommendation, served shops
    get more than one kind of recommendation and some prospects are added."""
    table = pl.read_csv(
        iowa_run / "customers.csv",
        infer_schema_length=None,
        schema_overrides={"customer_id": pl.String},
    )
    broken = {k: v[:5] for k, v in broken_rules(table).items() if v}
    assert broken == {}
    served = table.filter(pl.col("status") == "served")
    assert len(set(served["recommendation"])) >= 3
    assert (table["recommendation"] == "add").sum() > 0


def test_iowa_todays_service_is_inferred_and_stated(iowa_run: Path) -> None:
    """The export gives no service: every served shop's mode and visits are inferred, with
    today's margin, and the summary says how."""
    table = pl.read_csv(
        iowa_run / "customers.csv",
        infer_schema_length=None,
        schema_overrides={"customer_id": pl.String},
    )
    served = table.filter(pl.col("status") == "served")
    assert set(served["service_source"]) == {"inferred"}
    assert served["current_mode"].null_count() == 0
    assert served["expected_margin_current"].null_count() == 0
    summary = json.loads((iowa_run / "summary.json").read_text(encoding="utf-8"))
    assert "inferred" in summary["today_service"]
    assert summary["params"]["coverage"]["cost_per_minute"] > 0


def test_iowa_potential_ranks_hidden_stores(iowa_case: dict[str, Path], iowa_run: Path) -> None:
    """On the stores without market data the potential ranks their true purchases (Spearman ≥
    0.80)."""
    table = pl.read_csv(
        iowa_run / "customers.csv",
        infer_schema_length=None,
        schema_overrides={"customer_id": pl.String},
    )
    truth = pl.read_parquet(iowa_case["truth"])
    hidden = table.join(truth, on="customer_id").filter(~pl.col("given"))
    rho = spearmanr(hidden["potential"], hidden["truth"]).statistic
    assert rho >= 0.80
