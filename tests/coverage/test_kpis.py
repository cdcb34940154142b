"""KPIs per customer and period on a hand-made history."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from salescope.coverage.kpis import KPIParams, compute_kpis, kpis_by_period, period_ends
from salescope.coverage.today import todays_service
from salescope.domain.schemas import CUSTOMERS, ORDERS

AS_OF = dt.date(2024, 7, 1)


def _orders() -> pl.DataFrame:
    rows = [
        # customer, order, date, product, quantity, amount
        ("A", "o1", "2024-01-10", "p1", 2.0, 20.0),
        ("A", "o1", "2024-01-10", "p2", 1.0, 10.0),
        ("A", "o1", "2024-01-10", "x9", 5.0, 99.0),  # a competitor's product: not ours
        ("A", "o2", "2024-02-10", "p1", 3.0, 30.0),
        ("A", "o3", "2024-04-10", "p3", 1.0, 40.0),
        ("C", "o4", "2024-06-01", "p3", 4.0, None),  # no amount: list price 5 x 4
        ("A", "o9", "2024-07-02", "p1", 9.0, 90.0),  # after as_of: ignored
    ]
    frame = pl.DataFrame(
        rows,
        schema=["customer_id", "order_id", "order_date", "product_id", "quantity", "amount"],
        orient="row",
    )
    return frame.with_columns(pl.col("order_date").str.to_date())


PRODUCTS = pl.DataFrame(
    {
        "product_id": ["p1", "p2", "p3", "x9"],
        "category": ["water", "water", "spirits", "water"],
        "own": [True, True, True, False],
        "unit_price": [10.0, 10.0, 5.0, 20.0],
    }
)
CUSTOMERS_FRAME = pl.DataFrame(
    {
        "customer_id": ["A", "B", "C"],
        "rep_id": ["R1", None, "R1"],
        "latitude": [50.0, 50.1, 50.0],
        "longitude": [14.0, 14.0, 14.0],
        "interaction_mode": ["field", None, "digital"],
        "visits_per_month": [2.0, None, 0.2],
    }
)
REPS_FRAME = pl.DataFrame(
    {"rep_id": ["R1"], "latitude": [50.0], "longitude": [14.0], "capacity_minutes": [6000.0]}
)
VISITS_FRAME = pl.DataFrame(
    {
        "customer_id": ["A", "A", "A"],
        "visit_date": [dt.date(2024, 2, 1), dt.date(2024, 5, 1), dt.date(2022, 1, 1)],
        "duration_minutes": [30.0, 50.0, 45.0],
        "mode": ["field", "field", "field"],
    }
)


def _kpis(**options: object) -> dict[str, dict[str, object]]:
    frame = compute_kpis(
        _orders(),
        CUSTOMERS_FRAME,
        as_of=AS_OF,
        products=PRODUCTS,
        reps=REPS_FRAME,
        **options,  # type: ignore[arg-type]
    )
    return {row["customer_id"]: row for row in frame.iter_rows(named=True)}


def test_value_rhythm_and_breadth_of_a_hand_made_history() -> None:
    """Revenue, volume, orders, gaps, regularity, breadth and recency match a hand count."""
    a = _kpis()["A"]
    assert a["revenue_12m"] == pytest.approx(100.0)  # the competitor's line and later order out
    assert a["volume_12m"] == pytest.approx(7.0)
    assert a["orders_12m"] == 3
    assert a["products_12m"] == 3
    assert a["categories_12m"] == 2
    assert a["avg_order_value"] == pytest.approx(100.0 / 3)
    assert a["mean_gap_days"] == pytest.approx(45.5)  # 31 and 60 days
    cv = (((31 - 45.5) ** 2 + (60 - 45.5) ** 2) / 1) ** 0.5 / 45.5
    assert a["regularity"] == pytest.approx(1 / (1 + cv))
    assert a["days_since_last_order"] == 82
    assert a["tenure_days"] == (AS_OF - dt.date(2024, 1, 10)).days
    # the history covers 173 days of the window: 3 orders in 173/30.44 months
    assert a["orders_per_month"] == pytest.approx(3 / (173 / 30.44))
    assert a["revenue_annualised"] == pytest.approx(100.0 * 365.25 / 173)
    # halves of the covered window split on 2024-04-06: 60 before, 40 after
    assert a["trend"] == pytest.approx(40 / 60 - 1)


def test_invoices_of_one_day_are_one_order() -> None:
    """A second invoice the same day (split by the warehouse, a top-up) adds revenue, not an
    order: the rhythm and the order value are a shop's days, as the next-order engine's."""
    split = pl.concat(
        [
            _orders(),
            pl.DataFrame(
                {
                    "customer_id": ["A"],
                    "order_id": ["o2b"],
                    "order_date": [dt.date(2024, 2, 10)],
                    "product_id": ["p2"],
                    "quantity": [1.0],
                    "amount": [10.0],
                }
            ),
        ]
    )
    frame = compute_kpis(split, CUSTOMERS_FRAME, as_of=AS_OF, products=PRODUCTS, reps=REPS_FRAME)
    a = frame.filter(pl.col("customer_id") == "A").row(0, named=True)
    assert a["orders_12m"] == 3
    assert a["revenue_12m"] == pytest.approx(110.0)
    assert a["avg_order_value"] == pytest.approx(110.0 / 3)
    assert a["orders_per_month"] == pytest.approx(3 / (173 / 30.44))


def test_line_value_falls_back_on_the_list_price() -> None:
    """A line without amount is valued at quantity x the product's list price."""
    assert _kpis()["C"]["revenue_12m"] == pytest.approx(20.0)


def test_a_prospect_has_zero_value_and_no_dates() -> None:
    """A shop without orders gets zero revenue and orders, and empty recency."""
    b = _kpis()["B"]
    assert b["revenue_12m"] == 0.0
    assert b["orders_12m"] == 0
    assert b["days_since_last_order"] is None
    assert b["trend"] is None


def test_cost_to_serve_from_declared_visits_and_from_the_visit_log() -> None:
    """Visits per month and cost come from visits_per_month × minutes, or from the visit log."""
    params = KPIParams(cost_per_minute=1.0, travel_share=0.5, travel_speed_kmh=60.0)
    declared = _kpis(params=params)
    a = declared["A"]
    assert a["visits_per_month"] == pytest.approx(2.0)
    assert a["visit_minutes_per_month"] == pytest.approx(80.0)  # 2 × 40 min (field)
    assert a["distance_km"] == pytest.approx(0.0, abs=1e-6)
    assert a["cost_to_serve_12m"] == pytest.approx(12 * 80.0)
    logged = _kpis(params=params, visits=VISITS_FRAME)["A"]
    months = 173 / 30.44
    assert logged["visits_per_month"] == pytest.approx(2 / months)  # the 2022 visit is out
    assert logged["visit_minutes_per_month"] == pytest.approx(80.0 / months)


def test_distance_to_the_rep_or_the_nearest_rep() -> None:
    """A shop 0.1° north of its rep is about 11.1 km away; a prospect gets its nearest rep."""
    b = _kpis()["B"]
    assert b["distance_km"] == pytest.approx(11.12, abs=0.05)
    assert b["nearest_rep_id"] == "R1"


def test_share_of_wallet_and_gap_from_a_wallet() -> None:
    """With a potential, share of wallet = yearly revenue / potential and gap the rest."""
    wallet = pl.DataFrame(
        {
            "customer_id": ["A", "B"],
            "potential": [400.0, 1000.0],
            "potential_low": [300.0, 500.0],
            "potential_high": [500.0, 2000.0],
        }
    )
    kpis = _kpis(wallet=wallet)
    yearly = 100.0 * 365.25 / 173
    assert kpis["A"]["share_of_wallet"] == pytest.approx(yearly / 400.0)
    assert kpis["A"]["gap"] == pytest.approx(400.0 - yearly)
    assert kpis["B"]["share_of_wallet"] == 0.0
    assert kpis["C"]["potential"] is None


def test_periods_are_quarters_up_to_the_analysis_date() -> None:
    """Quarter ends after a month of history, then the analysis date itself."""
    assert period_ends(dt.date(2024, 1, 10), dt.date(2024, 8, 15)) == [
        ("2024Q1", dt.date(2024, 4, 1)),
        ("2024Q2", dt.date(2024, 7, 1)),
        ("2024Q3", dt.date(2024, 8, 15)),
    ]


def test_kpis_by_period_stack_one_row_per_customer_and_period() -> None:
    """Each period holds every customer once, computed at its own end date."""
    frame = kpis_by_period(
        _orders(), CUSTOMERS_FRAME, periods=period_ends(dt.date(2024, 1, 10), AS_OF)
    )
    assert frame.group_by("period").len()["len"].to_list() == [3, 3]
    q1 = frame.filter((pl.col("period") == "2024Q1") & (pl.col("customer_id") == "A"))
    assert q1["orders_12m"].item() == 2  # the April order is after the first quarter


def test_schemas_of_the_inputs_are_the_canonical_ones() -> None:
    """The hand-made frames use canonical column names (a guard for the fixtures above)."""
    assert set(_orders().columns) <= set(ORDERS.names)
    assert set(CUSTOMERS_FRAME.columns) <= set(CUSTOMERS.names)


def test_todays_visits_are_inferred_from_the_days_a_shop_orders() -> None:
    """A shop ordering monthly in two invoices orders about once a month, so a rep visits it
    once a month when nothing says otherwise — not twice."""
    dates = [dt.date(2023, m, 1) for m in range(7, 13)] + [dt.date(2024, m, 1) for m in range(1, 7)]
    lines = pl.DataFrame(
        {
            "customer_id": ["A"] * 2 * len(dates),
            "order_id": [f"{d}-{i}" for d in dates for i in (1, 2)],
            "order_date": [d for d in dates for _ in (1, 2)],
        }
    )
    service = todays_service(
        pl.DataFrame({"customer_id": ["A"], "rep_id": ["R1"]}),
        pl.Series([True]),
        lines,
        REPS_FRAME,
        as_of=AS_OF,
    )
    row = service.row(0, named=True)
    assert (row["current_mode"], row["service_source"]) == ("field", "inferred")
    assert row["current_visits_per_month"] == 1.0
