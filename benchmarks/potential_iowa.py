"""Benchmark: estimated potential on the Iowa liquor data, against "own sales / median share".

For each (vendor, year): the vendor is "us" (its lines are our orders, its products ours), the
store file is the market universe, and the market totals (every vendor's purchases of a store in
the year) are given for a random 30 % of the stores. The potential the wallet estimator gives the
OTHER stores is compared with their true yearly purchases from all vendors (Spearman), as is the
baseline "own sales / median share of wallet" (median over the stores with market data that buy
from us). Also shown: the interval coverage of [potential_low, potential_high] (nominal 80 %),
the estimator's own cross-validated Spearman on the 30 %, and the time taken.

Each year's sales lines are cut from the 25 M-line parquet with a lazy, streaming filter into a
temporary parquet file, then converted with ``from_iowa`` like any import.

    .venv/bin/python benchmarks/potential_iowa.py [--data ../shared/data/iowa-liquor]
        [--years 2019 2021] [--vendors "DIAGEO AMERICAS" ...] [--seed 0]

Prints a Markdown table with the date and the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from scipy.stats import spearmanr

from _common import machine  # the script's own folder
from salescope.coverage.wallet import WalletEstimator
from salescope.data.adapters.iowa import from_iowa

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "iowa-liquor"
SALES = "iowa_sales_2012_2022.parquet"
DIMENSIONS = (
    "iowa_stores.csv",
    "iowa_products.csv",
    "iowa_city_population_by_year.csv",
    "iowa_county_population_by_year.csv",
)
VENDORS = (
    "DIAGEO AMERICAS",  # the largest
    "SAZERAC COMPANY INC",
    "JIM BEAM BRANDS",  # Beam Suntory
    "LUXCO INC",  # mid-sized
    "CEDAR RIDGE VINEYARDS LL",  # small, local
)
YEARS = (2019, 2021)
MARKET_SHARE = 0.30


@dataclass(frozen=True, slots=True)
class Year:
    customers: pl.DataFrame
    products: pl.DataFrame
    orders: pl.DataFrame
    totals: pl.DataFrame  # customer_id, truth (every vendor's purchases in the year)


@dataclass(frozen=True, slots=True)
class Row:
    vendor: str
    year: int
    stores_buying: int
    spearman: float
    baseline: float
    spearman_active: float
    baseline_active: float
    spearman_prospects: float
    spearman_prospects_active: float
    prospects: int
    prospects_active: int
    coverage: float
    cv_spearman: float
    seconds: float


def load_year(data: Path, year: int, workdir: Path) -> Year:
    """The canonical tables of one year: stores, products, every vendor's order lines."""
    cut = workdir / f"iowa_sales_{year}.parquet"
    (
        pl.scan_parquet(data / SALES)
        .filter(pl.col("date").is_between(dt.date(year, 1, 1), dt.date(year, 12, 31)))
        .sink_parquet(cut)
    )
    output = from_iowa([cut, *(data / name for name in DIMENSIONS)])
    cut.unlink()
    orders = output.tables["orders"]
    customers = output.tables["customers"]
    totals = (
        customers.select("customer_id")
        .join(
            orders.group_by("customer_id").agg(pl.col("amount").sum().alias("truth")),
            on="customer_id",
            how="left",
        )
        .with_columns(pl.col("truth").fill_null(0.0))
    )
    return Year(customers, output.tables["products"], orders, totals)


def run(year_data: Year, vendor: str, year: int, seed: int) -> Row:
    products = year_data.products.with_columns(own=pl.col("vendor") == vendor)
    own_ids = products.filter(pl.col("own"))["product_id"]
    orders = year_data.orders.filter(pl.col("product_id").is_in(own_ids.implode()))
    own_sales = orders.group_by("customer_id").agg(pl.col("amount").sum().alias("own"))
    universe = year_data.totals.join(own_sales, on="customer_id", how="left").with_columns(
        pl.col("own").fill_null(0.0)
    )
    rng = np.random.default_rng(seed + year)
    given = rng.random(universe.height) < MARKET_SHARE
    market = universe.filter(pl.Series(given)).select(
        "customer_id",
        pl.lit(str(year)).alias("period"),
        pl.col("truth").alias("total_amount"),
        pl.lit(None, dtype=pl.String).alias("category"),
        pl.col("own").alias("own_amount"),
        pl.lit("benchmark").alias("source"),
    )
    began = time.perf_counter()
    estimator = WalletEstimator().fit(
        year_data.customers, orders, market, as_of=dt.date(year + 1, 1, 1), products=products
    )
    seconds = time.perf_counter() - began
    result = universe.join(estimator.result_, on="customer_id", how="left").filter(
        ~pl.Series(given)
    )
    observed = universe.filter(pl.Series(given) & (pl.col("own") > 0) & (pl.col("truth") > 0))
    median_share = float((observed["own"] / observed["truth"]).median() or 1.0)
    result = result.with_columns((pl.col("own") / median_share).alias("baseline"))
    active = result.filter(pl.col("truth") > 0)
    prospects = result.filter(pl.col("own") <= 0)
    prospects_active = prospects.filter(pl.col("truth") > 0)
    inside = (result["truth"] >= result["potential_low"]) & (
        result["truth"] <= result["potential_high"]
    )
    cv = estimator.cv_
    return Row(
        vendor=vendor,
        year=year,
        stores_buying=int((universe["own"] > 0).sum()),
        spearman=_rho(result["potential"], result["truth"]),
        baseline=_rho(result["baseline"], result["truth"]),
        spearman_active=_rho(active["potential"], active["truth"]),
        baseline_active=_rho(active["baseline"], active["truth"]),
        spearman_prospects=_rho(prospects["potential"], prospects["truth"]),
        spearman_prospects_active=_rho(prospects_active["potential"], prospects_active["truth"]),
        prospects=prospects.height,
        prospects_active=prospects_active.height,
        coverage=float(inside.mean() or 0.0),
        cv_spearman=cv.spearman if cv is not None else float("nan"),
        seconds=seconds,
    )


def random_pairs(data: Path, n: int, seed: int, workdir: Path) -> list[tuple[str, int]]:
    """``n`` (vendor, year) pairs, 2015–2021, among the vendors selling to 100–1,700 stores
    that year (not the largest, whose non-buyers are nearly all closed stores)."""
    rng = np.random.default_rng(seed)
    years = list(range(2015, 2022))
    pairs: list[tuple[str, int]] = []
    vendors: dict[int, list[str]] = {}
    while len(pairs) < n:
        year = int(years[rng.integers(len(years))])
        if year not in vendors:
            products = pl.read_csv(
                data / "iowa_products.csv",
                infer_schema_length=0,
                columns=["Item Number", "Vendor Name"],
            )
            sales = (
                pl.scan_parquet(data / SALES)
                .filter(pl.col("date").dt.year() == year)
                .group_by(pl.col("item_number").cast(pl.String))
                .agg(pl.col("store_number").unique())
                .collect()
            )
            stores = (
                sales.join(
                    products.rename({"Item Number": "item_number", "Vendor Name": "vendor"}),
                    on="item_number",
                )
                .explode("store_number")
                .group_by("vendor")
                .agg(pl.col("store_number").n_unique().alias("stores"))
                .filter(pl.col("stores").is_between(100, 1700))
                .with_columns(  # as the adapter spells it
                    pl.col("vendor").str.strip_chars().str.replace_all(r"\s+", " ")
                )
                .sort("vendor")
            )
            vendors[year] = stores["vendor"].to_list()
        vendor = str(vendors[year][int(rng.integers(len(vendors[year])))])
        if (vendor, year) not in pairs:
            pairs.append((vendor, year))
    return pairs


def _rho(a: pl.Series, b: pl.Series) -> float:
    return float(spearmanr(a.to_numpy(), b.to_numpy()).statistic)


def table(rows: Sequence[Row]) -> str:
    head = (
        "| vendor | year | stores buying | Spearman engine | Spearman baseline | "
        "engine (active stores) | prospects (buying nothing from us) | prospects buying "
        "something | interval coverage | CV Spearman (30 %) | time |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    body = [
        f"| {r.vendor} | {r.year} | {r.stores_buying:,} | **{r.spearman:.3f}** | "
        f"{r.baseline:.3f} | {r.spearman_active:.3f} | **{r.spearman_prospects:.3f}** "
        f"({r.prospects:,}) | {r.spearman_prospects_active:.3f} ({r.prospects_active:,}) | "
        f"{r.coverage:.0%} | {r.cv_spearman:.3f} | {r.seconds:.1f} s |"
        for r in rows
    ]
    return "\n".join([head, *body])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--years", type=int, nargs="+", default=list(YEARS))
    parser.add_argument("--vendors", nargs="+", default=list(VENDORS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--random",
        type=int,
        default=0,
        help="instead: this many vendor-years drawn at random (--seed) among the vendors "
        "selling to 100 to 1,700 stores in 2015-2021",
    )
    args = parser.parse_args(argv)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        pairs = [(v, y) for y in args.years for v in args.vendors]
        if args.random:
            pairs = random_pairs(args.data, args.random, args.seed, Path(tmp))
        for year in sorted({y for _, y in pairs}):
            data = load_year(args.data, year, Path(tmp))
            for vendor in [v for v, y in pairs if y == year]:
                rows.append(run(data, vendor, year, args.seed))
                print(f"  {vendor} {year}: done", flush=True)
    print()
    print(f"Potential on Iowa liquor sales, {dt.date.today()}, {machine()}")
    print(
        "Stores: the store file (universe); market totals given for a random 30 %; Spearman on "
        "the other 70 % (all of them, then only those that bought in the year)."
    )
    print()
    print(table(rows))
    mean = float(np.mean([r.spearman for r in rows]))
    base = float(np.mean([r.baseline for r in rows]))
    prospects = float(np.mean([r.spearman_prospects for r in rows]))
    print(f"\nMean Spearman: engine {mean:.3f}, baseline {base:.3f}; prospects {prospects:.3f}.")


if __name__ == "__main__":
    main()
