"""History shapes of other businesses' exports, built from a canonical orders table."""

from __future__ import annotations

import datetime as dt

import polars as pl

from salescope.orders import shapes

D = dt.date(2024, 1, 1)


def orders(*rows: tuple[str, str, int, str, float]) -> pl.DataFrame:
    """Canonical lines from (customer, order, day offset, product, quantity)."""
    return pl.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "order_id": [r[1] for r in rows],
            "order_date": [D + dt.timedelta(days=r[2]) for r in rows],
            "product_id": [r[3] for r in rows],
            "quantity": [r[4] for r in rows],
        }
    )


HISTORY = orders(
    ("a", "a1", 0, "x", 2.0),
    ("a", "a1", 0, "y", 1.0),
    ("a", "a2", 10, "x", 3.0),
    ("a", "a3", 30, "z", 5.0),
    ("b", "b1", 3, "x", 1.0),
    ("c", "c1", 1, "y", 4.0),
    ("c", "c2", 50, "y", 6.0),
)


def test_hold_out_last_orders_keeps_every_other_order_as_history() -> None:
    """Each customer with two orders or more loses its last order to the truth; a customer
    with one order keeps it in the history and is no target."""
    history, held = shapes.hold_out_last_orders(HISTORY)
    assert sorted(held["order_id"].unique().to_list()) == ["a3", "c2"]
    assert sorted(history["order_id"].unique().to_list()) == ["a1", "a2", "b1", "c1"]
    assert history.height + held.height == HISTORY.height


def test_the_last_order_is_the_customers_last_day_with_every_order_id_of_it() -> None:
    """Two invoices of one day are one basket (as the engine codes orders): both are held
    out; a customer whose orders all fall on one day is no target."""
    lines = orders(
        ("a", "a1", 0, "x", 1.0),
        ("a", "a2", 7, "x", 2.0),
        ("a", "a3", 7, "y", 1.0),
        ("b", "b1", 2, "x", 1.0),
        ("b", "b2", 2, "y", 1.0),
    )
    history, held = shapes.hold_out_last_orders(lines)
    assert sorted(held["order_id"].to_list()) == ["a2", "a3"]
    assert sorted(history["order_id"].to_list()) == ["a1", "b1", "b2"]
    assert history.columns == held.columns == lines.columns


def test_the_first_order_after_a_cutoff_is_the_customers_first_day_there() -> None:
    """The calendar protocol's truth: every order id of each customer's first day on or after
    the cut-off, for customers with history only."""
    lines = orders(
        ("a", "a1", 0, "x", 1.0),
        ("a", "a2", 12, "x", 2.0),
        ("a", "a3", 12, "y", 1.0),
        ("a", "a4", 20, "z", 1.0),
        ("b", "b1", 15, "x", 1.0),
    )
    history, held = shapes.hold_out_first_orders_after(lines, D + dt.timedelta(days=10))
    assert sorted(held["order_id"].to_list()) == ["a2", "a3"]
    assert history["order_id"].to_list() == ["a1"]


def test_placeholder_dates_number_each_customers_orders_from_one_start() -> None:
    """Dates become the order's index x 7 days from the same day for every customer."""
    out = shapes.placeholder_dates(HISTORY, step_days=7, start=D)
    dates = out.group_by("order_id").agg(pl.col("order_date").first()).sort("order_id")
    assert dict(dates.rows()) == {
        "a1": D,
        "a2": D + dt.timedelta(days=7),
        "a3": D + dt.timedelta(days=14),
        "b1": D,
        "c1": D,
        "c2": D + dt.timedelta(days=7),
    }


def test_unit_quantities_and_weekly_orders() -> None:
    """Every quantity becomes 1; weekly orders sum a customer's lines of a week by product."""
    assert shapes.unit_quantities(HISTORY)["quantity"].unique().to_list() == [1.0]
    two = orders(("a", "o1", 0, "x", 2.0), ("a", "o2", 2, "x", 3.0), ("a", "o3", 9, "x", 1.0))
    weekly = shapes.weekly_orders(two).sort("order_date")
    assert weekly.select("order_date", "quantity").rows() == [(D, 5.0), (D + dt.timedelta(7), 1.0)]
    assert weekly["order_id"].n_unique() == 2


def test_thin_out_cuts_each_customer_after_its_second_order_at_the_latest() -> None:
    """Every customer keeps at least its first two orders and its orders stay a prefix."""
    many = orders(*[("a", f"a{i}", i * 7, "x", 1.0) for i in range(20)])
    kept = shapes.thin_out(pl.concat([many, HISTORY.filter(pl.col("customer_id") != "a")]))
    mine = kept.filter(pl.col("customer_id") == "a").sort("order_date")
    n = mine.height
    assert 2 <= n <= 20
    assert mine["order_id"].to_list() == [f"a{i}" for i in range(n)]


def test_few_orders_leaves_two_or_three_orders_to_a_share_of_customers() -> None:
    """About half the customers keep only their last 2-3 orders, the others all of theirs."""
    many = pl.concat(
        [orders(*[(f"c{k}", f"c{k}-{i}", i, "x", 1.0) for i in range(10)]) for k in range(40)]
    )
    out = shapes.few_orders(many, share=0.5, seed=1)
    per = out.group_by("customer_id").len()["len"]
    short = int((per <= 3).sum())
    assert 10 <= short <= 30
    assert set(per.to_list()) <= {2, 3, 10}


def test_wide_catalogue_sells_variants_per_customer_group_among_unsold_products() -> None:
    """Each line becomes its customer's group variant of the product (one group per
    customer, the same for all its lines); the products table holds every variant and is
    filled up to the size with products nobody buys."""
    products = pl.DataFrame({"product_id": ["x", "y", "z"], "category": ["c1", "c1", "c2"]})
    lines, catalogue = shapes.wide_catalogue(HISTORY, products, variants=4, size=50)
    assert catalogue.height == 50
    assert catalogue["product_id"].is_unique().all()
    assert lines.height == HISTORY.height
    assert lines.join(catalogue, on="product_id", how="anti").height == 0
    groups = lines.select(
        "customer_id", pl.col("product_id").str.split("-").list.last().alias("g")
    ).unique()
    assert groups["customer_id"].is_unique().all()
    base = lines["product_id"].str.split("-").list.first()
    assert (base == HISTORY["product_id"]).all()
    assert catalogue.filter(pl.col("product_id").str.starts_with("X")).height == 50 - 12
