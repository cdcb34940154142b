"""Benchmark: coverage recommendations on Iowa vendor-years, checked against the rules a
regional manager relies on.

For each (vendor, year): the vendor is "us" (its lines of the year and the year before are our
orders, its products ours); the store file is the market universe, as a real export has it —
name, address, city, county, coordinates, no ``interaction_mode``, no ``visits_per_month`` —
with ``rep_id`` on the stores that bought from us in the year (their nearest of the reps placed
where those stores are, ``--shops-per-rep`` stores each, ``--capacity`` minutes a month);
market totals (every vendor's purchases of a store in the year) are given for a random 30 % of
the stores. ``salescope coverage`` runs on those files (``check_coverage`` + ``do_coverage``);
the rows of ``customers.csv`` are then checked:

* ``change_mode`` only when the recommended mode differs from today's;
* ``keep``, ``grow``, ``change_mode`` never worth less than today (``expected_margin_recommended``
  ≥ ``expected_margin_current``) unless the reason names the rep time it frees;
* ``reduce`` and ``drop`` only for shops of low potential and low value (the lower half of our
  customers on both for ``reduce``, the bottom quarter for ``drop``);
* prospects are ``add`` or ``not_now``, served shops never;
* every reason quotes numbers and never says "X instead of X";

and the potential is scored against the truth on the stores without market data (Spearman on
all of them and on the prospects among them, interval coverage of [potential_low,
potential_high]).

    .venv/bin/python benchmarks/coverage_iowa.py [--data ../shared/data/iowa-liquor]
        [--pairs 4] [--seed 12] [--vendor V --year Y ...]

Vendor-years are drawn at random (``--seed``) among the 40 largest vendors of 2019, in
2015–2021, unless given; a vendor-year with fewer than 50 stores buying is skipped. Prints a
Markdown table with the date and the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from scipy.stats import spearmanr

from _common import machine  # the script's own folder
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
MARKET_SHARE = 0.30
MIN_BUYING = 50  # vendor-years selling to fewer stores (with coordinates) are skipped


class TooSmallError(Exception):
    """A vendor-year with too few stores buying to be a case."""


YEARS = tuple(range(2015, 2022))


@dataclass(frozen=True, slots=True)
class Case:
    """The files of one vendor-year and the truth to score against."""

    vendor: str
    year: int
    files: dict[str, Path]
    truth: pl.DataFrame  # customer_id, truth, own, given (market data given)
    as_of: dt.date


def load_years(data: Path, years: Sequence[int], workdir: Path) -> dict[str, pl.DataFrame]:
    """Canonical stores, products and every vendor's order lines of ``years``."""
    cut = workdir / "iowa_sales_cut.parquet"
    (
        pl.scan_parquet(data / SALES)
        .filter(pl.col("date").dt.year().is_in(list(years)))
        .sink_parquet(cut)
    )
    output = from_iowa([cut, *(data / name for name in DIMENSIONS)])
    cut.unlink()
    return output.tables


def _reps(served: pl.DataFrame, shops_per_rep: int, capacity: float, seed: int) -> pl.DataFrame:
    """Reps where the served stores are: a few Lloyd iterations from a random sample."""
    located = served.drop_nulls(["latitude", "longitude"])
    lat, lon = located["latitude"].to_numpy(), located["longitude"].to_numpy()
    k = min(located.height, max(2, round(located.height / shops_per_rep)))
    rng = np.random.default_rng(seed)
    pick = rng.choice(located.height, k, replace=False)
    rlat, rlon = lat[pick].copy(), lon[pick].copy()
    for _ in range(15):
        nearest = np.argmin((lat[:, None] - rlat) ** 2 + ((lon[:, None] - rlon) * 0.74) ** 2, 1)
        for r in range(k):
            mine = nearest == r
            if mine.any():
                rlat[r], rlon[r] = lat[mine].mean(), lon[mine].mean()
    return pl.DataFrame(
        {
            "rep_id": [f"R{r + 1:02d}" for r in range(k)],
            "latitude": rlat,
            "longitude": rlon,
            "capacity_minutes": np.full(k, capacity),
        }
    )


def build_case(
    tables: dict[str, pl.DataFrame],
    vendor: str,
    year: int,
    workdir: Path,
    *,
    seed: int,
    shops_per_rep: int = 110,
    capacity: float = 9_600.0,
) -> Case:
    """Write the files of one vendor-year into ``workdir``."""
    products = tables["products"].with_columns(own=pl.col("vendor") == vendor)
    own_ids = products.filter(pl.col("own"))["product_id"].implode()
    orders = tables["orders"].filter(
        pl.col("order_date").dt.year().is_between(year - 1, year)
        & pl.col("product_id").is_in(own_ids)
    )
    this_year = pl.col("order_date").dt.year() == year
    own = orders.filter(this_year).group_by("customer_id").agg(pl.col("amount").sum().alias("own"))
    totals = (
        tables["orders"]
        .filter(this_year)
        .group_by("customer_id")
        .agg(pl.col("amount").sum().alias("truth"))
    )
    # as an export has it: no status, rep, mode or frequency (the adapter's empty columns go)
    customers = tables["customers"].drop("status")
    customers = customers.select(
        c for c in customers.columns if customers[c].null_count() < customers.height
    )
    truth = (
        customers.select("customer_id")
        .join(totals, on="customer_id", how="left")
        .join(own, on="customer_id", how="left")
        .with_columns(pl.col("truth", "own").fill_null(0.0))
    )
    rng = np.random.default_rng(seed + year)
    truth = truth.with_columns(pl.Series("given", rng.random(truth.height) < MARKET_SHARE))
    served = customers.join(own.filter(pl.col("own") > 0), on="customer_id", how="semi")
    if served.drop_nulls(["latitude", "longitude"]).height < MIN_BUYING:
        raise TooSmallError(f"{served.height} stores buying")
    reps = _reps(served, shops_per_rep, capacity, seed)
    located = served.drop_nulls(["latitude", "longitude"])
    d = (located["latitude"].to_numpy()[:, None] - reps["latitude"].to_numpy()) ** 2 + (
        (located["longitude"].to_numpy()[:, None] - reps["longitude"].to_numpy()) * 0.74
    ) ** 2
    rep_of = located.select(
        "customer_id", pl.Series("rep_id", reps["rep_id"].to_numpy()[np.argmin(d, 1)])
    )
    customers = customers.join(rep_of, on="customer_id", how="left")
    market = truth.filter(pl.col("given")).select(
        "customer_id",
        pl.lit(str(year)).alias("period"),
        pl.col("truth").alias("total_amount"),
    )
    files = {
        "customers": workdir / "customers.csv",
        "orders": workdir / "orders.parquet",
        "products": workdir / "products.csv",
        "market": workdir / "market.csv",
        "reps": workdir / "reps.csv",
    }
    customers.write_csv(files["customers"])
    orders.write_parquet(files["orders"])
    products.write_csv(files["products"])
    market.write_csv(files["market"])
    reps.write_csv(files["reps"])
    return Case(vendor, year, files, truth, dt.date(year + 1, 1, 1))


# -- the rules ----------------------------------------------------------------------------------
_CAPACITY_WORDS = re.compile(r"frees? \d[\d,.]* min", re.IGNORECASE)
_SAME_PLAN = re.compile(
    r"([a-z][a-z' ]+ (?:\d+(?:\.\d+)?/month|every \d+ months)) instead of (?:today's )?\1"
)


def rule_violations(table: pl.DataFrame) -> dict[str, int]:
    """Rows breaking each rule of point 2 (0 everywhere = every row obeys)."""
    rec = pl.col("recommendation")
    served = pl.col("status") == "served"
    worse = pl.col("expected_margin_recommended") < pl.col("expected_margin_current") - 0.5
    frees = pl.col("reason").str.contains(_CAPACITY_WORDS.pattern)
    potential = table.filter(served)["potential"]
    value = table.filter(served)["revenue_12m"]
    q = {
        "reduce": (potential.quantile(0.5) or 0.0, value.quantile(0.5) or 0.0),
        "drop": (potential.quantile(0.25) or 0.0, value.quantile(0.25) or 0.0),
    }
    checks = {
        "change_mode without a change of mode": (rec == "change_mode")
        & (pl.col("interaction_mode").fill_null("") == pl.col("current_mode").fill_null("")),
        "keep/grow/change_mode worth less, no capacity named": rec.is_in(
            ["keep", "grow", "change_mode"]
        )
        & worse
        & ~frees,
        "reduce not low potential and value": (rec == "reduce")
        & ((pl.col("potential") > q["reduce"][0]) | (pl.col("revenue_12m") > q["reduce"][1])),
        "drop not low potential and value": (rec == "drop")
        & ((pl.col("potential") > q["drop"][0]) | (pl.col("revenue_12m") > q["drop"][1])),
        "prospect neither add nor not_now": ~served & ~rec.is_in(["add", "not_now"]),
        "served shop add or not_now": served & rec.is_in(["add", "not_now"]),
        "reason without numbers": ~pl.col("reason").str.contains(r"\d"),
    }
    counts = {name: int(table.select(expr.sum()).item() or 0) for name, expr in checks.items()}
    # the regex engine of Polars has no back-references: Python's re on the reasons
    counts["reason 'X instead of X'"] = sum(
        bool(_SAME_PLAN.search(text)) for text in table["reason"].fill_null("").to_list()
    )
    return counts


@dataclass(frozen=True, slots=True)
class Row:
    vendor: str
    year: int
    served: int
    prospects: int
    counts: dict[str, int]
    violations: dict[str, int]
    spearman_hidden: float
    spearman_prospects: float
    coverage: float
    seconds: float
    today_source: str


def _rho(a: pl.Series, b: pl.Series) -> float:
    return float(spearmanr(a.to_numpy(), b.to_numpy()).statistic)


def run_case(case: Case, out: Path) -> Row:
    from salescope.data.io import read_tables
    from salescope.domain import schemas
    from salescope.services.coverage import check_coverage, do_coverage

    began = time.perf_counter()
    tables = {
        "customers": schemas.CUSTOMERS,
        "orders": schemas.ORDERS,
        "reps": schemas.REPS,
        "products": schemas.PRODUCTS,
        "market": schemas.MARKET,
    }
    frames = read_tables({name: (case.files[name], schema) for name, schema in tables.items()})
    request = check_coverage(
        customers=frames["customers"],
        orders=frames["orders"],
        reps=frames["reps"],
        products=frames["products"],
        market=frames["market"],
        as_of=case.as_of,
        sources={name: case.files[name] for name in tables},
    )
    result = do_coverage(request, out)
    seconds = time.perf_counter() - began
    table = pl.read_csv(
        out / "customers.csv", infer_schema_length=None, schema_overrides={"customer_id": pl.String}
    )
    scored = table.join(case.truth, on="customer_id").filter(~pl.col("given"))
    prospects = scored.filter(pl.col("own") <= 0)
    inside = (scored["truth"] >= scored["potential_low"]) & (
        scored["truth"] <= scored["potential_high"]
    )
    return Row(
        vendor=case.vendor,
        year=case.year,
        served=int(table.filter(pl.col("status") == "served").height),
        prospects=int(table.filter(pl.col("status") == "prospect").height),
        counts=dict(table.group_by("recommendation").len().iter_rows()),
        violations=rule_violations(table),
        spearman_hidden=_rho(scored["potential"], scored["truth"]),
        spearman_prospects=_rho(prospects["potential"], prospects["truth"]),
        coverage=float(inside.mean() or 0.0),
        seconds=seconds,
        today_source=str(result.summary.get("today_service", "")),
    )


def choose_pairs(
    tables: dict[str, pl.DataFrame], n: int, seed: int, years: Sequence[int]
) -> list[tuple[str, int]]:
    """``n`` (vendor, year) pairs drawn at random among the 40 largest vendors."""
    products = tables["products"].select("product_id", "vendor")
    sales = (
        tables["orders"]
        .join(products, on="product_id")
        .group_by("vendor")
        .agg(pl.col("amount").sum())
        .sort("amount", descending=True)
        .head(40)["vendor"]
        .to_list()
    )
    rng = np.random.default_rng(seed)
    pairs: list[tuple[str, int]] = []
    while len(pairs) < n:
        pair = (str(sales[int(rng.integers(len(sales)))]), int(years[rng.integers(len(years))]))
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def table_text(rows: Sequence[Row]) -> str:
    head = (
        "| vendor | year | served | prospects | add / not_now | keep / grow / reduce / drop / "
        "change_mode | rows breaking a rule | Spearman hidden | Spearman prospects | "
        "interval coverage | time |\n|---|---|---:|---:|---|---|---:|---:|---:|---:|---:|"
    )
    body = []
    for r in rows:
        c = r.counts
        body.append(
            f"| {r.vendor} | {r.year} | {r.served:,} | {r.prospects:,} | "
            f"{c.get('add', 0):,} / {c.get('not_now', 0):,} | "
            + " / ".join(
                f"{c.get(k, 0):,}" for k in ("keep", "grow", "reduce", "drop", "change_mode")
            )
            + f" | {sum(r.violations.values())} | {r.spearman_hidden:.3f} | "
            f"{r.spearman_prospects:.3f} | {r.coverage:.0%} | {r.seconds:.0f} s |"
        )
    return "\n".join([head, *body])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--vendor", action="append", default=[])
    parser.add_argument("--year", type=int, action="append", default=[])
    parser.add_argument("--keep", type=Path, help="keep each case's output under this folder")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.vendor:
            pairs = list(zip(args.vendor, args.year, strict=True))
        else:
            sample = load_years(args.data, [2019], work)
            pairs = choose_pairs(sample, args.pairs, args.seed, YEARS)
            del sample
        for year in sorted({y for _, y in pairs}):
            tables = load_years(args.data, [year - 1, year], work)
            for vendor, y in pairs:
                if y != year:
                    continue
                folder = work / f"{vendor}_{year}".replace(" ", "_").replace("/", "_")
                folder.mkdir()
                try:
                    case = build_case(tables, vendor, year, folder, seed=args.seed)
                except TooSmallError as small:
                    print(f"  {vendor} {year}: skipped, {small}", flush=True)
                    continue
                out = (args.keep or work) / f"{vendor.replace(' ', '_')}_{year}"
                row = run_case(case, out)
                rows.append(row)
                print(f"  {vendor} {year}: {row.violations} ({row.seconds:.0f} s)", flush=True)
    print()
    print(f"Coverage on Iowa vendor-years, {dt.date.today()}, {machine()}")
    print()
    print(table_text(rows))
    if rows:
        print(f"\nToday's service: {rows[0].today_source}")


if __name__ == "__main__":
    main()
