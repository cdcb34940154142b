"""Share of wallet and potential: observed where market data exist, estimated elsewhere."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import spearmanr

from salescope.coverage.wallet import WalletEstimator, WalletParams, observed_totals
from salescope.data.demo import DemoCompany, DemoConfig, generate_demo


@cache
def demo(seed: int = 7) -> DemoCompany:
    return generate_demo(DemoConfig.small(seed))


def as_of(company: DemoCompany) -> dt.date:
    return company.config.end + dt.timedelta(days=1)


@cache
def fitted(seed: int = 7) -> WalletEstimator:
    company = demo(seed)
    t = company.tables
    return WalletEstimator().fit(
        t["customers"], t["orders"], t["market"], as_of=as_of(company), products=t["products"]
    )


def _market(rows: list[tuple[str, str, float, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema=["customer_id", "period", "total_amount", "category"], orient="row"
    )


def test_observed_totals_take_the_latest_year_and_annualise_months() -> None:
    """Yearly rows: the latest year; monthly rows: summed over the 12 months, annualised."""
    market = _market(
        [
            ("a", "2022", 900.0, None),
            ("a", "2023", 1200.0, None),
            ("b", "2023-11", 100.0, None),
            ("b", "2023-12", 300.0, None),
            ("c", "2021-05", 50.0, None),  # outside the latest 12 months
        ]
    )
    totals, window = observed_totals(market, dt.date(2024, 2, 1))
    assert window is not None
    assert (window.start, window.end) == (dt.date(2023, 1, 1), dt.date(2024, 1, 1))
    got = dict(totals.select("customer_id", "observed_total").iter_rows())
    assert got == pytest.approx({"a": 1200.0, "b": 400.0 * 12 / 2})


def test_observed_totals_do_not_depend_on_the_rows_order() -> None:
    """A shop's periods are added up in period order whatever the file's row order: float sums
    in another order differ in the last bits (here by 2: 1e16 + 1 + 1 is 1e16, 1 + 1 + 1e16 is
    not), which made a shop's potential differ between two runs on the same files."""
    rows = [("a", f"2023-{m:02d}", 1e16 if m == 1 else 1.0, None) for m in range(1, 13)]
    rows += [(s, f"2023-{m:02d}", 10.0 * m, None) for s in "bcdefgh" for m in range(1, 13)]
    rng = np.random.default_rng(5)
    results = set()
    for order in [list(range(len(rows))), *(rng.permutation(len(rows)) for _ in range(8))]:
        totals, _ = observed_totals(_market([rows[i] for i in order]), dt.date(2024, 2, 1))
        results.add(tuple(totals.select("customer_id", "observed_total").iter_rows()))
    assert len(results) == 1
    got = dict(next(iter(results)))
    assert got["a"] == 1e16  # 1e16 first (January), then each 1.0 is lost to rounding


def test_category_rows_add_up_unless_a_total_row_exists() -> None:
    """Category rows of a period are summed; a row without category is the period's total."""
    market = _market(
        [
            ("a", "2023", 100.0, "beer"),
            ("a", "2023", 50.0, "wine"),
            ("b", "2023", 70.0, "beer"),
            ("b", "2023", 200.0, None),
        ]
    )
    totals, _ = observed_totals(market, dt.date(2024, 1, 1))
    got = dict(totals.select("customer_id", "observed_total").iter_rows())
    assert got == pytest.approx({"a": 150.0, "b": 200.0})


def test_observed_shops_keep_their_market_total() -> None:
    """A shop with market data has potential = its observed yearly total, source observed."""
    company = demo()
    result = fitted().result_
    market = company.tables["market"]
    totals, _ = observed_totals(market, as_of(company))
    joined = result.join(totals, on="customer_id", how="inner")
    assert joined.height == market["customer_id"].n_unique()
    assert (joined["source"] == "observed").all()
    expected = np.maximum(joined["observed_total"].to_numpy(), joined["own_amount"].to_numpy())
    assert joined["potential"].to_numpy() == pytest.approx(expected)


def test_estimated_potential_ranks_the_true_potential_of_the_demo_company() -> None:
    """On the shops without market data, estimated potential ranks the truth (Spearman > 0.8),
    the 80 % ranges cover roughly their nominal share, and potential >= our own sales."""
    company = demo()
    result = fitted().result_.join(
        company.truth["potential"].select("customer_id", pl.col("potential").alias("true")),
        on="customer_id",
    )
    estimated = result.filter(pl.col("source") == "estimated")
    assert estimated.height > 150
    rho = spearmanr(estimated["potential"], estimated["true"]).statistic
    assert rho > 0.8
    inside = (estimated["true"] >= estimated["potential_low"]) & (
        estimated["true"] <= estimated["potential_high"]
    )
    assert 0.65 <= inside.mean() <= 0.95  # type: ignore[operator]
    assert (result["potential"] >= result["own_amount"] - 1e-6).all()
    assert (result["potential_low"] <= result["potential"] + 1e-6).all()
    assert (result["potential"] <= result["potential_high"] + 1e-6).all()
    # the share of wallet is our sales over the potential (never above it: potential >= own)
    shares = result.filter(pl.col("potential") > 0)
    expected = (shares["own_amount"] / shares["potential"]).to_numpy()
    np.testing.assert_allclose(shares["share_of_wallet"].to_numpy(), expected, rtol=1e-9)


def test_cross_validation_is_reported_and_beats_the_baseline() -> None:
    """CV on the shops with market data: Spearman high, above own/median share, coverage sane."""
    cv = fitted().cv_
    assert cv is not None
    assert cv.n == demo().tables["market"]["customer_id"].n_unique()
    assert cv.spearman > 0.75
    assert cv.spearman > cv.baseline_spearman + 0.1
    assert 0.6 <= cv.coverage <= 0.95
    assert "Spearman" in cv.summary()


def test_works_with_a_single_attribute() -> None:
    """With only a channel column (no coordinates, no names), potential is still estimated."""
    company = demo(3)
    t = company.tables
    customers = t["customers"].select("customer_id", "channel")
    estimator = WalletEstimator(WalletParams(n_folds=3)).fit(
        customers, t["orders"], t["market"], as_of=as_of(company)
    )
    result = estimator.result_.join(
        company.truth["potential"].select("customer_id", pl.col("potential").alias("true")),
        on="customer_id",
    ).filter(pl.col("source") == "estimated")
    assert result["potential"].null_count() == 0
    assert spearmanr(result["potential"], result["true"]).statistic > 0.5


def test_without_market_data_the_fallback_says_so() -> None:
    """No market rows: buyers get own sales / default share, and the method says fallback."""
    company = demo()
    t = company.tables
    params = WalletParams(default_share=0.25)
    estimator = WalletEstimator(params).fit(
        t["customers"], t["orders"], None, as_of=as_of(company), products=t["products"]
    )
    assert estimator.cv_ is None
    assert estimator.method_.startswith("fallback")
    result = estimator.result_
    buyers = result.filter(pl.col("buyer"))
    assert buyers["potential"].to_numpy() == pytest.approx(buyers["own_amount"].to_numpy() / 0.25)
    assert result["potential"].null_count() == 0
    assert (result["source"] == "estimated").all()


@pytest.mark.shared_data
def test_iowa_slice_potential_ranks_stores_purchases(shared_data: Path, tmp_path: Path) -> None:
    """Iowa, one quarter of 2021, Luxco as "us", monthly market totals for 30 % of stores:
    the other stores' potential ranks their true purchases from all vendors (Spearman >= 0.75)
    and beats own sales / median share."""
    from salescope.data.adapters.iowa import from_iowa

    folder = shared_data / "iowa-liquor"
    cut = tmp_path / "iowa_2021q1.parquet"
    (
        pl.scan_parquet(folder / "iowa_sales_2012_2022.parquet")
        .filter(pl.col("date").is_between(dt.date(2021, 1, 1), dt.date(2021, 3, 31)))
        .sink_parquet(cut)
    )
    tables = from_iowa([cut, folder / "iowa_stores.csv", folder / "iowa_products.csv"]).tables
    orders, customers = tables["orders"], tables["customers"]
    products = tables["products"].with_columns(own=pl.col("vendor") == "LUXCO INC")
    ours = orders.join(products.filter("own").select("product_id"), on="product_id")
    monthly = orders.group_by(
        "customer_id", pl.col("order_date").dt.strftime("%Y-%m").alias("period")
    ).agg(pl.col("amount").sum().alias("total_amount"))
    rng = np.random.default_rng(5)
    stores = customers.select("customer_id").with_columns(
        given=pl.Series(rng.random(customers.height) < 0.3)
    )
    market = monthly.join(stores.filter("given"), on="customer_id").drop("given")
    estimator = WalletEstimator().fit(
        customers, ours, market, as_of=dt.date(2021, 4, 1), products=products
    )
    truth = (
        orders.group_by("customer_id")
        .agg((pl.col("amount").sum() * 4).alias("true"))
        .join(stores.filter(~pl.col("given")), on="customer_id")
    )
    result = estimator.result_.join(truth, on="customer_id")
    own = result["own_amount"]
    median_share = (
        estimator.result_.filter(pl.col("source") == "observed")
        .filter(pl.col("own_amount") > 0)
        .select((pl.col("own_amount") / pl.col("potential")).median())
        .item()
    )
    rho = spearmanr(result["potential"], result["true"]).statistic
    baseline = spearmanr(own / median_share, result["true"]).statistic
    assert rho >= 0.75
    assert rho > baseline
