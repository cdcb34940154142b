"""Novelties of the optimal order: context, objectives, gating, merging, development and
extension candidates on tiny hand-made frames, then the whole proposal on the demo company."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import replace
from typing import Any

import numpy as np
import polars as pl
import pytest

from salescope.data.demo import DemoCompany
from salescope.domain.statuses import NOVELTY_KINDS
from salescope.orders.builder import OUTPUT_COLUMNS
from salescope.orders.gating import amount, extension_reason, gate, merge_novelties
from salescope.orders.history import Codes
from salescope.orders.model import NextOrderModel
from salescope.orders.novelties import (
    CONTEXT_FEATURES,
    NoveltyParams,
    build_context,
    context_evidence,
    development_table,
    extra_candidates,
    objective_pairs,
    pair_context,
    promote_with,
    similar_share,
)
from salescope.orders.offers import build_lines
from salescope.orders.promotions import PromotionModel, budget_use
from salescope.orders.shortlist import nothing_shown

CUTOFF = dt.date(2024, 7, 1)
KEY = ["customer_id", "order_date"]


# -- tiny frames ------------------------------------------------------------------------------
def codes(n_customers: int, n_products: int) -> Codes:
    """Customers ``C0..`` and products ``P0..`` coded in order."""
    return Codes(
        pl.DataFrame(
            {
                "customer_id": [f"C{i}" for i in range(n_customers)],
                "c": pl.Series(range(n_customers), dtype=pl.UInt32),
            }
        ),
        pl.DataFrame(
            {
                "product_id": [f"P{i}" for i in range(n_products)],
                "p": pl.Series(range(n_products), dtype=pl.UInt32),
            }
        ),
    )


def window(*rows: tuple[int, int, dt.date, float]) -> pl.DataFrame:
    """Coded order lines ``c, o, d, p, q`` from (customer, product, date, quantity); one order per
    customer and date."""
    frame = pl.DataFrame(
        {
            "c": [r[0] for r in rows],
            "p": [r[1] for r in rows],
            "d": [r[2] for r in rows],
            "q": [r[3] for r in rows],
        },
        schema={"c": pl.UInt32, "p": pl.UInt32, "d": pl.Date, "q": pl.Float64},
    )
    orders = (
        frame.select("c", "d")
        .unique()
        .sort("c", "d")
        .with_row_index("o")
        .with_columns(pl.col("o").cast(pl.UInt32))
    )
    return frame.join(orders, on=["c", "d"]).select("c", "o", "d", "p", "q").sort("c", "d", "p")


def segments(*names: str | None) -> pl.DataFrame:
    return pl.DataFrame(
        {"customer_id": [f"C{i}" for i in range(len(names))], "segment": list(names)},
        schema={"customer_id": pl.String, "segment": pl.String},
    )


def pairs_of(frame: pl.DataFrame, a: str = "c", b: str = "p") -> set[tuple[Any, Any]]:
    return set(frame.select(a, b).iter_rows())


# -- build_context ----------------------------------------------------------------------------
def test_context_segment_falls_back_to_channel_then_to_one_segment() -> None:
    """A customer without a segment takes its channel; without either (or absent from the
    table) it is in the single segment ``all``; a table without a segment column uses the
    channel for everyone."""
    customers = pl.DataFrame(
        {
            "customer_id": ["C0", "C1", "C2", "ZZ"],
            "segment": ["bar", None, None, "kiosk"],
            "channel": ["horeca", "kiosk", None, "kiosk"],
            "region": ["North", "South", None, "North"],
        }
    )
    ctx = build_context(codes(4, 1), customers, None)
    assert ctx.customers["segment"].to_list() == ["bar", "kiosk", "all", "all"]
    assert ctx.customers["channel"].to_list() == ["horeca", "kiosk", None, None]
    assert ctx.customers["region"].to_list() == ["North", "South", None, None]
    assert ctx.customers["c"].to_list() == [0, 1, 2, 3]

    no_segment = build_context(codes(3, 1), customers.drop("segment"), None)
    assert no_segment.customers["segment"].to_list() == ["horeca", "kiosk", "all"]


def test_context_without_tables_every_product_is_offerable_at_margin_one() -> None:
    """Without customers and products tables every customer is in one segment, every product is
    offerable at margin 1, and there is no geography."""
    ctx = build_context(codes(3, 4), None, None)
    assert ctx.customers["segment"].to_list() == ["all"] * 3
    assert ctx.customers["region"].null_count() == 3
    assert ctx.products["offerable"].to_list() == [True] * 4
    assert ctx.products["margin"].to_list() == [1.0] * 4
    assert ctx.products["category"].null_count() == 4
    assert ctx.geo is None


def test_context_products_offerable_and_margins() -> None:
    """Offerable = own and active (a null or a missing product counts as offerable); margin =
    price - cost, the price without a cost, 1 without a price, never negative."""
    products = pl.DataFrame(
        {
            "product_id": ["P0", "P1", "P2", "P3", "P4"],
            "own": [True, False, True, None, True],
            "active": [True, True, False, None, True],
            "unit_price": [10.0, 5.0, 4.0, 3.0, 2.0],
            "unit_cost": [6.0, 1.0, None, None, 2.5],
            "category": ["drinks", "drinks", "snacks", None, "snacks"],
            "launch_date": [dt.date(2024, 1, 2), None, None, None, None],
        }
    )
    ctx = build_context(codes(1, 6), None, products)
    assert ctx.products["offerable"].to_list() == [True, False, False, True, True, True]
    assert ctx.products["margin"].to_list() == [4.0, 4.0, 4.0, 3.0, 0.0, 1.0]
    assert ctx.products["category"].to_list() == [
        "drinks",
        "drinks",
        "snacks",
        None,
        "snacks",
        None,
    ]
    assert ctx.products["launch_date"][0] == dt.date(2024, 1, 2)

    only_ids = build_context(codes(1, 2), None, pl.DataFrame({"product_id": ["P0", "P1"]}))
    assert only_ids.products["offerable"].to_list() == [True, True]
    assert only_ids.products["margin"].to_list() == [1.0, 1.0]


def test_geo_matrix_needs_coordinates_and_links_nearest_customers() -> None:
    """Nearby shops need coordinates, and more located customers than neighbours wanted; then
    each located customer is linked to its nearest located customers, weights summing to 1."""
    located = pl.DataFrame(
        {
            "customer_id": ["C0", "C1", "C2", "C3", "C4"],
            "latitude": [0.0, 0.0, 0.0, 0.0, None],
            "longitude": [0.0, 1.0, 10.0, 10.5, None],
        }
    )
    assert build_context(codes(5, 1), located.drop("latitude", "longitude"), None).geo is None
    # no more located customers than neighbours wanted: no nearby evidence
    assert build_context(codes(5, 1), located, None, geo_neighbours=4).geo is None

    geo = build_context(codes(5, 1), located, None, geo_neighbours=1).geo
    assert geo is not None
    assert geo.shape == (5, 5)
    dense = geo.toarray()
    nearest = {i: int(np.argmax(dense[i])) for i in range(4)}
    assert nearest == {0: 1, 1: 0, 2: 3, 3: 2}
    np.testing.assert_allclose(dense.sum(axis=1), [1.0, 1.0, 1.0, 1.0, 0.0])


# -- objective_pairs --------------------------------------------------------------------------
OBJ_CUSTOMERS = pl.DataFrame(
    {
        "customer_id": ["C0", "C1", "C2"],
        "segment": ["bar", "grocery", None],
        "region": ["North", "South", None],
        "channel": ["horeca", "retail", None],
    }
)


def objectives(*rows: dict[str, Any]) -> pl.DataFrame:
    defaults: dict[str, Any] = {
        "weight": 1.0,
        "segment": None,
        "region": None,
        "channel": None,
        "start_date": None,
        "end_date": None,
    }
    return pl.DataFrame(
        [{**defaults, **row} for row in rows],
        schema={
            "product_id": pl.String,
            "weight": pl.Float64,
            "segment": pl.String,
            "region": pl.String,
            "channel": pl.String,
            "start_date": pl.Date,
            "end_date": pl.Date,
        },
        orient="row",
    )


def targets_on(*days: dt.date, customers: int = 3) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "c": pl.Series([c for c in range(customers) for _ in days], dtype=pl.UInt32),
            "t": [d for _ in range(customers) for d in days],
        }
    )


def test_objectives_apply_inclusively_between_their_dates() -> None:
    """An objective applies on its start and end dates and between them (an open end never ends),
    not the day before or after."""
    cd = codes(3, 2)
    ctx = build_context(cd, OBJ_CUSTOMERS, None)
    june = objectives(
        {"product_id": "P0", "start_date": dt.date(2024, 6, 1), "end_date": dt.date(2024, 6, 30)},
        {"product_id": "P1", "start_date": dt.date(2024, 6, 15)},  # open-ended
    )
    days = (dt.date(2024, 5, 31), dt.date(2024, 6, 1), dt.date(2024, 6, 30), dt.date(2024, 7, 1))
    out = objective_pairs(june, targets_on(*days, customers=1), ctx, cd)
    assert sorted(out.select("t", "p").iter_rows()) == [
        (dt.date(2024, 6, 1), 0),
        (dt.date(2024, 6, 30), 0),
        (dt.date(2024, 6, 30), 1),
        (dt.date(2024, 7, 1), 1),
    ]


def test_objectives_match_segment_region_and_channel_or_apply_to_all() -> None:
    """Each restriction must match the customer's value (a missing value matches nothing);
    an empty restriction applies to everyone; several objectives on a product: the largest
    weight."""
    cd = codes(3, 6)
    ctx = build_context(cd, OBJ_CUSTOMERS, None)
    table = objectives(
        {"product_id": "P0", "segment": "bar", "weight": 3.0},
        {"product_id": "P1", "region": "South"},
        {"product_id": "P2"},
        {"product_id": "P3", "segment": "grocery", "channel": "retail"},
        {"product_id": "P3", "segment": "grocery", "channel": "horeca"},
        {"product_id": "P4", "region": "North"},
        {"product_id": "P5", "weight": 2.0},
        {"product_id": "P5", "segment": "bar", "weight": 5.0},
        {"product_id": "UNKNOWN"},
    )
    out = objective_pairs(table, targets_on(CUTOFF), ctx, cd)
    assert out.columns == ["c", "t", "p", "weight", "objective_scope"]
    assert out.select("c", "p").is_duplicated().sum() == 0
    assert pairs_of(out) == {
        (0, 0),
        (1, 1),
        (0, 2),
        (1, 2),
        (2, 2),
        (1, 3),
        (0, 4),
        (0, 5),
        (1, 5),
        (2, 5),
    }
    weight = {(c, p): w for c, p, w in out.select("c", "p", "weight").iter_rows()}
    assert weight[(0, 0)] == 3.0
    assert weight[(0, 5)] == 5.0  # the bar objective outweighs the general one
    assert weight[(1, 5)] == 2.0
    scope = {(c, p): s for c, p, s in out.select("c", "p", "objective_scope").iter_rows()}
    assert scope[(0, 0)] == "bar"
    assert scope[(1, 1)] == "South"
    assert scope[(0, 2)] is None


def test_no_objectives_no_pairs() -> None:
    """No objectives table, or an empty one, gives no objective pairs, with the columns still
    there."""
    cd = codes(3, 1)
    ctx = build_context(cd, OBJ_CUSTOMERS, None)
    for table in (None, objectives().clear()):
        out = objective_pairs(table, targets_on(CUTOFF), ctx, cd)
        assert out.height == 0
        assert out.columns == ["c", "t", "p", "weight", "objective_scope"]


def test_objective_scope_names_each_value_once() -> None:
    """The demo's objectives name the same value as segment and channel: the scope (what the
    reason says, "must-sell for grocery shops") names it once."""
    cd = codes(2, 2)
    customers = OBJ_CUSTOMERS.head(2).with_columns(pl.col("segment").alias("channel"))
    ctx = build_context(cd, customers, None)
    table = objectives(
        {"product_id": "P0", "segment": "grocery", "channel": "grocery"},
        {"product_id": "P1", "segment": "grocery", "channel": "grocery", "region": "South"},
    )
    out = objective_pairs(table, targets_on(CUTOFF, customers=2), ctx, cd)
    assert out["objective_scope"].to_list() == ["grocery", "grocery, South"]


# -- gate -------------------------------------------------------------------------------------
def offers(*rows: tuple[str, str, str, float, float]) -> pl.DataFrame:
    """Candidate novelties (customer, product, kind, probability, value per acceptance)."""
    return pl.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "order_date": [CUTOFF] * len(rows),
            "product_id": [r[1] for r in rows],
            "kind": [r[2] for r in rows],
            "probability": [r[3] for r in rows],
            "value_per_acceptance": [r[4] for r in rows],
        }
    )


def shown(frame: pl.DataFrame) -> list[tuple[str, str]]:
    return list(frame.select("customer_id", "product_id").iter_rows())


def test_gate_bars_per_kind_objectives_lower() -> None:
    """Each kind has its acceptance bar (extension and development 0.3, objectives 0.2): lines
    just below are gated out, lines at the bar pass."""
    candidates = offers(
        ("C0", "ext-low", "extension", 0.29, 10.0),
        ("C0", "ext-bar", "extension", 0.30, 10.0),
        ("C1", "obj-low", "objective", 0.19, 10.0),
        ("C1", "obj-ok", "objective", 0.25, 10.0),
        ("C2", "dev-low", "development", 0.25, 10.0),
        ("C2", "dev-ok", "development", 0.40, 10.0),
    )
    out = gate(candidates, NoveltyParams(min_probability=0.3, min_objective_probability=0.2), KEY)
    assert sorted(shown(out)) == [("C0", "ext-bar"), ("C1", "obj-ok"), ("C2", "dev-ok")]
    assert out.filter(pl.col("product_id") == "obj-ok")["expected_value"].item() == 2.5
    strict = gate(
        candidates,
        NoveltyParams(
            min_probability=0.5, min_objective_probability=0.3, min_development_probability=0.5
        ),
        KEY,
    )
    assert shown(strict) == []


def test_gate_min_value_and_at_most_max_novelties_most_valuable_first() -> None:
    """The gate drops lines below the minimum expected value and keeps at most ``max_novelties``
    per proposal, the most valuable first."""
    candidates = offers(
        ("C0", "a", "extension", 0.5, 10.0),  # 5.0
        ("C0", "b", "extension", 0.9, 10.0),  # 9.0
        ("C0", "c", "objective", 0.3, 10.0),  # 3.0
        ("C0", "d", "extension", 0.4, 20.0),  # 8.0
        ("C0", "e", "extension", 0.8, 5.0),  # 4.0
        ("C0", "f", "development", 0.6, 2.0),  # 1.2
        ("C1", "a", "extension", 0.4, 5.0),  # 2.0
        ("C1", "b", "extension", 0.8, 5.0),  # 4.0, ties with c on value, higher probability
        ("C1", "c", "extension", 0.5, 8.0),  # 4.0
    )
    out = gate(candidates, NoveltyParams(), KEY)
    assert shown(out) == [
        ("C0", "b"),
        ("C0", "d"),
        ("C0", "a"),
        ("C1", "b"),
        ("C1", "c"),
        ("C1", "a"),
    ]
    valuable = gate(candidates, NoveltyParams(min_value=4.5, max_novelties=5), KEY)
    assert shown(valuable) == [("C0", "b"), ("C0", "d"), ("C0", "a")]
    one = gate(candidates, NoveltyParams(max_novelties=1), KEY)
    assert shown(one) == [("C0", "b"), ("C1", "b")]


# -- merge_novelties --------------------------------------------------------------------------
def proposal_lines(*rows: tuple[str, str, int]) -> pl.DataFrame:
    """Usual lines (customer, product, rank) in the output contract."""
    n = len(rows)
    return pl.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "rank": pl.Series([r[2] for r in rows], dtype=pl.Int64),
            "product_id": [r[1] for r in rows],
            "kind": ["usual"] * n,
            "probability": [0.9] * n,
            "quantity": [4.0] * n,
            "promotion_id": pl.Series([None] * n, dtype=pl.String),
            "reason": ["orders it every week"] * n,
            "order_date": [CUTOFF] * n,
            "model_probability": pl.Series([None] * n, dtype=pl.Float64),
            "lapsed": [False] * n,
        }
    ).select(OUTPUT_COLUMNS)


def novelty_offers(*rows: tuple[str, str, str]) -> pl.DataFrame:
    """Gated novelties (customer, product, kind), most valuable first."""
    n = len(rows)
    return pl.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "order_date": [CUTOFF] * n,
            "product_id": [r[1] for r in rows],
            "kind": [r[2] for r in rows],
            "model_probability": [0.4] * n,
            "quantity": [9.0] * n,
            "value_per_acceptance": [1.0] * n,
            "reason": [f"because {r[1]}" for r in rows],
            "probability": [0.4] * n,
            "promotion_id": pl.Series([None] * n, dtype=pl.String),
            "expected_value": [0.4] * n,
        }
    )


def test_merge_puts_novelties_after_usual_lines_and_development_replaces_usual() -> None:
    """Merged proposals list the usual lines first, then the novelties; a development line
    replaces the usual line of its product; ranks stay contiguous."""
    lines = proposal_lines(
        ("B", "x", 1), ("B", "y", 2), ("A", "x", 1), ("A", "y", 2), ("A", "z", 3)
    )
    extra = novelty_offers(
        ("A", "y", "development"), ("A", "w", "extension"), ("B", "v", "objective")
    )
    merged = merge_novelties(lines, extra, None)
    assert merged.columns == list(OUTPUT_COLUMNS)
    assert merged.select("customer_id", "rank", "product_id", "kind").rows() == [
        ("B", 1, "x", "usual"),
        ("B", 2, "y", "usual"),
        ("B", 3, "v", "objective"),
        ("A", 1, "x", "usual"),
        ("A", 2, "z", "usual"),
        ("A", 3, "y", "development"),
        ("A", 4, "w", "extension"),
    ]
    development = merged.filter(pl.col("kind") == "development").row(0, named=True)
    assert development["quantity"] == 9.0
    assert development["reason"] == "because y"

    capped = merge_novelties(lines, extra, 3)
    assert capped.group_by("customer_id").agg(pl.col("rank").max())["rank"].to_list() == [3, 3]
    assert capped.filter(pl.col("customer_id") == "A")["product_id"].to_list() == ["x", "z", "y"]

    assert merge_novelties(lines, extra.clear(), None).equals(lines)
    # one proposal without novelties: its lines as they are (no query), or cut at ``top``
    one = lines.filter(pl.col("customer_id") == "A")
    assert merge_novelties(one, extra.clear(), None) is one
    assert merge_novelties(one, extra.clear(), 2)["product_id"].to_list() == ["x", "y"]


# -- development_table ------------------------------------------------------------------------
ORDER_DAYS = (dt.date(2024, 4, 1), dt.date(2024, 5, 1), dt.date(2024, 6, 1))


def buying(customer: int, per_order: dict[int, float]) -> list[tuple[int, int, dt.date, float]]:
    return [(customer, p, d, q) for d in ORDER_DAYS for p, q in per_order.items()]


def test_development_flags_a_customer_far_below_peers_of_its_segment_and_size() -> None:
    """Six large bar shops (same yearly volume): five buy 10 of P0 per order, one buys 1 (and
    9 of P1). Five small bar shops buy 1 of P0 per order — at the level of their own size band.
    Only the large shop buying little P0 is flagged, at a tenth of its peers."""
    rows = buying(0, {0: 1.0, 1: 9.0})
    for c in range(1, 6):
        rows += buying(c, {0: 10.0})
    for c in range(6, 11):
        rows += buying(c, {0: 1.0})
    rows += buying(11, {0: 1.0, 1: 1.0})  # alone in its segment: no peers
    cd = codes(12, 2)
    ctx = build_context(cd, segments(*["bar"] * 11, "kiosk"), None)
    out = development_table(window(*rows), CUTOFF, ctx, NoveltyParams())
    assert out.columns == ["c", "p", "own_rate", "peer_rate", "peers"]
    assert pairs_of(out) == {(0, 0)}
    row = out.row(0, named=True)
    assert row["peers"] == 6
    assert row["own_rate"] == pytest.approx(row["peer_rate"] / 10)

    # a product that is not offerable is not developed
    products = pl.DataFrame({"product_id": ["P0"], "active": [False]})
    closed = build_context(cd, segments(*["bar"] * 11, "kiosk"), products)
    assert development_table(window(*rows), CUTOFF, closed, NoveltyParams()).height == 0


@pytest.mark.parametrize(("buyers", "flagged"), [(4, False), (5, True)])
def test_development_needs_five_peers(buyers: int, flagged: bool) -> None:
    """A customer buying far less than its segment's peers is developed only when at least five
    peers buy the product."""
    rows = buying(0, {0: 1.0, 1: 9.0})
    for c in range(1, buyers):
        rows += buying(c, {0: 10.0})
    ctx = build_context(codes(buyers, 2), segments(*["bar"] * buyers), None)
    out = development_table(window(*rows), CUTOFF, ctx, NoveltyParams())
    assert pairs_of(out) == ({(0, 0)} if flagged else set())


# -- extra_candidates -------------------------------------------------------------------------
def test_extra_candidates_are_offerable_products_not_bought_segment_favourites_and_launches() -> (
    None
):
    """P0-P2 are bar favourites (P2 not offerable); P3 launched 30 days ago, P5 exactly
    ``launch_days`` ago, P4 and P6 too long ago; P7 has no launch date but was first sold 10
    days ago (a launch when ``first_seen`` is given) and only by the kiosk shop."""
    day = dt.date(2024, 6, 1)
    rows = [(0, 0, day, 1.0), (1, 0, day, 1.0), (1, 1, day, 1.0), (1, 2, day, 1.0)]
    rows += [(2, 7, CUTOFF - dt.timedelta(days=10), 1.0)]
    products = pl.DataFrame(
        {
            "product_id": [f"P{i}" for i in range(8)],
            "own": [True, True, False, True, True, True, True, True],
            "launch_date": [None] * 3
            + [CUTOFF - dt.timedelta(days=d) for d in (30, 200, 120, 121)]
            + [None],
        },
        schema={"product_id": pl.String, "own": pl.Boolean, "launch_date": pl.Date},
    )
    ctx = build_context(codes(3, 8), segments("bar", "bar", "kiosk"), products)
    everyone = pl.DataFrame({"c": pl.Series([0, 1, 2], dtype=pl.UInt32)})
    lines = window(*rows)
    out = extra_candidates(lines, CUTOFF, ctx, everyone, NoveltyParams())
    assert out.schema["c"] == pl.UInt32 and out.schema["p"] == pl.UInt32
    assert pairs_of(out) == {(0, 1), (0, 3), (0, 5), (1, 3), (1, 5), (2, 3), (2, 5)}

    first_seen = pl.DataFrame(
        {"p": pl.Series([7], dtype=pl.UInt32), "first_d": [CUTOFF - dt.timedelta(days=10)]}
    )
    with_first = extra_candidates(lines, CUTOFF, ctx, everyone, NoveltyParams(), first_seen)
    assert pairs_of(with_first) == pairs_of(out) | {(0, 7), (1, 7)}

    recent = extra_candidates(lines, CUTOFF, ctx, everyone, NoveltyParams(launch_days=60))
    assert pairs_of(recent) == {(0, 1), (0, 3), (1, 3), (2, 3)}
    only_c0 = extra_candidates(lines, CUTOFF, ctx, everyone.head(1), NoveltyParams())
    assert set(only_c0["c"].to_list()) == {0}


# -- pair_context and acceptance_prior --------------------------------------------------------
def test_pair_context_segment_category_and_brand_shares() -> None:
    """Bar shops C0-C3 and kiosk C4. P0, P1, P3 are drinks, P2 snacks; brands X (P0, P2), Y
    (P1), Z (P3, never bought). C0 bought P0 in 3 orders and P2 in 1; C1 P0 (and P1 more than
    a year ago); C2 P1; C3 P2; C4 P0."""
    day = CUTOFF - dt.timedelta(days=30)
    rows = [(0, 0, day - dt.timedelta(days=k * 7), 1.0) for k in range(3)]
    rows += [(0, 2, day, 1.0), (1, 0, day, 1.0), (2, 1, day, 1.0), (3, 2, day, 1.0)]
    rows += [(4, 0, day, 1.0), (1, 1, CUTOFF - dt.timedelta(days=400), 1.0)]
    products = pl.DataFrame(
        {
            "product_id": ["P0", "P1", "P2", "P3"],
            "category": ["drinks", "drinks", "snacks", "drinks"],
            "brand": ["X", "Y", "X", "Z"],
        }
    )
    ctx = build_context(codes(5, 4), segments("bar", "bar", "bar", "bar", "kiosk"), products)
    pairs = pl.DataFrame(
        {
            "c": pl.Series([0, 0, 4, 1, 2], dtype=pl.UInt32),
            "p": pl.Series([3, 1, 0, 2, 0], dtype=pl.UInt32),
            "tag": ["a", "b", "c", "d", "e"],
        }
    )
    out = pair_context(context_evidence(window(*rows), CUTOFF, ctx), ctx, pairs)
    assert out["tag"].to_list() == ["a", "b", "c", "d", "e"]
    assert set(CONTEXT_FEATURES) <= set(out.columns)
    got = {
        r["tag"]: (r["seg_share"], r["cat_share"], r["brand_share"])
        for r in out.iter_rows(named=True)
    }
    assert got["a"] == pytest.approx((0.0, 0.75, 0.0))
    assert got["b"] == pytest.approx((0.25, 0.75, 0.0))  # C1's old P1 line does not count
    assert got["c"] == pytest.approx((1.0, 1.0, 1.0))
    assert got["d"] == pytest.approx((0.5, 0.0, 1.0))  # C1 buys brand X (P0) only
    assert got["e"] == pytest.approx((0.5, 1.0, 0.0))  # C2 buys drinks of brand Y only
    assert out["geo_share"].is_nan().all()  # no coordinates: unknown, not zero
    assert out["p_adopt_90"].is_between(0.0, 1.0).all()


def test_acceptance_prior_is_the_neighbours_share_else_the_segments() -> None:
    """The similar-shops share is the neighbours' share where known, else the segment's, else 0."""
    frame = pl.DataFrame(
        {"nb_share": [0.4, 0.0, None, None, 0.7], "seg_share": [0.9, 0.2, 0.3, None, None]}
    )
    assert frame.select(similar_share())["nb_share"].to_list() == [0.4, 0.2, 0.3, 0.0, 0.7]


def reason_rows(**columns: list[Any]) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    base: dict[str, list[Any]] = {
        "kind": ["extension"] * n,
        "seen": [0] * n,
        "n_cp": [0.0] * n,
        "days_since_cp": [None] * n,
        "p_age_days": [1000.0] * n,
        "nb_share": [0.0] * n,
        "geo_share": [None] * n,
        "seg_share": [0.0] * n,
        "segment": ["bar"] * n,
        "objective_scope": [None] * n,
    }
    return pl.DataFrame(
        {**base, **columns},
        schema_overrides={"days_since_cp": pl.Float64, "geo_share": pl.Float64},
    )


def test_extension_reasons_state_the_strongest_evidence() -> None:
    """Lapsed, then launch (in whole weeks), then the best of similar shops, nearby shops and
    the segment; objectives say whose must-sell it is first."""
    frame = reason_rows(
        kind=["extension"] * 5 + ["objective"] * 2,
        seen=[1, 0, 0, 0, 0, 0, 0],
        n_cp=[4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        days_since_cp=[400.0, None, None, None, None, None, None],
        p_age_days=[1000.0, 57.0, 1000.0, 1000.0, 1000.0, 1000.0, 1000.0],
        nb_share=[0.0, 0.9, 0.6, 0.1, 0.1, 0.6, 0.6],
        geo_share=[None, None, 0.2, 0.5, None, None, None],
        seg_share=[0.0, 0.0, 0.3, 0.3, 0.4, 0.0, 0.0],
        objective_scope=[None, None, None, None, None, "bar", None],
    )
    assert frame.select(extension_reason().alias("reason"))["reason"].to_list() == [
        "bought it 4 times, last 13 months ago",
        "new product, launched 8 weeks ago",
        "60 % of the most similar shops buy it",
        "50 % of the shops nearby buy it",
        "40 % of bar shops buy it",
        "must-sell for bar shops; 60 % of the most similar shops buy it",
        "must-sell for its shops; 60 % of the most similar shops buy it",
    ]


# -- the demo company -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def company(demo_company: DemoCompany) -> DemoCompany:
    return demo_company


@pytest.fixture(scope="module")
def fitted(demo_model: NextOrderModel) -> NextOrderModel:
    """The engine fitted with the products and customers tables (conftest's)."""
    return demo_model


PERMISSIVE = NoveltyParams(
    min_probability=0.003,
    min_objective_probability=0.001,
    min_development_probability=0.003,
)


@pytest.fixture(scope="module")
def model(fitted: NextOrderModel) -> NextOrderModel:
    """The fitted engine with lower bars than the defaults (``PERMISSIVE``) and every
    candidate explored before feedback: the proposals' mechanics need novelties to work on."""
    permissive = copy.copy(fitted)
    permissive.params = replace(fitted.params_, novelties=PERMISSIVE)
    permissive.share_bar_ = 0.0
    return permissive


@pytest.fixture(scope="module")
def as_of(company: DemoCompany) -> dt.date:
    return company.config.end + dt.timedelta(days=1)


@pytest.fixture(scope="module")
def targets(company: DemoCompany, as_of: dt.date) -> pl.DataFrame:
    """Every served customer, the day after the history (as ``salescope demo`` does)."""
    served = company.tables["customers"].filter(pl.col("status") == "served")
    return served.select("customer_id", pl.lit(as_of).alias("order_date")).sort("customer_id")


@pytest.fixture(scope="module")
def proposals(model: NextOrderModel, targets: pl.DataFrame, company: DemoCompany) -> pl.DataFrame:
    return model.recommend(targets, mode="proposal", objectives=company.tables["objectives"])


def novelties_of(lines: pl.DataFrame) -> pl.DataFrame:
    return lines.filter(pl.col("kind") != "usual")


def novelty_counts(lines: pl.DataFrame, targets: pl.DataFrame) -> pl.Series:
    """Novelties per proposal, 0 included."""
    per = novelties_of(lines).group_by(KEY).len()
    return targets.join(per, on=KEY, how="left")["len"].fill_null(0)


def bars_respected(lines: pl.DataFrame) -> bool:
    params = PERMISSIVE
    bar = (
        pl.when(pl.col("kind") == "objective")
        .then(params.min_objective_probability)
        .when(pl.col("kind") == "development")
        .then(params.min_development_probability)
        .otherwise(params.min_probability)
    )
    return bool(novelties_of(lines).select((pl.col("probability") >= bar - 1e-12).all()).item())


def test_proposals_hold_every_kind_and_at_most_three_novelties_after_the_usual_lines(
    proposals: pl.DataFrame, targets: pl.DataFrame
) -> None:
    """Proposals on the demo hold every kind of line, at most three novelties, all after the usual
    lines, with contiguous ranks, one proposal per target."""
    assert tuple(proposals.columns) == OUTPUT_COLUMNS
    assert set(proposals["kind"]) == {"usual", *NOVELTY_KINDS}
    assert novelty_counts(proposals, targets).max() == 3
    assert proposals.group_by(KEY).len().height == targets.height
    ranks = proposals.group_by(KEY).agg(
        (pl.col("rank").sort() == pl.int_range(1, pl.len() + 1)).all().alias("contiguous"),
        pl.col("rank").filter(pl.col("kind") == "usual").max().alias("last_usual"),
        pl.col("rank").filter(pl.col("kind") != "usual").min().alias("first_novelty"),
        pl.col("product_id").is_duplicated().any().alias("repeats"),
    )
    assert ranks["contiguous"].all()
    assert not ranks["repeats"].any()
    assert ranks.filter(pl.col("first_novelty") <= pl.col("last_usual")).height == 0
    novelties = novelties_of(proposals)
    assert novelties["probability"].is_between(0.0, 1.0).all()
    assert novelties["model_probability"].is_between(0.0, 1.0).all()
    # without feedback the probability shown is the engine's own
    assert (novelties["probability"] == novelties["model_probability"]).all()
    assert bars_respected(proposals)
    assert (novelties["reason"].str.len_chars() > 0).all()
    assert novelties["promotion_id"].null_count() == novelties.height
    assert (novelties["quantity"] > 0).all()


def test_before_feedback_some_proposals_carry_no_novelty(
    fitted: NextOrderModel, targets: pl.DataFrame, company: DemoCompany
) -> None:
    """Before any feedback the acceptance of a novelty is on the history's own scale (how often
    shops adopted what their similar shops buy), not a share of similar shops: an order
    without novelty is normal, and no extension is shown at a probability above the highest
    adoption rate the history showed."""
    proposals = fitted.recommend(targets, objectives=company.tables["objectives"])
    counts = novelty_counts(proposals, targets)
    assert (counts == 0).any() and (counts > 0).any()
    model = fitted
    assert model.prior_ is not None
    extensions = proposals.filter(pl.col("kind") == "extension")
    assert (extensions["model_probability"] <= float(model.prior_.y.max()) + 1e-12).all()
    # about explore_share of the orders offer a new product (validation orders set the bar)
    share = model.params_.novelties.explore_share
    new = proposals.filter(pl.col("kind").is_in(["extension", "objective"]))
    offered = new.select("customer_id").n_unique() / targets.height
    assert share / 4 <= offered <= min(1.0, share * 2.5), offered


def test_extensions_and_objectives_are_offerable_products_not_bought_in_the_last_year(
    proposals: pl.DataFrame, company: DemoCompany, as_of: dt.date
) -> None:
    """Extension and objective lines are own, active products the customer did not buy in the last
    year."""
    orders = company.tables["orders"]
    last_year = orders.filter(pl.col("order_date") >= as_of - dt.timedelta(days=365))
    bought = last_year.select("customer_id", "product_id").unique()
    new = proposals.filter(pl.col("kind").is_in(["extension", "objective"]))
    assert new.height > 100
    assert new.join(bought, on=["customer_id", "product_id"]).height == 0
    offerable = company.tables["products"].filter(pl.col("own") & pl.col("active"))
    assert new.join(offerable, on="product_id", how="anti").height == 0
    # development lines are products the customer buys
    development = proposals.filter(pl.col("kind") == "development")
    assert development.height > 0
    assert development.join(bought, on=["customer_id", "product_id"], how="anti").height == 0
    assert development["reason"].str.starts_with("buys about ").all()


def test_objective_lines_follow_the_objectives_of_the_customer(
    proposals: pl.DataFrame, company: DemoCompany, as_of: dt.date
) -> None:
    """Every objective line is an objective active on the date for the customer's segment, region
    or channel."""
    t = company.tables
    active = t["objectives"].filter(
        (pl.col("start_date").is_null() | (pl.col("start_date") <= as_of))
        & (pl.col("end_date").is_null() | (pl.col("end_date") >= as_of))
    )
    who = t["customers"].select("customer_id", "segment", "region", "channel")
    applicable = (
        who.join(active, how="cross", suffix="_o")
        .filter(
            *(
                pl.col(f"{k}_o").is_null() | (pl.col(f"{k}_o") == pl.col(k))
                for k in ("segment", "region", "channel")
            )
        )
        .select("customer_id", "product_id")
        .unique()
    )
    objective = proposals.filter(pl.col("kind") == "objective")
    assert objective.height > 0
    assert objective.join(applicable, on=["customer_id", "product_id"], how="anti").height == 0
    assert objective["reason"].str.starts_with("must-sell for ").all()
    scopes = objective["reason"].str.extract(r"^must-sell for (.+?) shops;").str.split(", ")
    assert scopes.null_count() == 0
    assert (scopes.list.len() == scopes.list.unique().list.len()).all()


def test_without_objectives_there_are_no_objective_lines(
    model: NextOrderModel, targets: pl.DataFrame
) -> None:
    """Without an objectives table a proposal holds no objective line, but still extensions."""
    lines = model.recommend(targets.head(40), mode="proposal")
    assert "objective" not in set(lines["kind"])
    assert {"extension"} <= set(lines["kind"])


def test_resting_novelties_are_not_offered_and_development_gives_back_the_usual_line(
    model: NextOrderModel,
    targets: pl.DataFrame,
    proposals: pl.DataFrame,
    company: DemoCompany,
) -> None:
    """A resting product is not offered as a novelty; a resting development product is still
    proposed as a usual line at its usual quantity."""
    before = novelties_of(proposals)
    resting = before.select("customer_id", "product_id")
    lines = model.recommend(targets, objectives=company.tables["objectives"], resting=resting)
    again = lines.join(resting, on=["customer_id", "product_id"])
    # a resting development product is still ordered as usual, at the usual quantity
    assert set(again["kind"]) == {"usual"}
    assert again.height == before.filter(pl.col("kind") == "development").height
    developed = before.filter(pl.col("kind") == "development").join(
        again.select("customer_id", "product_id", pl.col("quantity").alias("usual_q")),
        on=["customer_id", "product_id"],
    )
    assert (developed["quantity"] > developed["usual_q"]).all()
    # other novelties take the place of those resting
    assert novelties_of(lines).height > 0.8 * before.height


def test_acceptance_of_zero_shows_no_novelty(
    model: NextOrderModel, targets: pl.DataFrame, proposals: pl.DataFrame, company: DemoCompany
) -> None:
    """A calibrator that says no novelty is ever accepted leaves the proposals without novelties;
    it is asked once, with the kinds and model probabilities."""
    seen: list[pl.DataFrame] = []

    def never(frame: pl.DataFrame) -> np.ndarray:
        seen.append(frame)
        return np.zeros(frame.height)

    lines = model.recommend(targets, objectives=company.tables["objectives"], acceptance=never)
    assert len(seen) == 1
    assert {"kind", "model_probability"} <= set(seen[0].columns)
    assert set(seen[0]["kind"]) == set(NOVELTY_KINDS)
    assert novelties_of(lines).height == 0
    # the usual lines are untouched; products without their development line are usual again
    same = ["customer_id", "product_id", "quantity", "probability", "reason"]
    usual = proposals.filter(pl.col("kind") == "usual").select(same)
    assert usual.join(lines, on=same, how="anti").height == 0
    development = proposals.filter(pl.col("kind") == "development")
    assert development.height > 0
    assert pairs_of(lines, "customer_id", "product_id") == pairs_of(
        usual, "customer_id", "product_id"
    ) | pairs_of(development, "customer_id", "product_id")


def test_acceptance_of_one_shows_novelties_and_keeps_the_model_probability(
    model: NextOrderModel, targets: pl.DataFrame, company: DemoCompany
) -> None:
    """A calibrator that says every novelty is accepted shows novelties with probability 1 and
    keeps the engine's own probability in ``model_probability``."""
    seen: list[pl.DataFrame] = []

    def always(frame: pl.DataFrame) -> np.ndarray:
        seen.append(frame)
        return np.ones(frame.height)

    lines = model.recommend(targets, objectives=company.tables["objectives"], acceptance=always)
    novelties = novelties_of(lines)
    assert novelties.height > 0
    assert (novelties["probability"] == 1.0).all()
    prior = seen[0].select("customer_id", "product_id", pl.col("model_probability").alias("prior"))
    joined = novelties.join(prior, on=["customer_id", "product_id"], how="left")
    assert joined["prior"].null_count() == 0
    assert (joined["model_probability"] == joined["prior"]).all()
    assert (joined["model_probability"] < 1.0).any()


def test_calibrated_acceptance_is_gated_so_some_proposals_carry_none(
    model: NextOrderModel, targets: pl.DataFrame, company: DemoCompany
) -> None:
    """A calibration that halves the engine's probabilities: the bars then leave some proposals
    without novelties while others keep theirs."""

    def halve(frame: pl.DataFrame) -> pl.Series:
        return frame["model_probability"] * 0.5

    lines = model.recommend(targets, objectives=company.tables["objectives"], acceptance=halve)
    counts = novelty_counts(lines, targets)
    assert (counts == 0).any()
    assert (counts > 0).any()
    assert (counts <= 3).all()
    novelties = novelties_of(lines)
    assert ((novelties["probability"] - 0.5 * novelties["model_probability"]).abs() < 1e-12).all()
    assert bars_respected(lines)
    objective = novelties.filter(pl.col("kind") == "objective")["probability"]
    assert (objective < PERMISSIVE.min_probability).any()  # the lower bar is used


def test_rank_mode_orders_the_products_a_customer_lacks_by_the_adoption_model(
    model: NextOrderModel, targets: pl.DataFrame, company: DemoCompany
) -> None:
    """Rank mode gives exactly k lines per target; the products a customer lacks fill their places
    in the adoption model's order."""
    k = 30
    objectives = company.tables["objectives"]
    lines = model.recommend(targets, mode="rank", top=k, objectives=objectives)
    per = lines.group_by(KEY).agg(pl.len().alias("n"), pl.col("rank").max().alias("r"))
    assert per.height == targets.height
    assert (per["n"] == k).all() and (per["r"] == k).all()
    bought = company.tables["orders"].select("customer_id", "product_id").unique()
    new = lines.join(bought, on=["customer_id", "product_id"], how="anti")
    assert new.height > 100
    assert set(new["kind"]) == {"extension", "objective"}
    assert set(lines.join(bought, on=["customer_id", "product_id"])["kind"]) == {"usual"}

    coded = targets.join(model.codes.customers, on="customer_id").select(
        "c", pl.col("order_date").alias("t")
    )
    adoption = model.codes.decode(
        model.score_novelties(model.score_candidates(coded), coded, objectives)
    ).select("customer_id", "product_id", "p_adopt", pl.col("kind").alias("adoption_kind"))
    offered = company.tables["products"].filter(pl.col("own") & pl.col("active"))
    adoption = adoption.join(offered.select("product_id"), on="product_id", how="semi")
    ranked = new.sort("customer_id", "rank").join(
        adoption, on=["customer_id", "product_id"], how="left", maintain_order="left"
    )
    assert ranked["p_adopt"].null_count() == 0
    assert (ranked["probability"] == ranked["p_adopt"]).all()
    assert (ranked["kind"] == ranked["adoption_kind"]).all()
    # in rank order, by decreasing p_adopt...
    steps = ranked.select(pl.col("p_adopt").diff().over("customer_id").alias("step"))
    assert (steps["step"].drop_nulls() <= 0).all()
    # ... and they are the adoption model's best products for the customer
    best = (
        adoption.sort(["customer_id", "p_adopt", "product_id"], descending=[False, True, False])
        .with_columns(pl.int_range(pl.len()).over("customer_id").alias("j"))
        .join(new.group_by("customer_id").len(), on="customer_id")
        .filter(pl.col("j") < pl.col("len"))
    )
    assert pairs_of(best, "customer_id", "product_id") == pairs_of(new, "customer_id", "product_id")


@pytest.fixture(scope="module")
def budgeted(company: DemoCompany) -> tuple[pl.DataFrame, PromotionModel]:
    """The demo's promotions with PR019 (10 % off confectionery until 13 September, used 383
    times in the history) given a budget of 388 uses — 5 left for the proposals — and the
    promotions model fitted on them."""
    t = company.tables
    promotions = t["promotions"].with_columns(
        pl.when(pl.col("promotion_id") == "PR019")
        .then(388.0)
        .otherwise(pl.col("budget_uses"))
        .alias("budget_uses")
    )
    promoter = PromotionModel().fit(
        t["orders"], promotions, products=t["products"], customers=t["customers"]
    )
    return promotions, promoter


def test_promotions_stay_within_budgets_and_are_named_in_the_reason(
    model: NextOrderModel,
    targets: pl.DataFrame,
    company: DemoCompany,
    budgeted: tuple[pl.DataFrame, PromotionModel],
) -> None:
    """PR019 (10 % off confectionery until 13 September, used 383 times in the history) gets a
    budget of 388 uses: 5 left for the proposals."""
    t = company.tables
    promotions, promoter = budgeted
    assert promoter.lifts_.filter(pl.col("promotion_id") == "PR019")["uses"].item() == 383
    lines = model.recommend(targets, objectives=t["objectives"], promote=promote_with(promoter))
    promoted = lines.filter(pl.col("promotion_id").is_not_null())
    assert promoted.height > 0
    assert set(promoted["kind"]) <= set(NOVELTY_KINDS)
    use = budget_use(lines, promotions, promoter.lifts_)
    assert use.filter(pl.col("budget_uses").is_not_null() & (pl.col("left") < 0)).height == 0
    pr019 = use.filter(pl.col("promotion_id") == "PR019").row(0, named=True)
    assert 1 <= pr019["used"] <= 5
    assert (novelty_counts(lines, targets) <= 3).all()
    # the terms are appended to the reason
    terms = promotions.select(
        "promotion_id",
        pl.format(
            "{} % off until {}",
            pl.col("value").cast(pl.Int64),
            pl.col("end_date").dt.strftime("%-d %B"),
        ).alias("terms"),
        "mechanic",
    )
    checked = promoted.join(terms, on="promotion_id").filter(pl.col("mechanic") == "discount_pct")
    assert checked.height == promoted.height
    assert all(r.endswith("; " + s) for r, s in checked.select("reason", "terms").iter_rows())
    assert (
        not novelties_of(lines)
        .filter(pl.col("promotion_id").is_null())["reason"]
        .str.contains(" until ")
        .any()
    )
    # the chance of acceptance shown is the promoted one: min(1, probability x lift)
    lifted = promoted.join(promoter.lifts_.select("promotion_id", "lift"), on="promotion_id")
    expected = (lifted["model_probability"] * lifted["lift"]).clip(upper_bound=1.0)
    assert ((lifted["probability"] - expected).abs() < 1e-9).all()
    assert (lifted["probability"] > lifted["model_probability"]).any()
    assert bars_respected(lines)


def test_a_binding_budget_is_spent_on_lines_that_are_shown(
    model: NextOrderModel,
    targets: pl.DataFrame,
    company: DemoCompany,
    budgeted: tuple[pl.DataFrame, PromotionModel],
) -> None:
    """With a promotion budget that binds, every promoted use goes to a line the gate shows, never
    to a hidden one."""
    t = company.tables
    promote = promote_with(budgeted[1])
    attached: list[pl.DataFrame] = []

    def recording(lines: pl.DataFrame) -> pl.DataFrame:
        out = promote(lines)
        attached.append(out)
        return out

    lines = model.recommend(targets, objectives=t["objectives"], promote=recording)
    assert attached[0].filter(pl.col("promotion_id") == "PR019").height == 5  # it binds
    given = attached[-1].filter(pl.col("promotion_id").is_not_null())
    shown = lines.filter(pl.col("promotion_id").is_not_null())
    assert shown.filter(pl.col("promotion_id") == "PR019").height == 5
    # every use charged in the last round is a line shown
    key = ["customer_id", "order_date", "product_id", "promotion_id"]
    assert given.join(shown, on=key, how="anti").height == 0


@pytest.mark.parametrize("mode", ["rank", "proposal"])
def test_targets_all_unknown_to_the_history_get_the_most_ordered_products(
    model: NextOrderModel, as_of: dt.date, mode: str
) -> None:
    """Customers unknown to the history get the most ordered products, saying so in the reason (k
    lines each in rank mode)."""
    new = pl.DataFrame({"customer_id": ["NEW-1", "NEW-2"], "order_date": [as_of, as_of]})
    lines = model.recommend(new, mode=mode, top=10)
    assert set(lines["customer_id"]) == {"NEW-1", "NEW-2"}
    if mode == "rank":
        assert lines.height == 20
    assert lines["reason"].str.starts_with("among the most ordered products").all()


def test_unknown_customers_get_a_starter_of_at_most_max_novelties_extension_lines(
    model: NextOrderModel, as_of: dt.date
) -> None:
    """An unknown customer's proposal is a starter of at most ``max_novelties`` extension lines,
    whose probability is the model's own."""
    new = pl.DataFrame({"customer_id": ["NEW-1"], "order_date": [as_of]})
    lines = model.recommend(new, mode="proposal")
    assert 0 < lines.height <= model.params.novelties.max_novelties
    assert (lines["kind"] == "extension").all()
    assert lines["model_probability"].is_not_null().all()
    assert (lines["model_probability"] == lines["probability"]).all()


def test_products_no_longer_offered_are_never_listed(
    model: NextOrderModel, targets: pl.DataFrame, company: DemoCompany
) -> None:
    """A product the catalogue no longer offers leaves both modes, usual lines included."""
    before = model.recommend(targets, mode="rank", top=20)
    top = before.filter(pl.col("kind") == "usual")["product_id"].mode().sort()[0]
    p = model.codes_.products.filter(pl.col("product_id") == top)["p"][0]
    delisted = copy.copy(model)
    delisted.context_ = replace(
        model.context_,
        products=model.context_.products.with_columns(
            pl.when(pl.col("p") == p).then(False).otherwise(pl.col("offerable")).alias("offerable")
        ),
    )
    for mode in ("rank", "proposal"):
        lines = delisted.recommend(targets, mode=mode, top=20)
        assert top not in set(lines["product_id"])
    # the catalogue's own delistings: the demo's inactive products are never listed
    inactive = company.tables["products"].filter(~pl.col("active"))["product_id"]
    assert before.filter(pl.col("product_id").is_in(inactive.implode())).height == 0


class _FixedPromotion:
    """A promotions model that attaches P1 to every line: probability doubled (max 1),
    quantity unchanged, an increment of 2 per line."""

    def attach(self, lines: pl.DataFrame) -> pl.DataFrame:
        return lines.with_columns(
            pl.lit("P1").alias("promotion_id"),
            (pl.col("probability") * 2).clip(0.0, 1.0).alias("promoted_probability"),
            pl.col("quantity").alias("promoted_quantity"),
            pl.lit(2.0).alias("incremental_margin"),
            pl.lit("10 % off").alias("promotion_text"),
        )


def test_a_promoted_line_is_valued_with_the_promotions_increment_not_its_lift_alone() -> None:
    """Expected value with the promotion = value without it + the promotion's incremental
    margin (which pays the discount); the raised probability alone would overstate it."""
    lines = pl.DataFrame(
        {
            "customer_id": ["C1"],
            "order_date": [dt.date(2024, 1, 1)],
            "product_id": ["A"],
            "kind": ["extension"],
            "probability": [0.25],
            "quantity": [4.0],
            "value_per_acceptance": [10.0],
            "reason": ["7 of the 10 most similar shops buy it"],
        }
    )
    out = promote_with(_FixedPromotion())(lines)
    assert out["probability"][0] == pytest.approx(0.5)
    expected = out["probability"][0] * out["value_per_acceptance"][0]
    assert expected == pytest.approx(0.25 * 10.0 + 2.0)
    assert out["reason"][0] == "7 of the 10 most similar shops buy it; 10 % off"


def test_amounts_in_reasons_read_as_a_rep_says_them() -> None:
    """Amounts in reasons are rounded the way a rep says them: whole above 10, one decimal below,
    no trailing .0."""
    values = pl.DataFrame({"x": [672.0, 671.6, 2.5, 3.0, 0.26, 12.04]})
    said = values.select(amount(pl.col("x")))["x"].to_list()
    assert said == ["672", "672", "2.5", "3", "0.3", "12"]


def test_development_reasons_carry_no_float_noise(proposals: pl.DataFrame) -> None:
    """Development reasons carry no float noise (no ``12.0``) and end with 'this order'."""
    reasons = proposals.filter(pl.col("kind") == "development")["reason"]
    assert reasons.len() > 0
    assert not reasons.str.contains(r"\d\.0\b").any()
    assert reasons.str.ends_with(" this order").all()


def test_adoption_model_before_fit_raises_not_fitted() -> None:
    """An unfitted adoption model refuses to predict instead of falling back silently."""
    from salescope.domain.errors import NotFittedError
    from salescope.orders.novelties import AdoptionModel

    with pytest.raises(NotFittedError):
        AdoptionModel().predict(pl.DataFrame({"nb_share": [0.5]}))


def test_adoption_stand_in_is_a_named_fitted_state() -> None:
    """Too few adoptions to learn from: the model is fitted with ``source_ == "stand_in"``
    and predicts the transparent score (neighbours', segment's and nearby shares × the
    customer's appetite for new products)."""
    from salescope.orders.novelties import AdoptionModel, AdoptionParams

    few = pl.DataFrame({"label": [1] * 3 + [0] * 50})
    model = AdoptionModel(AdoptionParams(min_train_positives=4)).fit(few, few)
    assert model.source_ == "stand_in"
    assert not model.learned
    frame = pl.DataFrame(
        {
            "nb_share": [1.0, 0.0],
            "seg_share": [0.0, 1.0],
            "geo_share": [0.0, 0.0],
            "c_new_share": [0.5, 0.5],
        }
    )
    np.testing.assert_allclose(model.predict(frame), [0.25, 0.15])


def test_adoption_params_validate_themselves() -> None:
    """An adoption model asked to learn from zero positives is refused when made."""
    from salescope.orders.novelties import AdoptionParams

    with pytest.raises(ValueError, match="min_train_positives"):
        AdoptionParams(min_train_positives=0)


def test_shortlisted_novelty_lines_are_those_built_from_every_candidate(
    fitted: NextOrderModel, targets: pl.DataFrame
) -> None:
    """Before feedback and without promotions the lines are built for the shortlisted rows
    only (``orders.shortlist``), and a proposal with none is answered by the empty frame kept
    on the model: the lines are those built from every candidate, for a batch and customer
    by customer; the kept frame is made again for a model with other codes."""
    model = copy.copy(fitted)
    model.__dict__.pop("_nothing_shown", None)
    empties = 0
    for chosen in [targets.head(40), *(targets.slice(i, 1) for i in range(0, 60, 3))]:
        ready = model.prepare(chosen)
        assert ready.novelties is not None
        usual = model.recommend(ready).filter(pl.col("kind") == "usual")
        fast = model.novelty_lines(ready.scored, ready.novelties, usual=usual)
        full = build_lines(model, ready.scored, ready.novelties, None, None, None, usual)
        assert fast.equals(full)
        empties += fast.height == 0
    assert empties > 0
    kept = model.__dict__["_nothing_shown"]
    built: list[int] = []

    def build(scored: pl.DataFrame, novelties: pl.DataFrame) -> pl.DataFrame:
        built.append(scored.height + novelties.height)
        return pl.DataFrame()

    assert ready.novelties is not None
    scored, novelties = ready.scored.clear(), ready.novelties.clear()
    assert nothing_shown(model, scored, novelties, build) is kept[3] and not built
    model.codes_ = Codes(model.codes_.customers.clone(), model.codes_.products.clone())
    assert nothing_shown(model, scored, novelties, build) is not kept[3] and built == [0]


def test_novelty_lines_of_no_development_pair_reuse_the_empty_development_frame(
    fitted: NextOrderModel, targets: pl.DataFrame
) -> None:
    """Customer by customer and for a batch, the lines built with the empty development
    frame kept on the model (``offers._development``) equal those built with a fresh one;
    the frame is kept for an empty input only and made again for other development pairs."""
    from salescope.orders import offers

    model = copy.copy(fitted)
    model.__dict__.pop("_no_development", None)
    empty_inputs = developed = 0
    for chosen in [targets.head(40), *(targets.slice(i, 1) for i in range(0, 60, 3))]:
        ready = model.prepare(chosen)
        assert ready.novelties is not None
        usual = model.recommend(ready).filter(pl.col("kind") == "usual")
        for scored in (ready.scored, ready.scored.clear(), ready.scored.head(3)):
            for lines in (usual, None):  # without usual lines, every development line shows
                build_lines(model, ready.scored.clear(), ready.novelties, None, None, None, lines)
                kept = build_lines(model, scored, ready.novelties, None, None, None, lines)
                model.__dict__.pop("_no_development", None)
                fresh = build_lines(model, scored, ready.novelties, None, None, None, lines)
                assert kept.equals(fresh)
                empty_inputs += scored.height == 0
                developed += int((fresh["kind"] == "development").sum())
    assert empty_inputs > 10 and developed > 0
    margin = model.context_.products.select("p", "margin", "offerable")
    empty = ready.scored.clear()
    first = offers._development(model, empty, margin)
    assert offers._development(model, empty, margin) is first
    model.development_ = model.development_.clone()
    assert offers._development(model, empty, margin) is not first


def test_development_lines_outside_the_usual_lines_are_dropped() -> None:
    """``developing_usual`` is the concatenation of the other offers and the development
    offers of usual lines: with and without development offers, and with a null kind."""
    from salescope.orders.offers import developing_usual

    day = dt.date(2024, 5, 1)
    offers = pl.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "order_date": [day] * 4,
            "product_id": ["x", "y", "z", "x"],
            "kind": ["development", "extension", "development", "objective"],
        }
    )
    usual = pl.DataFrame({"customer_id": ["a"], "order_date": [day], "product_id": ["z"]})

    def reference(frame: pl.DataFrame) -> pl.DataFrame:
        developed = pl.col("kind") == "development"
        return pl.concat(
            [
                frame.filter(~developed),
                frame.filter(developed).join(
                    usual, on=["customer_id", "order_date", "product_id"], how="semi"
                ),
            ]
        )

    nulls = offers.with_columns(pl.Series("kind", [None, "extension", None, "objective"]))
    for frame in (offers, offers.filter(pl.col("kind") != "development"), nulls, offers.clear()):
        assert developing_usual(frame, usual).equals(reference(frame))
    assert developing_usual(offers, usual)["product_id"].to_list() == ["y", "x", "z"]


def test_proposals_are_prepared_without_the_adoption_model(
    fitted: NextOrderModel,
    targets: pl.DataFrame,
    company: DemoCompany,
    budgeted: tuple[pl.DataFrame, PromotionModel],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``recommend`` of proposals prepares without ``p_adopt`` (only rank mode and the
    range-extension list read it): the lines are those of a preparation with it — with
    objectives, resting products, feedback and promotions, for a batch and one by one — the
    adoption model is not asked, and such a preparation is refused by rank mode."""
    from salescope.orders.acceptance import AcceptanceCalibrator

    model = fitted
    t = company.tables
    state = AcceptanceCalibrator().to_dict() | {"fitted": True, "slope": 0.8, "intercept": 0.4}
    resting = pl.DataFrame(
        {
            "customer_id": targets["customer_id"].head(20),
            "product_id": model.codes_.products["product_id"].head(20),
        }
    )
    settings: list[dict[str, Any]] = [
        {},
        {"objectives": t["objectives"], "resting": resting},
        {"acceptance": AcceptanceCalibrator.from_dict(state).apply},
        {"objectives": t["objectives"], "promote": promote_with(budgeted[1])},
    ]
    chosen = [targets.head(30), *(targets.slice(i, 1) for i in range(0, 40, 4))]
    expected = [
        [
            model.recommend(model.prepare(c, s.get("objectives")), mode="proposal", **s)
            for c in chosen
        ]
        for s in settings
    ]
    asked: list[int] = []
    predict = type(model.adoption_).predict
    monkeypatch.setattr(
        type(model.adoption_),
        "predict",
        lambda self, frame: asked.append(frame.height) or predict(self, frame),
    )
    for setting, lines in zip(settings, expected, strict=True):
        for c, want in zip(chosen, lines, strict=True):
            assert model.recommend(c, mode="proposal", **setting).equals(want)
    assert not asked
    bare = model.prepare(targets.head(5), adoption=False)
    assert bare.novelties is not None and "p_adopt" not in bare.novelties.columns
    with pytest.raises(ValueError, match="adoption=False"):
        model.recommend(bare, mode="rank")
    with pytest.raises(ValueError, match="adoption=False"):
        model.unseen_ranking(bare)
    model.recommend(targets.head(5), mode="rank")
    assert asked


def test_adoption_rows_are_those_the_expression_keeps(fitted: NextOrderModel) -> None:
    """The extension rows picked with NumPy are those the filter expression keeps: on a
    fitted engine's candidates as they are and with null, NaN and infinite days and null
    ``seen`` flags."""
    from salescope.orders.novelties import adoption_rows

    model = fitted
    codes = model.codes_.customers["c"]
    frame = model.score_candidates(
        pl.DataFrame({"c": codes.head(30), "t": [model.cutoff_ - dt.timedelta(days=200)] * 30})
    )
    third = pl.int_range(pl.len()) % 3
    days = pl.col("days_since_cp")
    changes = [
        frame,
        frame.with_columns(pl.when(third == 0).then(None).otherwise(days).alias("days_since_cp")),
        frame.with_columns(pl.when(third == 1).then(None).otherwise(pl.col("seen")).alias("seen")),
        frame.with_columns(
            pl.when(third == 2).then(float("inf")).otherwise(-days).alias("days_since_cp"),
            pl.when(third == 0).then(None).otherwise(pl.col("seen")).alias("seen"),
        ),
        frame.with_columns(
            pl.when(third == 0).then(float("nan")).otherwise(days).alias("days_since_cp")
        ),
        frame.with_columns(pl.col("seen").cast(pl.Boolean)),
        frame.clear(),
    ]
    for lapsed in (0, 30, 365):
        for changed in changes:
            expected = changed.filter(
                (pl.col("seen") == 0) | (pl.col("days_since_cp").fill_null(0.0) > lapsed)
            )
            assert adoption_rows(changed, lapsed).equals(expected)
    assert 0 < adoption_rows(frame, 30).height < frame.height
