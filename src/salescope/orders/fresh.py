"""A fitted engine scoring customers from the orders read at scoring time.

A model knows the customers it was fitted on, as they were then: a customer outside a
sampled fit (``train --sample``), a new shop, or a shop that ordered since, would be scored
from no lines or stale ones. ``with_orders(model, orders)`` is the engine of the customers of
``orders``: the model's learned parts stay as they were fitted — the ranker, its calibration,
the quantity and adoption models, the TIFU-KNN parameters, the product statistics, the fitted
customers' vectors, the item similarities, the segments' favourites, the nearby shops' last
year — and each customer of ``orders`` gets its own per-customer tables
(``orders.split.split_engine``) computed from its lines there: its lines within the look-back,
first order, TIFU vector, nearest neighbours, neighbour and never-bought candidates, category
and brand shares, products to develop, segment and nearby shops.

Every customer of ``orders`` gets a code after the model's (a fitted customer too: its fitted
row of the vectors stays as it was, for the other customers whose neighbour it is), so its
vector is a row added to the fitted ones. Its neighbours are searched among the *fitted*
customers only (never itself), and its products to develop are measured against the fitted
customers as if it were the only one added: a customer's lines do not depend on which other
customers are scored with it. A fitted customer scored from the very orders it was fitted on
gets the very tables it was fitted with, so the same lines.

On a backend the work is shared out as the split engine's (``orders.split``):
``plan_orders`` does one pass over the lines on the driver (codes, each customer's look-back,
first dates, attributes, nearby shops) and gives a *planned* engine, whose ``split`` is the
model's shared engine with a ``Plan`` (the segments' favourites, the launches, the peers of
the products to develop) and the per-customer rows (the coded lines); each bucket's
``for_customers`` computes its customers' tables (``fresh_tables``) before rebuilding its
engine, so the orders' customers' vectors and candidates never leave their bucket.

Customers the model knows but ``orders`` does not name keep their fitted tables. Lines of
products the model does not know (no statistics, no code) are left out and counted
(``Fresh.unknown_products``); targets must be dated on or after ``Fresh.cutoff``, the day after
the last order read (or the model's cut-off, when later).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import scipy.sparse as sp

from salescope.orders.examples import snapshot_lines
from salescope.orders.history import CODE, coded_lines, order_table
from salescope.orders.neighbours import (
    bought_columns,
    candidate_scores,
    nearest_neighbours,
    pair_scores,
    tifu_vectors,
    to_csr,
)
from salescope.orders.novelties import (
    Peers,
    customer_attributes,
    customer_shares,
    development_against,
    development_peers,
    extra_offers,
    extra_pairs,
    nearby_rows,
)
from salescope.orders.split import FRESH_PLAN, CustomerRows, engine_of, split_engine
from salescope.orders.training import as_date, recent_part

if TYPE_CHECKING:
    from salescope.orders.model import NextOrderModel

NEIGHBOURS = "neighbours"


@dataclass(frozen=True, slots=True)
class Fresh:
    """An engine of customers scored from orders read at scoring time (``with_orders``)."""

    engine: NextOrderModel
    cutoff: dt.date  # targets are dated on or after it
    customers: int  # customers scored from the orders
    new_customers: int  # of which the model did not know
    unknown_products: int  # distinct products of the orders the model does not know
    unknown_lines: int  # their order lines, left out


def scoring_cutoff(model_cutoff: dt.date, orders: pl.DataFrame) -> dt.date:
    """The day after the last order of ``orders``, or the model's cut-off when later."""
    if orders.height == 0:
        return model_cutoff
    last = as_date(orders["order_date"].max()) + dt.timedelta(days=1)
    return max(model_cutoff, last)


PLAN = FRESH_PLAN
"""Where a planned engine (``plan_orders``) keeps its ``Plan``."""
ROWS = "_fresh_rows"
"""Where a planned engine keeps its per-customer rows until it is split."""
ORIGIN = "origin"
"""The per-customer table naming the customers scored from the orders (``c, origin``)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What every bucket of customers scored from the orders shares, besides the model's
    shared engine: the date they are scored at, the codes' count, the products the
    neighbours' evidence explores, the segments' favourites and the launches, the peers of
    the products to develop."""

    cutoff: dt.date
    n_all: int
    columns: np.ndarray
    favourites: pl.DataFrame
    launches: pl.DataFrame
    peers: Peers


def with_orders(
    model: NextOrderModel,
    orders: pl.DataFrame,
    customers: pl.DataFrame | None = None,
    *,
    only: pl.Series | None = None,
) -> Fresh:
    """The engine of ``model`` (a whole fitted ``NextOrderModel``) for the customers of
    ``orders`` (canonical order lines), each scored from its lines there, and of the model's
    other customers as fitted. ``customers``: the customers table (segment, region, channel,
    coordinates) of customers the model does not know — a fitted customer keeps its fitted
    attributes — and the coordinates of the fitted ones, that place new shops among them.
    ``only``: the customer ids to build (the targets'; default: every customer)."""
    planned = plan_orders(model, orders, customers, only=only)
    shared, rows = split_planned(planned)
    engine = engine_of(shared, rows)
    info = planned.__dict__["from_orders_"]
    return Fresh(
        engine=engine,
        cutoff=dt.date.fromisoformat(info["cutoff"]),
        customers=info["customers"],
        new_customers=info["new_customers"],
        unknown_products=info["unknown_products"],
        unknown_lines=info["unknown_lines"],
    )


def plan_orders(
    model: NextOrderModel,
    orders: pl.DataFrame,
    customers: pl.DataFrame | None = None,
    *,
    only: pl.Series | None = None,
) -> NextOrderModel:
    """``with_orders`` in two steps, for the backends: the *planned* engine, whose ``split``
    gives the model's shared engine (with the plan) and the per-customer rows — the fitted
    customers' tables, and the coded lines, first order and attributes of the customers of
    the orders — and whose shared engine's ``for_customers`` computes the rest of the
    customers' tables (vectors, neighbours, candidates, shares, development) from their
    lines, bucket by bucket. The driver's work is a pass over the lines (codes, the
    look-back, first dates) and the nearby shops; the rest is the buckets'."""
    p = model.params_
    n_model = model.codes_.n_customers
    cutoff = scoring_cutoff(model.cutoff_, orders)
    known_p = model.codes_.products
    history = orders.filter(pl.col("order_date") < cutoff)
    if only is not None:
        history = history.filter(pl.col("customer_id").is_in(only.implode()))
    unknown = history.join(known_p, on="product_id", how="anti")
    history = history.join(known_p.select("product_id"), on="product_id", how="semi")
    ids = history.select(pl.col("customer_id").unique().sort())
    fresh_ids = (
        ids.with_row_index("c", offset=n_model)
        .with_columns(pl.col("c").cast(CODE))
        .join(model.codes_.customers.rename({"c": "origin"}), on="customer_id", how="left")
        .select("customer_id", "c", "origin")
    )
    codes = fresh_ids.select("customer_id", "c")
    lines = coded_lines(recent_part(history, cutoff, model.spacing_, p), codes, known_p)
    first = (
        history.group_by("customer_id")
        .agg(pl.col("order_date").min().alias("c_first"))
        .join(fresh_ids, on="customer_id")
        .join(
            model.first_order_.rename({"c": "origin", "c_first": "_fitted"}),
            on="origin",
            how="left",
        )
        .select("c", pl.min_horizontal("c_first", "_fitted").alias("c_first"))
        .sort("c")
    )
    first = first.with_columns(pl.col("c_first").cast(model.first_order_.schema["c_first"]))
    ctx = model.context_
    attributes = _attributes(model, fresh_ids, customers)
    snap = model.snapshot_
    favourites, launches = extra_offers(
        snap.window, model.cutoff_, ctx, p.novelties, model.first_seen_
    )
    plan = Plan(
        cutoff=cutoff,
        n_all=n_model + fresh_ids.height,
        columns=bought_columns(snap.matrix),
        favourites=favourites,
        launches=launches,
        peers=development_peers(snap.window, model.cutoff_, ctx),
    )
    shared, fitted = split_engine(model)
    rows: CustomerRows = {
        "lines": lines,
        "first_order": first,
        "customers": codes,
        "context_customers": attributes.select("c", "segment", "region", "channel"),
        ORIGIN: fresh_ids.select("c", "origin"),
    }
    shared.context_ = dataclasses.replace(
        shared.context_, geo=_geo(model, attributes, fresh_ids, customers)
    )
    shared.__dict__["from_orders_"] = {
        "cutoff": cutoff.isoformat(),
        "customers": fresh_ids.height,
        "new_customers": int(fresh_ids["origin"].null_count()),
        "unknown_products": unknown["product_id"].n_unique(),
        "unknown_lines": unknown.height,
    }
    shared.__dict__[PLAN] = plan
    shared.__dict__[ROWS] = _with_fitted(rows, fitted, model, fresh_ids, only)
    return shared


def fresh_tables(
    shared: NextOrderModel, rows: Mapping[str, pl.DataFrame]
) -> tuple[dict[str, pl.DataFrame], sp.csr_matrix]:
    """``rows`` (a planned engine's, cut to some customers) with the tables of the customers
    of the orders among them computed from their lines, and the customers' vectors: the
    model's rows, then theirs."""
    plan: Plan = shared.__dict__[PLAN]
    p = shared.params_
    snap = shared.snapshot_
    n_model = snap.matrix.shape[0]
    origin = rows.get(ORIGIN)
    out = {name: frame for name, frame in rows.items() if name != ORIGIN}
    shape = (plan.n_all, shared.codes_.n_products)
    if origin is None or origin.height == 0:
        own = sp.csr_matrix(shape)
        return out, sp.vstack([snap.matrix, own[n_model:]], format="csr")
    origin = origin.sort("c")
    mine = origin.select("c")
    lines = rows["lines"].join(mine, on="c", how="semi")
    segments = rows["context_customers"].join(mine, on="c", how="semi")
    window = snapshot_lines(lines, plan.cutoff, p.lookback_days)
    vectors = tifu_vectors(window, order_table(window), shared.tifu_)
    own = to_csr(vectors, "u", shape)
    matrix = sp.vstack([snap.matrix, own[n_model:]], format="csr")
    active = window["c"].unique().sort().to_numpy().astype(np.int64)
    itself = (
        pl.DataFrame({"c": pl.Series(active, dtype=CODE)})
        .join(origin, on="c", how="left")["origin"]
        .fill_null(-1)
        .to_numpy()
        .astype(np.int64)
    )
    # searched among the fitted customers only: a customer's neighbours do not depend on
    # which other customers are scored with it
    neighbours = nearest_neighbours(
        snap.matrix, shared.tifu_.k, metric=shared.tifu_.metric, rows=itself, queries=own[active]
    )
    neighbour = (
        candidate_scores(
            matrix,
            neighbours,
            explore=p.explore,
            rows=active,
            items=snap.items,
            columns=plan.columns,
        )
        .join(vectors, on=["c", "p"], how="left")
        .with_columns(pl.col("u").fill_null(0.0))
    )
    served = pl.DataFrame({"c": pl.Series(active, dtype=CODE)})
    extra = extra_pairs(plan.favourites, plan.launches, served, segments, window).join(
        neighbour.select("c", "p"), on=["c", "p"], how="anti"
    )
    extra = pair_scores(matrix, neighbours, active, extra, items=snap.items)
    own_ctx = dataclasses.replace(shared.context_, customers=segments)
    categories, brands = customer_shares(window, plan.cutoff, own_ctx)
    development = development_against(
        plan.peers,
        shared.context_,
        window,
        plan.cutoff,
        segments.select("c", "segment").join(origin, on="c"),
        p.novelties,
        chunk=p.customers_per_bucket,
    ).sort("c", "p")
    computed = {
        "development": development,
        "neighbour": neighbour.sort("c", "p"),
        "extra": extra.sort("c", "p"),
        NEIGHBOURS: pl.DataFrame(
            {
                "c": pl.Series(active, dtype=pl.UInt32),
                NEIGHBOURS: pl.Series(np.asarray(neighbours, dtype=np.int64)),
            }
        ),
        "categories": categories,
        "brands": brands,
    }
    for name, frame in computed.items():
        fitted = out.get(name)
        out[name] = (
            frame
            if fitted is None or fitted.height == 0
            else pl.concat([fitted, frame.select(fitted.columns).cast(fitted.schema)])
        )
    return out, matrix


def _attributes(
    model: NextOrderModel, fresh: pl.DataFrame, customers: pl.DataFrame | None
) -> pl.DataFrame:
    """``c, segment, region, channel, lat, lon`` of the fresh customers (``customer_id, c,
    origin``): a fitted one's fitted segment, region and channel, a new one's from the
    customers table; the coordinates from the customers table."""
    given = customer_attributes(fresh.select("customer_id", "c"), customers)
    names = ("segment", "region", "channel")
    fitted = model.context_.customers.select(
        pl.col("c").alias("origin"), *(pl.col(n).alias(f"_{n}") for n in names)
    )
    return (
        given.join(fresh.select("c", "origin"), on="c")
        .join(fitted, on="origin", how="left")
        .select(
            "c",
            *(
                pl.when(pl.col("origin").is_not_null())
                .then(pl.col(f"_{n}"))
                .otherwise(pl.col(n))
                .alias(n)
                for n in names
            ),
            "lat",
            "lon",
        )
        .sort("c")
    )


def _geo(
    model: NextOrderModel,
    attributes: pl.DataFrame,
    fresh: pl.DataFrame,
    customers: pl.DataFrame | None,
) -> sp.csr_matrix | None:
    """The nearby-shop matrix with the fresh customers' rows after the fitted ones: a fitted
    customer's fitted row; a new one's nearest fitted customers (placed by the customers
    table's coordinates), or none."""
    geo = model.context_.geo
    if geo is None:
        return None
    n_model = geo.shape[0]
    rows = sp.csr_matrix((fresh.height, n_model))
    if customers is not None and {"latitude", "longitude"} <= set(customers.columns):
        peers = customer_attributes(model.codes_.customers, customers).select("c", "lat", "lon")
        near = nearby_rows(
            peers,
            attributes.select("c", "lat", "lon"),
            n_model,
            model.params_.novelties.geo_neighbours,
        )
        if near is not None:
            rows = near
    fitted = fresh["origin"].is_not_null().to_numpy()
    known = np.flatnonzero(fitted)
    if len(known):  # a fitted customer keeps its fitted row
        source = fresh["origin"].drop_nulls().to_numpy().astype(np.int64)
        pick = sp.csr_matrix((np.ones(len(known)), (known, source)), shape=(fresh.height, n_model))
        rows = sp.diags((~fitted).astype(np.float64)) @ rows + pick @ geo
    return sp.vstack([geo, rows], format="csr")


def _with_fitted(
    rows: CustomerRows,
    fitted: CustomerRows,
    model: NextOrderModel,
    fresh: pl.DataFrame,
    only: pl.Series | None,
) -> CustomerRows:
    """``rows`` with the fitted rows of the model's customers the orders do not name (of
    ``only``, when given)."""
    kept = model.codes_.customers.join(fresh.select("customer_id"), on="customer_id", how="anti")
    if only is not None:
        kept = kept.filter(pl.col("customer_id").is_in(only.implode()))
    mine = kept.select("c")
    out: CustomerRows = dict(rows)
    for name, theirs in fitted.items():
        theirs = theirs.join(mine, on="c", how="semi")
        frame = rows.get(name)
        out[name] = (
            theirs
            if frame is None
            else pl.concat([theirs, frame.select(theirs.columns).cast(theirs.schema)])
        )
    return out


def split_planned(
    planned: NextOrderModel, anchors: Sequence[dt.date] = ()
) -> tuple[NextOrderModel, CustomerRows]:
    """A planned engine (``plan_orders``) as its shared engine and per-customer rows
    (``NextOrderModel.split``); its targets follow the orders, so no anchor."""
    if anchors:
        raise ValueError(
            "customers scored from the orders are scored after them, not inside the history"
        )
    shared = copy.copy(planned)
    shared.__dict__ = {k: v for k, v in planned.__dict__.items() if k != ROWS}
    return shared, planned.__dict__[ROWS]
