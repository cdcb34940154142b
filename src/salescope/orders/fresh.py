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

Customers the model knows but ``orders`` does not name keep their fitted tables. Lines of
products the model does not know (no statistics, no code) are left out and counted
(``Fresh.unknown_products``); targets must be dated on or after ``Fresh.cutoff``, the day after
the last order read (or the model's cut-off, when later).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
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
    customer_attributes,
    customer_shares,
    development_against,
    extra_offers,
    extra_pairs,
    nearby_rows,
)
from salescope.orders.split import CustomerRows, engine_of, split_engine
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
    segments = attributes.select("c", "segment", "region", "channel")
    origin = fresh_ids.select("c", "origin")

    # the customers' vectors: rows added after the fitted ones
    snap = model.snapshot_
    window = snapshot_lines(lines, cutoff, p.lookback_days)
    vectors = tifu_vectors(window, order_table(window), model.tifu_)
    n_all = n_model + fresh_ids.height
    own = to_csr(vectors, "u", (n_all, model.codes_.n_products))
    matrix = sp.vstack([snap.matrix, own[n_model:]], format="csr")
    active = window["c"].unique().sort().to_numpy().astype(np.int64)
    itself = (
        pl.DataFrame({"c": pl.Series(active, dtype=CODE)})
        .join(origin, on="c", how="left")["origin"]
        .fill_null(-1)
        .to_numpy()
        .astype(np.int64)
    )
    neighbours = nearest_neighbours(
        snap.matrix,
        model.tifu_.k,
        metric=model.tifu_.metric,
        rows=itself,
        queries=own[active],
    )
    columns = bought_columns(snap.matrix)
    neighbour = (
        candidate_scores(
            matrix, neighbours, explore=p.explore, rows=active, items=snap.items, columns=columns
        )
        .join(vectors, on=["c", "p"], how="left")
        .with_columns(pl.col("u").fill_null(0.0))
    )
    favourites, launches = extra_offers(
        snap.window, model.cutoff_, ctx, p.novelties, model.first_seen_
    )
    served = pl.DataFrame({"c": pl.Series(active, dtype=CODE)})
    extra = extra_pairs(favourites, launches, served, segments, window).join(
        neighbour.select("c", "p"), on=["c", "p"], how="anti"
    )
    extra = pair_scores(matrix, neighbours, active, extra, items=snap.items)
    own_ctx = dataclasses.replace(ctx, customers=segments)
    categories, brands = customer_shares(window, cutoff, own_ctx)
    development = development_against(
        snap.window,
        model.cutoff_,
        ctx,
        window,
        cutoff,
        segments.select("c", "segment").join(origin, on="c"),
        p.novelties,
        chunk=p.customers_per_bucket,
    ).sort("c", "p")

    shared, fitted = split_engine(model)
    rows: CustomerRows = {
        "lines": lines,
        "first_order": first,
        "customers": codes,
        "context_customers": segments,
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
    rows = _with_fitted(rows, fitted, model, fresh_ids, only)
    shared.snapshot_ = dataclasses.replace(shared.snapshot_, matrix=matrix)
    shared.context_ = dataclasses.replace(
        shared.context_, geo=_geo(model, attributes, fresh_ids, customers)
    )
    engine = engine_of(shared, rows)
    engine.__dict__["from_orders_"] = {
        "cutoff": cutoff.isoformat(),
        "customers": fresh_ids.height,
        "new_customers": int(fresh_ids["origin"].null_count()),
        "unknown_products": unknown["product_id"].n_unique(),
        "unknown_lines": unknown.height,
    }
    return Fresh(
        engine=engine,
        cutoff=cutoff,
        customers=fresh_ids.height,
        new_customers=int(fresh_ids["origin"].null_count()),
        unknown_products=unknown["product_id"].n_unique(),
        unknown_lines=unknown.height,
    )


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
    if kept.height == 0:
        return rows
    mine = kept.select("c")
    out: CustomerRows = {}
    for name, frame in rows.items():
        theirs = fitted.get(name)
        if theirs is None:
            out[name] = frame
            continue
        theirs = theirs.join(mine, on="c", how="semi")
        out[name] = pl.concat([theirs, frame.select(theirs.columns).cast(theirs.schema)])
    return out
