"""The demo company: canonical tables, determinism, and a history consistent with its truth."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from salescope.data.demo import DemoCompany, DemoConfig, generate_demo
from salescope.data.io import read_table, validate_frame
from salescope.domain.schemas import TABLES


@pytest.fixture(scope="module")
def demo() -> DemoCompany:
    return generate_demo(DemoConfig.small())


def _served(demo: DemoCompany) -> pl.DataFrame:
    return demo.tables["customers"].filter(pl.col("status") == "served")


def test_every_table_passes_validation_unchanged(demo: DemoCompany) -> None:
    """Each canonical table passes validate_frame and comes back identical (columns, types)."""
    assert set(demo.tables) == set(TABLES)
    for name, frame in demo.tables.items():
        assert frame.height > 0, name
        schema = TABLES[name]
        assert frame.columns[: len(schema.names)] == list(schema.names), name
        validated = validate_frame(frame, schema, file=name)
        assert validated.equals(frame), name


def test_written_tables_read_back(demo: DemoCompany, tmp_path: Path) -> None:
    """Tables written as Parquet are read back by read_table with every row."""
    paths = demo.write(tmp_path, fmt="parquet")
    for name, path in paths.items():
        assert read_table(path, TABLES[name]).height == demo.tables[name].height


def test_same_seed_gives_identical_frames() -> None:
    """Two generations with the same seed give identical tables and truth."""
    first, second = generate_demo(DemoConfig.small()), generate_demo(DemoConfig.small())
    for name in first.tables:
        assert first.tables[name].equals(second.tables[name]), name
    for name in first.truth:
        assert first.truth[name].equals(second.truth[name]), name


def test_different_seed_gives_different_frames(demo: DemoCompany) -> None:
    """Another seed gives another company."""
    other = generate_demo(DemoConfig.small(seed=8))
    for name in ("orders", "customers", "promotions"):
        assert not other.tables[name].equals(demo.tables[name]), name


def test_served_customers_order_and_prospects_do_not(demo: DemoCompany) -> None:
    """Every served customer has orders and a rep; prospects have neither."""
    customers = demo.tables["customers"]
    ordering = set(demo.tables["orders"]["customer_id"].unique())
    served = _served(demo)
    prospects = customers.filter(pl.col("status") == "prospect")
    assert served.height > 0
    assert prospects.height > 0
    assert set(served["customer_id"]) == ordering
    assert served["rep_id"].null_count() == 0
    assert served["interaction_mode"].null_count() == 0
    assert prospects["rep_id"].null_count() == prospects.height
    assert ordering <= set(customers["customer_id"])


def test_served_share_is_about_the_configured_share(demo: DemoCompany) -> None:
    """The served share of the universe is near served_share."""
    share = _served(demo).height / demo.tables["customers"].height
    assert abs(share - demo.config.served_share) < 0.1


def test_order_lines_carry_the_customers_channel(demo: DemoCompany) -> None:
    """An order line's channel is the store type of its customer."""
    lines = demo.tables["orders"].join(
        demo.tables["customers"].select("customer_id", "channel"), on="customer_id"
    )
    assert (lines["channel"] == lines["channel_right"]).all()


def test_order_lines_are_own_products_available_at_their_date(demo: DemoCompany) -> None:
    """Every line is an own product launched by its date and not yet delisted."""
    lines = demo.tables["orders"].join(
        demo.tables["products"].select("product_id", "own", "launch_date"),
        on="product_id",
        how="left",
    )
    lines = lines.join(
        demo.truth["products"].select("product_id", "delisted_on"), on="product_id", how="left"
    )
    assert lines["own"].null_count() == 0
    assert lines["own"].all()
    assert (lines["launch_date"] <= lines["order_date"]).all()
    delisted = lines.filter(pl.col("delisted_on").is_not_null())
    assert (delisted["order_date"] < delisted["delisted_on"]).all()


def test_inactive_products_are_delisted_or_competitors(demo: DemoCompany) -> None:
    """An own product is inactive exactly when the truth gives it a delisting date."""
    products = demo.tables["products"].join(demo.truth["products"], on=["product_id", "own"])
    own = products.filter(pl.col("own"))
    assert (own["active"] == own["delisted_on"].is_null()).all()


def test_lines_have_positive_quantities_and_consistent_amounts(demo: DemoCompany) -> None:
    """Quantities are positive; a line without promotion costs quantity × unit price."""
    orders = demo.tables["orders"]
    assert (orders["quantity"] > 0).all()
    assert orders["unit_price"].null_count() == 0
    plain = orders.filter(pl.col("promotion_id").is_null())
    gap = (plain["amount"] - plain["quantity"] * plain["unit_price"]).abs()
    assert (gap <= 0.01).all()
    promoted = orders.filter(pl.col("promotion_id").is_not_null())
    assert (promoted["amount"] <= promoted["quantity"] * promoted["unit_price"] + 0.01).all()


def test_orders_have_realistic_lines_and_one_date(demo: DemoCompany) -> None:
    """Orders hold about 5-25 lines, each product at most once, on a single date."""
    per_order = (
        demo.tables["orders"]
        .group_by("order_id")
        .agg(
            pl.len().alias("lines"),
            pl.col("product_id").n_unique().alias("products"),
            pl.col("order_date").n_unique().alias("dates"),
        )
    )
    assert (per_order["lines"] == per_order["products"]).all()
    assert (per_order["dates"] == 1).all()
    assert 5 <= per_order["lines"].median() <= 25  # type: ignore[operator]


def test_promotions_on_lines_exist_cover_the_date_and_apply(demo: DemoCompany) -> None:
    """A line's promotion exists, runs on its date and covers its product, segment, region."""
    lines = demo.tables["orders"].filter(pl.col("promotion_id").is_not_null())
    assert lines.height > 0
    joined = (
        lines.join(
            demo.tables["promotions"].rename({"product_id": "promo_product"}),
            on="promotion_id",
            how="left",
        )
        .join(demo.tables["products"].select("product_id", "category"), on="product_id")
        .join(
            demo.tables["customers"].select("customer_id", "channel", "region"),
            on="customer_id",
            suffix="_customer",
        )
    )
    assert joined["start_date"].null_count() == 0
    assert joined["order_date"].is_between(joined["start_date"], joined["end_date"]).all()
    product_ok = joined["promo_product"].is_null() | (
        joined["promo_product"] == joined["product_id"]
    )
    category_ok = joined["category"] == joined["category_right"]
    segment_ok = joined["segment"].is_null() | (joined["segment"] == joined["channel"])
    region_ok = joined["region"].is_null() | (joined["region"] == joined["region_customer"])
    assert (product_ok & category_ok & segment_ok & region_ok).all()


def test_promotion_budgets_cover_their_uses(demo: DemoCompany) -> None:
    """No promotion was used more often than its budget allows."""
    uses = demo.tables["orders"].group_by("promotion_id").len().drop_nulls()
    budgets = uses.join(demo.tables["promotions"], on="promotion_id")
    assert (budgets["len"] <= budgets["budget_uses"]).all()


def test_market_rows_cover_about_the_configured_share(demo: DemoCompany) -> None:
    """Market observations exist for about market_share of all shops, served and prospects."""
    market = demo.tables["market"]
    customers = demo.tables["customers"].select("customer_id", "status")
    observed = market.select("customer_id").unique().join(customers, on="customer_id")
    share = observed.height / customers.height
    assert abs(share - demo.config.market_share) < 0.08
    assert set(observed["status"]) == {"served", "prospect"}
    with_status = market.join(customers, on="customer_id")
    prospects = with_status.filter(pl.col("status") == "prospect")
    assert prospects["own_amount"].null_count() == prospects.height
    served = with_status.filter(pl.col("status") == "served")
    assert served["own_amount"].null_count() == 0


def test_market_own_amount_is_our_real_sales(demo: DemoCompany) -> None:
    """A market row's own_amount equals our order amounts in its period."""
    market = demo.tables["market"].filter(pl.col("own_amount").is_not_null())
    sales = (
        demo.tables["orders"]
        .with_columns(pl.col("order_date").dt.strftime("%Y-%m").alias("month"))
        .with_columns(pl.col("order_date").dt.strftime("%Y").alias("year"))
    )
    by_month = sales.group_by("customer_id", pl.col("month").alias("period")).agg(
        pl.col("amount").sum()
    )
    by_year = sales.group_by("customer_id", pl.col("year").alias("period")).agg(
        pl.col("amount").sum()
    )
    both = market.join(pl.concat([by_month, by_year]), on=["customer_id", "period"], how="left")
    gap = (both["own_amount"] - both["amount"].fill_null(0.0)).abs()
    assert (gap <= 0.05).all()


def test_visits_are_made_by_the_customers_rep(demo: DemoCompany) -> None:
    """Visits are of served customers, by their own rep, inside the history."""
    visits = demo.tables["visits"].join(
        _served(demo).select("customer_id", pl.col("rep_id").alias("own_rep")),
        on="customer_id",
        how="left",
    )
    assert visits["own_rep"].null_count() == 0
    assert (visits["rep_id"] == visits["own_rep"]).all()
    assert visits["visit_date"].max() <= demo.config.end  # type: ignore[operator]


def test_reps_cover_every_region(demo: DemoCompany) -> None:
    """Every region has a field rep, and customers belong to a rep of their region."""
    reps = demo.tables["reps"]
    regions = set(demo.tables["customers"]["region"])
    assert set(reps.filter(pl.col("role") == "rep")["region"]) == regions
    served = _served(demo).join(reps.select("rep_id", "region"), on="rep_id", suffix="_rep")
    assert (served["region"] == served["region_rep"]).all()


def test_potential_truth_covers_the_universe(demo: DemoCompany) -> None:
    """Potential and share of wallet are given for every shop; prospects have no own share."""
    potential = demo.truth["potential"]
    customers = demo.tables["customers"]
    assert potential.height == customers.height
    assert set(potential["customer_id"]) == set(customers["customer_id"])
    assert (potential["potential"] > 0).all()
    assert potential["share_of_wallet"].is_between(0.0, 1.0).all()
    prospects = potential.filter(pl.col("status") == "prospect")
    assert (prospects["share_of_wallet"] == 0).all()


def test_adoption_truth_is_served_customers_times_unbought_own_products(
    demo: DemoCompany,
) -> None:
    """Adoption pairs are served customers × available own products they never bought."""
    adoption = demo.truth["adoption"]
    assert adoption.height > 0
    assert adoption["propensity"].is_between(0.0, 1.0).all()
    served = set(_served(demo)["customer_id"])
    assert set(adoption["customer_id"]) <= served
    products = demo.tables["products"]
    own_active = set(products.filter(pl.col("own") & pl.col("active"))["product_id"])
    assert set(adoption["product_id"]) <= own_active
    bought = demo.tables["orders"].select("customer_id", "product_id").unique()
    assert adoption.join(bought, on=["customer_id", "product_id"]).height == 0
    assert adoption.select("customer_id", "product_id").is_unique().all()


def test_other_truth_tables_cover_what_they_describe(demo: DemoCompany) -> None:
    """Promotion lifts, customer parameters and repertoires cover their tables."""
    truth, tables = demo.truth, demo.tables
    lift = truth["promotion_lift"]
    assert set(lift["promotion_id"]) == set(tables["promotions"]["promotion_id"])
    assert (lift["lift"] >= 1.0).all()
    params = truth["customer_params"]
    assert set(params["customer_id"]) == set(tables["customers"]["customer_id"])
    served = params.filter(pl.col("status") == "served")
    assert served["order_interval_days"].null_count() == 0
    bought = tables["orders"].select("customer_id", "product_id").unique()
    held = truth["repertoire"].select("customer_id", "product_id").unique()
    assert bought.join(held, on=["customer_id", "product_id"], how="anti").height == 0
    future = truth["future_orders"]
    assert future.height > 0
    assert (future["order_date"] > demo.config.end).all()
    assert validate_frame(future, TABLES["orders"], file="future_orders").equals(future)


def test_history_follows_the_true_inclusion_probabilities(demo: DemoCompany) -> None:
    """Products a customer buys more often in the history have a higher true inclusion."""
    orders = demo.tables["orders"]
    n_orders = orders.group_by("customer_id").agg(pl.col("order_id").n_unique().alias("n"))
    bought = orders.group_by("customer_id", "product_id").len()
    held = (
        demo.truth["repertoire"]
        .filter(pl.col("adopted_on").is_null() & pl.col("dropped_on").is_null())
        .join(bought, on=["customer_id", "product_id"], how="left")
        .join(n_orders, on="customer_id")
        .filter(pl.col("n") >= 10)
        .with_columns((pl.col("len").fill_null(0) / pl.col("n")).alias("frequency"))
    )
    corr = held.select(pl.corr("frequency", "inclusion_probability")).item()
    assert corr > 0.7


def test_summary_reports_the_headline_figures(demo: DemoCompany) -> None:
    """The summary counts match the tables."""
    summary = demo.summary()
    assert summary["shops"] == demo.tables["customers"].height
    assert summary["served"] + summary["prospects"] == summary["shops"]  # type: ignore[operator]
    assert summary["order_lines"] == demo.tables["orders"].height
    assert summary["reps"] + summary["merchandisers"] == demo.tables["reps"].height  # type: ignore[operator]
    assert summary["first_order"] >= str(demo.config.start)  # type: ignore[operator]


def test_progress_is_reported_up_to_completion() -> None:
    """The progress callback receives stages with fractions rising to 1."""
    seen: list[tuple[str, float]] = []
    generate_demo(DemoConfig.small(), progress=lambda stage, f: seen.append((stage, f)))
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions)
    assert seen[-1] == ("done", 1.0)


def test_nonsense_configuration_is_refused() -> None:
    """A configuration that cannot make a company raises ValueError naming the problem."""
    with pytest.raises(ValueError, match="n_reps"):
        DemoConfig(n_regions=5, n_reps=3)
    with pytest.raises(ValueError, match="n_categories"):
        DemoConfig(n_categories=9)
