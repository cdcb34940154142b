"""Novelties of the optimal order: development, range extension and objective lines.

The usual lines say what a customer will order anyway; novelties are what it could order more
of (``development``), what it never bought — or not in the last year — and would probably
adopt (``extension``), and what the business wants sold to its segment (``objective``).

* **Adoption model.** Range extension needs a ranking of the products a customer lacks. At
  every training cut-off of the next-order engine the never-bought candidates (its neighbours'
  and similar products', its segment's favourites, recent launches) and the lapsed ones are
  labelled with the customer's next order, and a dedicated LightGBM classifier learns from them
  with the collaborative evidence (user- and item-kNN), the customer's segment and nearby shops
  (``seg_share``, ``geo_share``), its affinity to the product's category and brand
  (``cat_share``, ``brand_share`` — what a launch without history is known by), the product's
  recent adoption and the customer's appetite for new products. Its probabilities are Platt
  calibrated on the latest cut-off: ``p_adopt`` is the chance the product is in the next order
  *without being proposed*.
* **Acceptance.** What a proposal shows is the chance the customer accepts the line *when it is
  proposed*. History holds no proposals, so before any feedback it is the share of the
  customer's most similar customers that buy the product (``acceptance_prior``); the natural
  adoption probability ranks rank mode, but in history it mostly measures how hard a product
  was pushed. Feedback (``salescope feedback``) recalibrates the acceptance on the outcomes of
  the novelties really shown.
* **Development.** A product the customer buys in the last year at less than
  ``development_ratio`` of what peers of its segment and size band buy of it per month: the
  line's quantity is raised toward the peers' level.
* **Objectives.** Active objectives (``objectives`` table) of the customer's segment, region or
  channel for products it lacks, scored by the adoption model.
* **Gating.** A novelty is shown when its acceptance probability and expected value pass
  thresholds, and not resting; at most ``max_novelties`` per proposal, the most valuable first.

Everything is pure computation on frames with integer codes ``c`` (customer) and ``p``
(product), like the rest of the engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import polars as pl
import scipy.sparse as sp

from salescope.domain.errors import NotFittedError
from salescope.geo import NeighbourIndex
from salescope.orders.boosting import Isotonic, Platt, Trees, boosted, logit, matrix
from salescope.orders.history import Codes, by_code


@dataclass(frozen=True)
class NoveltyParams:
    """Knobs of the novelties (loadable with the engine's TOML, table ``novelties``)."""

    max_novelties: int = 3
    min_probability: float = 0.3  # acceptance probability to show an extension / development
    min_objective_probability: float = 0.2  # the business wants these: a lower bar
    min_development_probability: float = 0.3  # takes the larger quantity (history's own scale)
    # before any feedback: about this share of the proposals offer a new product, those whose
    # best candidate is the most promising (acceptance on the history's adoption scale), so
    # that feedback can set the scale
    explore_share: float = 0.2
    min_value: float = 0.0  # expected margin of the line (probability x quantity x unit margin)
    lapsed_days: int = 365  # bought before, but not in this many days: an extension again
    adoption_orders: int = 1  # adopted: bought within this many orders (acceptance prior)
    development_ratio: float = 0.5  # buys less than this share of its peers' monthly quantity
    geo_neighbours: int = 20  # nearby customers for geo_share
    segment_candidates: int = 20  # segment favourites a customer lacks, as candidates
    launch_days: int = 120  # products first sold (or launched) this recently are launches
    launch_candidates: int = 30

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be between 0 and 1"
            for name in (
                "min_probability",
                "min_objective_probability",
                "min_development_probability",
                "explore_share",
                "development_ratio",
            )
            if not 0.0 <= getattr(self, name) <= 1.0
        ]
        problems += [
            f"{name} must not be negative"
            for name in (
                "max_novelties",
                "lapsed_days",
                "geo_neighbours",
                "segment_candidates",
                "launch_days",
                "launch_candidates",
            )
            if getattr(self, name) < 0
        ]
        if self.adoption_orders < 1:
            problems.append("adoption_orders must be at least 1")
        if problems:
            raise ValueError("invalid NoveltyParams: " + "; ".join(problems))


# -- context: who is who ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Context:
    """Customer and product attributes by code, and the nearby-customer matrix."""

    customers: pl.DataFrame  # c, segment, region, channel
    products: pl.DataFrame  # p, category, brand, offerable, launch_date, unit_price, margin
    geo: sp.csr_matrix | None  # row-normalised: each customer's nearest customers


def _text(frame: pl.DataFrame, column: str) -> pl.Expr:
    if column in frame.columns:
        return pl.col(column).cast(pl.String)
    return pl.lit(None, dtype=pl.String)


def _number(frame: pl.DataFrame, column: str) -> pl.Expr:
    if column in frame.columns:
        return pl.col(column).cast(pl.Float64)
    return pl.lit(None, dtype=pl.Float64)


def build_context(
    codes: Codes,
    customers: pl.DataFrame | None,
    products: pl.DataFrame | None,
    *,
    geo_neighbours: int = 20,
) -> Context:
    """Attributes of the coded customers and products. Missing tables or columns mean no
    segment (every customer in one), no coordinates (no nearby evidence), no category, every
    product offerable, a unit margin of 1."""
    cust = customer_attributes(codes.customers, customers)
    prod = codes.products
    if products is not None and products.height:
        offerable = pl.lit(True)
        if "own" in products.columns:
            offerable = offerable & pl.col("own").cast(pl.Boolean).fill_null(True)
        if "active" in products.columns:
            offerable = offerable & pl.col("active").cast(pl.Boolean).fill_null(True)
        price = _number(products, "unit_price")
        cost = _number(products, "unit_cost")
        attrs = products.select(
            "product_id",
            _text(products, "category").alias("category"),
            _text(products, "brand").alias("brand"),
            offerable.alias("offerable"),
            (
                pl.col("launch_date").cast(pl.Date)
                if "launch_date" in products.columns
                else pl.lit(None, dtype=pl.Date)
            ).alias("launch_date"),
            price.alias("unit_price"),
            pl.coalesce(price - cost, price).alias("margin"),
        ).unique("product_id", keep="first")
        prod = prod.join(attrs, on="product_id", how="left")
    else:
        prod = prod.with_columns(
            pl.lit(None, dtype=pl.String).alias("category"),
            pl.lit(None, dtype=pl.String).alias("brand"),
            pl.lit(True).alias("offerable"),
            pl.lit(None, dtype=pl.Date).alias("launch_date"),
            pl.lit(None, dtype=pl.Float64).alias("unit_price"),
            pl.lit(None, dtype=pl.Float64).alias("margin"),
        )
    prod = prod.sort("p").with_columns(
        pl.col("offerable").fill_null(True),
        pl.col("margin").fill_null(1.0).clip(lower_bound=0.0),
    )
    return Context(
        cust.drop("customer_id", "lat", "lon"),
        prod.drop("product_id"),
        _geo_matrix(cust, geo_neighbours),
    )


def customer_attributes(codes: pl.DataFrame, customers: pl.DataFrame | None) -> pl.DataFrame:
    """``customer_id, c`` of ``codes`` (sorted by ``c``) with ``segment`` (``all`` when
    unknown), ``region``, ``channel``, ``lat``, ``lon`` from the customers table."""
    cust = codes
    if customers is not None and customers.height:
        segment = (
            pl.coalesce(_text(customers, "segment"), _text(customers, "channel"))
            if "segment" in customers.columns
            else _text(customers, "channel")
        )
        attrs = customers.select(
            "customer_id",
            segment.alias("segment"),
            _text(customers, "region").alias("region"),
            _text(customers, "channel").alias("channel"),
            _number(customers, "latitude").alias("lat"),
            _number(customers, "longitude").alias("lon"),
        ).unique("customer_id", keep="first")
        cust = cust.join(attrs, on="customer_id", how="left")
    else:
        cust = cust.with_columns(
            *(pl.lit(None, dtype=pl.String).alias(n) for n in ("segment", "region", "channel")),
            *(pl.lit(None, dtype=pl.Float64).alias(n) for n in ("lat", "lon")),
        )
    return cust.sort("c").with_columns(pl.col("segment").fill_null("all"))


def _located(customers: pl.DataFrame) -> pl.DataFrame:
    return customers.filter(
        pl.col("lat").is_not_null()
        & pl.col("lon").is_not_null()
        & pl.col("lat").is_between(-90, 90)
        & pl.col("lon").is_between(-180, 180)
    )


def nearby_rows(
    peers: pl.DataFrame, customers: pl.DataFrame, n_peers: int, k: int
) -> sp.csr_matrix | None:
    """``Context.geo``'s rows of ``customers`` (``c, lat, lon``; row ``i`` of the result for
    the ``i``-th) among the located ``peers`` (``c, lat, lon``, codes below ``n_peers``) only:
    each one's ``k`` nearest peers, weights 1/k; None when fewer than ``k`` peers are
    located."""
    located = _located(peers)
    if located.height < k or k < 1:
        return None
    mine = customers.with_row_index("_i")
    placed = _located(mine)
    index = NeighbourIndex(
        located["lat"].to_numpy().astype(np.float64), located["lon"].to_numpy().astype(np.float64)
    )
    _, idx = index.query(
        placed["lat"].to_numpy().astype(np.float64),
        placed["lon"].to_numpy().astype(np.float64),
        k,
        exclude_self=False,
    )
    codes = located["c"].to_numpy().astype(np.int64)
    rows = np.repeat(placed["_i"].to_numpy().astype(np.int64), k)
    return sp.csr_matrix(
        (np.full(rows.size, 1.0 / k), (rows, codes[idx].ravel())),
        shape=(mine.height, n_peers),
    )


def _geo_matrix(customers: pl.DataFrame, k: int) -> sp.csr_matrix | None:
    """Each located customer's ``k`` nearest located customers (great-circle), weights 1/k."""
    located = customers.filter(
        pl.col("lat").is_not_null()
        & pl.col("lon").is_not_null()
        & pl.col("lat").is_between(-90, 90)
        & pl.col("lon").is_between(-180, 180)
    )
    if located.height <= k or k < 1:
        return None
    lat = located["lat"].to_numpy().astype(np.float64)
    lon = located["lon"].to_numpy().astype(np.float64)
    _, idx = NeighbourIndex(lat, lon).query(lat, lon, k, exclude_self=True)
    codes = located["c"].to_numpy().astype(np.int64)
    rows = np.repeat(codes, k)
    cols = codes[idx].ravel()
    n = customers.height
    return sp.csr_matrix((np.full(rows.size, 1.0 / k), (rows, cols)), shape=(n, n))


# -- pair evidence at a cut-off ---------------------------------------------------------------
CONTEXT_FEATURES: tuple[str, ...] = (
    "seg_share",
    "geo_share",
    "cat_share",
    "brand_share",
    "p_adopt_90",
)


def _recent_pairs(window: pl.DataFrame, cutoff: dt.date, days: int = 365) -> pl.DataFrame:
    return (
        window.filter(pl.col("d") >= cutoff - dt.timedelta(days=days))
        .group_by("c", "p")
        .agg(pl.len().alias("_lines"))
    )


def segment_shares(window: pl.DataFrame, cutoff: dt.date, ctx: Context) -> pl.DataFrame:
    """``segment, p, seg_share``: share of the segment's active customers (last year) that
    bought the product in that year."""
    recent = _recent_pairs(window, cutoff).join(ctx.customers.select("c", "segment"), on="c")
    sizes = recent.group_by("segment").agg(pl.col("c").n_unique().alias("_n"))
    return (
        recent.group_by("segment", "p")
        .agg(pl.len().alias("_buyers"))
        .join(sizes, on="segment")
        .select("segment", "p", (pl.col("_buyers") / pl.col("_n")).alias("seg_share"))
    )


@dataclass(frozen=True, slots=True)
class Evidence:
    """What ``pair_context`` joins, computed once per snapshot: segment shares, each customer's
    category and brand shares, products' recent adoption, and who bought what in the last
    year (for the nearby shops' share)."""

    segments: pl.DataFrame  # segment, p, seg_share
    categories: pl.DataFrame  # c, category, cat_share
    brands: pl.DataFrame  # c, brand, brand_share
    adoption: pl.DataFrame  # p, p_adopt_90
    bought: sp.csr_matrix | None  # customers x products, 1 where bought in the last year
    # ``_Lookup`` of the evidence with a context, built by the first small ``pair_context``
    lookups: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)


def context_evidence(window: pl.DataFrame, cutoff: dt.date, ctx: Context) -> Evidence:
    """The snapshot's ``Evidence`` from its window at ``cutoff``."""
    recent = _recent_pairs(window, cutoff)
    shares = _shares(recent, ctx)
    bought = None
    if ctx.geo is not None:
        bought = sp.csr_matrix(
            (
                np.ones(recent.height),
                (recent["c"].to_numpy().astype(np.int64), recent["p"].to_numpy().astype(np.int64)),
            ),
            shape=(ctx.geo.shape[0], ctx.products.height),
        )
        bought.data[:] = 1.0
    return Evidence(
        segment_shares(window, cutoff, ctx).sort("segment", "p"),
        shares[0],
        shares[1],
        _adoption_rates(window, cutoff).sort("p"),
        bought,
    )


def _shares(recent: pl.DataFrame, ctx: Context) -> list[pl.DataFrame]:
    """Each customer's share of its recent lines by category and by brand."""
    shares = []
    for key, name in (("category", "cat_share"), ("brand", "brand_share")):
        shares.append(
            recent.join(ctx.products.select("p", key), on="p")
            .filter(pl.col(key).is_not_null())
            .group_by("c", key)
            .agg(pl.col("_lines").sum().alias("_k"))
            .with_columns((pl.col("_k") / pl.col("_k").sum().over("c")).alias(name))
            .select("c", key, name)
            .sort("c", key)
        )
    return shares


def customer_shares(
    window: pl.DataFrame, cutoff: dt.date, ctx: Context
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``Evidence.categories`` and ``Evidence.brands`` of the customers of ``window``: their
    own business only (``context_evidence`` computes them with the rest)."""
    categories, brands = _shares(_recent_pairs(window, cutoff), ctx)
    return categories, brands


def pair_context(evidence: Evidence, ctx: Context, pairs: pl.DataFrame) -> pl.DataFrame:
    """``pairs`` (``c, p``, any other columns) with ``CONTEXT_FEATURES``: segment adoption,
    nearby customers buying the product, the customer's share of lines in the product's
    category and brand, and the product's adoption by established customers in 90 days.

    A request's few hundred pairs are looked up with NumPy in sorted keys built once per
    evidence (``_Lookup``); a larger frame, or one the look-up cannot answer as the joins
    do, is joined."""
    looked = _looked_up(evidence, ctx, pairs) if pairs.height <= SMALL_PAIRS else None
    return context_query(evidence, ctx, pairs) if looked is None else looked


def context_query(evidence: Evidence, ctx: Context, pairs: pl.DataFrame) -> pl.DataFrame:
    """``pair_context`` as joins: for large frames, and the reference the look-up is tested
    against."""
    # one query, not a dozen: a request has a few hundred pairs; the customers' and the
    # products' attributes are looked up by code, and an empty evidence frame joins nothing
    segment = (
        None if "segment" in pairs.columns else by_code(ctx.customers, "c", pairs["c"], ["segment"])
    )
    named = (
        None
        if {"category", "brand"} & set(pairs.columns)
        else by_code(ctx.products, "p", pairs["p"], ["category", "brand"])
    )
    lazy = pairs.lazy()
    if segment is None:
        lazy = lazy.join(
            ctx.customers.lazy().select("c", "segment"), on="c", how="left", maintain_order="left"
        )
    else:
        lazy = lazy.with_columns(segment)
    lazy = lazy.join(
        evidence.segments.lazy(), on=["segment", "p"], how="left", maintain_order="left"
    )
    if named is None:
        lazy = lazy.join(
            ctx.products.lazy().select("p", "category", "brand"),
            on="p",
            how="left",
            maintain_order="left",
        )
    else:
        lazy = lazy.with_columns(named)
    for shares, key in ((evidence.categories, "category"), (evidence.brands, "brand")):
        if shares.height:
            lazy = lazy.join(shares.lazy(), on=["c", key], how="left", maintain_order="left")
        else:
            lazy = lazy.with_columns(
                pl.lit(None, dtype=shares.schema[n]).alias(n)
                for n in shares.columns
                if n not in ("c", key)
            )
    # one query: the evidence tables hold one row per key, so the rows stay ``pairs``'
    geo = pl.Series("geo_share", _geo_share(evidence.bought, ctx, pairs), dtype=pl.Float64)
    return (
        lazy.with_columns(geo)
        .join(evidence.adoption.lazy(), on="p", how="left", maintain_order="left")
        .with_columns(*(pl.col(f).fill_null(0.0) for f in CONTEXT_FEATURES if f != "geo_share"))
        .drop("segment", "category", "brand")
        .collect(engine="in-memory")
    )


SMALL_PAIRS = 20_000
"""Up to this many pairs ``pair_context`` looks the evidence up with NumPy."""

_CONTEXT_COLUMNS = {
    "segments": ["segment", "p", "seg_share"],
    "categories": ["c", "category", "cat_share"],
    "brands": ["c", "brand", "brand_share"],
    "adoption": ["p", "p_adopt_90"],
}
"""The columns of each evidence frame the look-up answers for (one row per key)."""


@dataclass(frozen=True, slots=True)
class _Keyed:
    """One evidence frame as sorted unique int64 keys and their Float64 values."""

    keys: np.ndarray
    values: np.ndarray

    def get(self, wanted: np.ndarray) -> np.ndarray:
        """The value of each wanted key, 0.0 where none (a left join, nulls filled)."""
        if len(self.keys) == 0:
            return np.zeros(len(wanted))
        at = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
        return np.where(self.keys[at] == wanted, self.values[at], 0.0)


@dataclass(frozen=True, slots=True)
class _Lookup:
    """The evidence of a context keyed for NumPy look-ups: strings (segments, categories,
    brands) as integer codes (-1 for null, which no join matches), each customer's segment
    and each product's category and brand by code."""

    ctx: Context
    n_products: int
    segment_of: np.ndarray  # per customer code
    category_of: np.ndarray  # per product code
    brand_of: np.ndarray
    n_categories: int
    n_brands: int
    segments: _Keyed  # segment * n_products + p
    categories: _Keyed  # c * n_categories + category
    brands: _Keyed  # c * n_brands + brand
    adoption: _Keyed  # p


def _codes(values: pl.Series, names: pl.Series) -> np.ndarray:
    """The position of each value among ``names`` (unique, no null), -1 for a null."""
    frame = pl.DataFrame({"name": names, "code": np.arange(names.len(), dtype=np.int64)})
    found = pl.DataFrame({"name": values}).join(frame, on="name", how="left", maintain_order="left")
    return found.get_column("code").fill_null(-1).to_numpy().astype(np.int64)


def _keyed(keys: np.ndarray, values: pl.Series) -> _Keyed | None:
    """Sorted ``keys`` with their values; None when a key repeats (a join would repeat the
    row) or a value is null (a join gives null, filled with 0, not NaN)."""
    if values.null_count():
        return None
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    if len(keys) > 1 and not (np.diff(keys) > 0).all():
        return None
    return _Keyed(keys, values.to_numpy().astype(np.float64)[order])


def _lookup(evidence: Evidence, ctx: Context) -> _Lookup | None:
    """The look-up of ``evidence`` with ``ctx``, kept on the evidence while the context is
    the same; None when the frames are not what it answers for as the joins do."""
    kept = evidence.lookups.get("pairs")
    if kept is None or kept[0] is not ctx:
        kept = evidence.lookups["pairs"] = (ctx, _build_lookup(evidence, ctx))
    built: _Lookup | None = kept[1]
    return built


def _build_lookup(evidence: Evidence, ctx: Context) -> _Lookup | None:
    """``_Lookup`` of ``evidence`` with ``ctx``, or None: codes that are not row numbers,
    frames of other columns or types, a null key or value, a repeated key."""
    customers, products = ctx.customers, ctx.products
    frames = {
        "segments": evidence.segments,
        "categories": evidence.categories,
        "brands": evidence.brands,
        "adoption": evidence.adoption,
    }
    codes = {"c": customers.schema["c"], "p": products.schema["p"]}
    for name, frame in frames.items():
        columns = _CONTEXT_COLUMNS[name]
        if frame.columns != columns or frame.schema[columns[-1]] != pl.Float64:
            return None
        for key in columns[:-1]:
            if frame.schema[key] != codes.get(key, pl.String) or frame[key].null_count():
                return None
    for table, code in ((customers, "c"), (products, "p")):
        if not np.array_equal(table[code].to_numpy(), np.arange(table.height)):
            return None
    strings = (customers.schema["segment"], products.schema["category"], products.schema["brand"])
    if any(dtype != pl.String for dtype in strings):
        return None
    highest = [
        int(frames[f]["p"].to_numpy().max()) for f in ("segments", "adoption") if frames[f].height
    ]
    n_products = max([products.height, *(1 + h for h in highest)])
    segments = frames["segments"]
    seg_names = pl.concat([customers["segment"], segments["segment"]]).drop_nulls().unique()
    seg = _keyed(
        _codes(segments["segment"], seg_names) * n_products
        + segments["p"].to_numpy().astype(np.int64),
        segments["seg_share"],
    )
    of: dict[str, tuple[np.ndarray, int, _Keyed | None]] = {}
    for key, name in (("category", "categories"), ("brand", "brands")):
        frame = frames[name]
        names = pl.concat([products[key], frame[key]]).drop_nulls().unique()
        size = max(1, names.len())
        keys = frame["c"].to_numpy().astype(np.int64) * size + _codes(frame[key], names)
        of[key] = (
            _codes(products[key], names),
            size,
            _keyed(keys, frame[_CONTEXT_COLUMNS[name][-1]]),
        )
    adoption = frames["adoption"]
    adopted = _keyed(adoption["p"].to_numpy().astype(np.int64), adoption["p_adopt_90"])
    cat, brand = of["category"][2], of["brand"][2]
    if seg is None or cat is None or brand is None or adopted is None:
        return None
    return _Lookup(
        ctx,
        n_products,
        _codes(customers["segment"], seg_names),
        of["category"][0],
        of["brand"][0],
        of["category"][1],
        of["brand"][1],
        seg,
        cat,
        brand,
        adopted,
    )


def _looked_up(evidence: Evidence, ctx: Context, pairs: pl.DataFrame) -> pl.DataFrame | None:
    """``pair_context`` of ``pairs`` with the look-up, or None (left to the joins): when the
    pairs hold a column the joins would add, a null or unknown code, or codes of another
    type."""
    if {"segment", "category", "brand", *CONTEXT_FEATURES} & set(pairs.columns):
        return None
    customer, product = pairs.get_column("c"), pairs.get_column("p")
    if customer.null_count() or product.null_count():
        return None
    if customer.dtype != ctx.customers.schema["c"] or product.dtype != ctx.products.schema["p"]:
        return None
    look = _lookup(evidence, ctx)
    if look is None:
        return None
    c = customer.to_numpy().astype(np.int64)
    p = product.to_numpy().astype(np.int64)
    if len(c) and (
        min(c.min(), p.min()) < 0
        or c.max() >= len(look.segment_of)
        or p.max() >= len(look.category_of)
    ):
        return None
    segment, category, brand = look.segment_of[c], look.category_of[p], look.brand_of[p]
    # a null segment, category or brand (-1) matches no row
    shares = [
        np.where(segment >= 0, look.segments.get(segment * look.n_products + p), 0.0),
        np.where(category >= 0, look.categories.get(c * look.n_categories + category), 0.0),
        np.where(brand >= 0, look.brands.get(c * look.n_brands + brand), 0.0),
        _geo_share(evidence.bought, ctx, pairs),
        look.adoption.get(p),
    ]
    names = ("seg_share", "cat_share", "brand_share", "geo_share", "p_adopt_90")
    return pairs.hstack(
        [pl.Series(n, v, dtype=pl.Float64) for n, v in zip(names, shares, strict=True)]
    )


def _geo_share(bought: sp.csr_matrix | None, ctx: Context, pairs: pl.DataFrame) -> np.ndarray:
    """Share of each pair's customer's nearest customers that bought the product."""
    if ctx.geo is None or bought is None or pairs.height == 0:
        return np.full(pairs.height, np.nan)
    rows = pairs["c"].to_numpy().astype(np.int64)
    cols = pairs["p"].to_numpy().astype(np.int64)
    wanted, local = np.unique(rows, return_inverse=True)
    near = (ctx.geo[wanted] @ bought).tocsr()
    located = np.asarray(ctx.geo[wanted].sum(axis=1)).ravel() > 0
    values = np.asarray(near[local, cols]).ravel()
    return np.where(located[local], values, np.nan)


def _adoption_rates(window: pl.DataFrame, cutoff: dt.date) -> pl.DataFrame:
    """``p, p_adopt_90``: customers established a year before the cut-off that bought the
    product for the first time (in the window) in the last 90 days, per established customer."""
    year_ago = cutoff - dt.timedelta(days=365)
    established = (
        window.group_by("c").agg(pl.col("d").min().alias("_f")).filter(pl.col("_f") < year_ago)
    )
    n = max(1, established.height)
    firsts = (
        window.join(established.select("c"), on="c")
        .group_by("c", "p")
        .agg(pl.col("d").min().alias("_first"))
        .filter(pl.col("_first") >= cutoff - dt.timedelta(days=90))
    )
    return firsts.group_by("p").agg((pl.len() / n).alias("p_adopt_90"))


def extra_candidates(
    window: pl.DataFrame,
    cutoff: dt.date,
    ctx: Context,
    customers: pl.DataFrame,
    params: NoveltyParams,
    first_seen: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``c, p`` pairs the neighbours may miss, for the customers ``c``: the favourites of the
    customer's segment it lacks, and recent launches (first sold or launched in the last
    ``launch_days``), restricted to offerable products the customer did not buy in the
    window."""
    favourites, launches = extra_offers(window, cutoff, ctx, params, first_seen)
    return extra_pairs(favourites, launches, customers, ctx.customers, window)


def extra_offers(
    window: pl.DataFrame,
    cutoff: dt.date,
    ctx: Context,
    params: NoveltyParams,
    first_seen: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """What ``extra_candidates`` offers, before it is cut to each customer: each segment's
    favourites (``segment, p``) and the recent launches (``p``), from every customer's
    ``window``."""
    offerable = ctx.products.filter(pl.col("offerable")).select("p")
    favourites = (
        segment_shares(window, cutoff, ctx)
        .join(offerable, on="p")
        .sort(["segment", "seg_share", "p"], descending=[False, True, False])
        .group_by("segment", maintain_order=True)
        .head(params.segment_candidates + 10)
        .select("segment", "p")
    )
    since = cutoff - dt.timedelta(days=params.launch_days)
    launched = ctx.products.filter(
        pl.col("offerable")
        & pl.col("launch_date").is_not_null()
        & pl.col("launch_date").is_between(since, cutoff, closed="left")
    ).select("p")
    if first_seen is not None:
        new = (
            first_seen.filter(pl.col("first_d").is_between(since, cutoff, closed="left"))
            .select("p")
            .join(offerable, on="p")
        )
        launched = pl.concat([launched, new]).unique()
    popularity = window.filter(pl.col("d") >= since).group_by("p").agg(pl.len().alias("_n"))
    launches = (
        launched.join(popularity, on="p", how="left")
        .with_columns(pl.col("_n").fill_null(0))
        .sort(["_n", "p"], descending=[True, False])
        .head(params.launch_candidates)
        .select("p")
    )
    return favourites, launches


def extra_pairs(
    favourites: pl.DataFrame,
    launches: pl.DataFrame,
    customers: pl.DataFrame,
    segments: pl.DataFrame,
    window: pl.DataFrame,
) -> pl.DataFrame:
    """``extra_candidates`` of the customers ``c`` from ``extra_offers``: ``segments``
    (``c, segment``) places them, ``window`` (their lines) says what they bought."""
    bought = window.select("c", "p").unique()
    seg = customers.select("c").join(segments.select("c", "segment"), on="c", how="left")
    from_segment = seg.join(favourites, on="segment").select("c", "p")
    from_launches = customers.select("c").join(launches, how="cross")
    return (
        pl.concat([from_segment, from_launches])
        .unique()
        .join(bought, on=["c", "p"], how="anti")
        .with_columns(pl.col("c").cast(pl.UInt32), pl.col("p").cast(pl.UInt32))
        .sort("c", "p")
    )


# -- the adoption model -----------------------------------------------------------------------
ADOPTION_FEATURES: tuple[str, ...] = (
    "seen",
    "n_cp",
    "days_since_cp",
    "nb",
    "nb_share",
    "ii",
    "pop_30",
    "pop_90",
    "pop_365",
    "p_trend",
    "p_trend_30",
    "p_repeat_rate",
    "p_age_days",
    "p_season",
    "c_orders",
    "c_gap",
    "days_since_c",
    "due_c",
    "c_lines",
    "c_tenure",
    "c_new_share",
    *CONTEXT_FEATURES,
)


def adoption_rows(frame: pl.DataFrame, lapsed_days: int) -> pl.DataFrame:
    """The candidates that are extensions: never bought in the window, or not for
    ``lapsed_days`` — with a mask of NumPy arrays (nulls as the filter takes them: a null
    ``seen`` keeps a row only when it lapsed), or the expression when a day is NaN."""
    seen, days = frame.get_column("seen"), frame.get_column("days_since_cp")
    values = days.to_numpy().astype(np.float64)  # nulls as NaN
    nan = np.isnan(values)
    if seen.dtype.is_integer() and days.dtype.is_float() and int(nan.sum()) == days.null_count():
        # a null flag is NaN in the array, never 0
        mask = (seen.to_numpy() == 0) | (np.where(nan, 0.0, values) > lapsed_days)
        return frame.filter(pl.Series(mask, dtype=pl.Boolean))
    return frame.filter(
        (pl.col("seen") == 0) | (pl.col("days_since_cp").fill_null(0.0) > lapsed_days)
    )


@dataclass(frozen=True, slots=True)
class AdoptionParams:
    """The knobs of the adoption model (``AdoptionModel``)."""

    n_estimators: int = 600
    early_stopping_rounds: int = 50
    min_train_positives: int = 20  # fewer adoptions to learn from: the stand-in score
    min_valid_positives: int = 5
    seed: int = 0
    threads: int = 2

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be at least 1"
            for name in (
                "n_estimators",
                "early_stopping_rounds",
                "min_train_positives",
                "min_valid_positives",
                "threads",
            )
            if getattr(self, name) < 1
        ]
        if problems:
            raise ValueError("invalid AdoptionParams: " + "; ".join(problems))


AdoptionSource = Literal["learned", "stand_in"]


class AdoptionModel:
    """P(a product the customer lacks is in its next order), LightGBM + Platt scaling.

    ``AdoptionModel(params).fit(train, valid)``: ``params`` is stored as given and resolved in
    ``fit`` (``params_``). Fitted state ``source_``: ``"learned"`` (``trees_`` and ``platt_``)
    when there were enough adoptions to learn from; ``"stand_in"`` when not, and then a
    transparent score stands in (neighbours', segment's and nearby shops' shares, scaled by
    the customer's appetite for new products). ``predict`` before ``fit`` raises
    ``NotFittedError``."""

    def __init__(self, params: AdoptionParams | None = None) -> None:
        self.params = params

    def fit(self, train: pl.DataFrame, valid: pl.DataFrame) -> AdoptionModel:
        """Learn from labelled extension candidates; ``valid`` (a later cut-off) stops the
        boosting and calibrates. Too few positives: the stand-in score."""
        p = self.params_ = self.params or AdoptionParams()
        self.trees_: Trees | None = None
        self.platt_: Platt | None = None
        self.source_: AdoptionSource = "stand_in"
        self.summary_: dict[str, Any] = {
            "train_rows": train.height,
            "train_positives": int(train["label"].sum()) if train.height else 0,
            "valid_rows": valid.height,
            "valid_positives": int(valid["label"].sum()) if valid.height else 0,
        }
        if (
            self.summary_["train_positives"] < p.min_train_positives
            or self.summary_["valid_positives"] < p.min_valid_positives
        ):
            return self
        self.trees_ = boosted(
            "binary",
            _x(train),
            train["label"].to_numpy(),
            valid=(_x(valid), valid["label"].to_numpy()),
            n_estimators=p.n_estimators,
            early_stopping_rounds=p.early_stopping_rounds,
            seed=p.seed,
            threads=p.threads,
        )
        self.platt_ = Platt.fit(logit(self.trees_.predict(_x(valid))), valid["label"].to_numpy())
        self.source_ = "learned"
        self.summary_["best_iteration"] = self.trees_.iterations
        return self

    @property
    def learned(self) -> bool:
        """Whether the probabilities come from the learned model (not the stand-in)."""
        return getattr(self, "source_", None) == "learned"

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """Calibrated probabilities, one per row of ``frame``."""
        if not hasattr(self, "source_"):
            raise NotFittedError("AdoptionModel.predict before fit")
        if frame.height == 0:
            return np.zeros(0)
        if self.source_ == "stand_in" or self.trees_ is None or self.platt_ is None:
            stand_in = frame.select(
                (
                    0.5 * pl.col("nb_share").fill_null(0.0)
                    + 0.3 * pl.col("seg_share").fill_null(0.0)
                    + 0.2 * pl.col("geo_share").fill_null(0.0)
                )
                * pl.col("c_new_share").fill_null(0.05).clip(0.01, 1.0)
            )
            return stand_in.to_series().to_numpy().astype(np.float64)
        return self.platt_.predict(logit(self.trees_.predict(_x(frame))))


def _x(frame: pl.DataFrame) -> np.ndarray:
    return matrix(frame, ADOPTION_FEATURES)


def similar_share() -> pl.Expr:
    """The evidence behind a novelty's acceptance: the share of the customer's most similar
    customers that buy the product (its segment's share when no neighbour does).

    Natural adoption (``p_adopt``) is not used here: in history it mostly measures how hard a
    product was pushed (launches, must-sell campaigns), not how likely a shop is to say yes
    when it is offered; on the demo company, where the true acceptance is known, the
    neighbours' share ranks it far better."""
    nb = pl.col("nb_share").fill_null(0.0)
    return pl.when(nb > 0).then(nb).otherwise(pl.col("seg_share").fill_null(0.0))


def development_rate(rows: pl.DataFrame, step: float = 1.25) -> float:
    """How often, in the history, a customer's order of a product it buys held at least
    ``step`` times its usual quantity (the median of its last three): the chance, before any
    feedback, that it takes a development line's larger quantity when it orders the product.
    ``rows``: labelled repeat candidates (``seen``, ``label``, ``q_actual``, ``q_med3``)."""
    if rows.height == 0 or "q_actual" not in rows.columns:
        return 0.0
    ordered = rows.filter((pl.col("label") == 1) & (pl.col("seen") == 1))
    if ordered.height == 0:
        return 0.0
    larger = ordered.select((pl.col("q_actual") >= step * pl.col("q_med3")).mean()).item()
    return float(larger or 0.0)


def fit_acceptance_prior(rows: pl.DataFrame) -> Isotonic | None:
    """The acceptance before any feedback, on the history's own scale: how often shops
    adopted — bought within their next ``adoption_orders`` orders — a product they lacked,
    against the share of their similar shops buying it (isotonic regression over extension
    candidates with ``adopted``). None when the history holds no adoption to learn from;
    feedback recalibrates it either way."""
    if rows.height == 0 or "adopted" not in rows.columns or int(rows["adopted"].sum()) < 5:
        return None
    share = rows.select(similar_share()).to_series().to_numpy().astype(np.float64)
    return Isotonic.fit(share, rows["adopted"].to_numpy().astype(np.float64))


def share_bar(candidates: pl.DataFrame, share: float) -> float:
    """Which new products are offered before any feedback: the ``1 - share`` quantile, over
    the history's validation orders, of each order's best extension candidate by the share
    of similar shops buying it — so that about ``share`` of the proposals offer one, the most
    promising. The engine cannot know yet how often a shop says yes to a proposal (the history
    holds none), and its adoption curve can be flat; showing the most promising few is what
    lets feedback set the scale. 1.0 (nothing but certainties) without candidates."""
    if candidates.height == 0 or "nb_share" not in candidates.columns:
        return 1.0
    best = (
        candidates.select("c", "t", similar_share().alias("_s"))
        .group_by("c", "t")
        .agg(pl.col("_s").max())
    )
    bar = best["_s"].quantile(1.0 - share, interpolation="higher")
    return float(bar) if bar is not None else 1.0


def acceptance_prior(prior: Isotonic | None) -> pl.Expr:
    """A novelty's acceptance before feedback: ``similar_share`` through the history's
    adoption curve (``fit_acceptance_prior``), or the share itself when there is none."""
    share = similar_share()
    if prior is None:
        return share
    return share.map_batches(
        lambda s: pl.Series(prior.predict(s.to_numpy().astype(np.float64))),
        return_dtype=pl.Float64,
    )


# -- development ------------------------------------------------------------------------------
DEVELOPMENT = {
    "c": pl.UInt32,
    "p": pl.UInt32,
    "own_rate": pl.Float64,
    "peer_rate": pl.Float64,
    "peers": pl.UInt32,
}
"""The columns of ``development_table``."""


SIZE_BAND = (
    (pl.col("_monthly").rank("average").over("segment") / pl.len().over("segment") * 3)
    .ceil()
    .clip(1, 3)
    .cast(pl.Int8)
    .alias("band")
)
"""A customer's size band within its segment: the tercile of its monthly volume (1-3)."""


def development_table(
    window: pl.DataFrame, cutoff: dt.date, ctx: Context, params: NoveltyParams
) -> pl.DataFrame:
    """``c, p, own_rate, peer_rate, peers``: products a customer bought in the last year at a
    monthly quantity below ``development_ratio`` of the median of its peers (same segment and
    size band — tercile of yearly volume within the segment — buying the product)."""
    recent, volume = _volumes(window, cutoff, ctx.customers)
    volume = volume.with_columns(SIZE_BAND)
    rates = _rates(recent, volume)
    peers = rates.group_by("segment", "band", "p").agg(
        pl.col("own_rate").median().alias("peer_rate"), pl.len().alias("peers")
    )
    return _developing(rates.join(peers, on=["segment", "band", "p"]), ctx, params)


def _volumes(
    window: pl.DataFrame, cutoff: dt.date, segments: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The last year of ``window``, and per customer with three orders in it: ``c, _monthly``
    (monthly volume), ``_months`` and ``segment`` (``segments``: ``c, segment``)."""
    start = cutoff - dt.timedelta(days=365)
    recent = window.filter(pl.col("d") >= start)
    span = recent.group_by("c").agg(pl.col("d").min().alias("_from"))
    months = (pl.lit(cutoff) - pl.col("_from")).dt.total_days().cast(pl.Float64).clip(
        30.0, 365.0
    ) / 30.44
    volume = (
        recent.group_by("c")
        .agg(pl.col("q").sum().alias("_vol"), pl.col("o").n_unique().alias("_orders"))
        .join(span, on="c")
        .filter(pl.col("_orders") >= 3)
        .with_columns((pl.col("_vol") / months).alias("_monthly"), months.alias("_months"))
        .join(segments.select("c", "segment"), on="c", how="left")
    )
    return recent, volume


def _rates(recent: pl.DataFrame, volume: pl.DataFrame) -> pl.DataFrame:
    """Each banded customer's monthly quantity of each product (``own_rate``)."""
    return (
        recent.group_by("c", "p")
        .agg(pl.col("q").sum().alias("_q"), pl.col("o").n_unique().alias("_n"))
        .join(volume.select("c", "segment", "band", "_months"), on="c")
        .with_columns((pl.col("_q") / pl.col("_months")).alias("own_rate"))
    )


def _developing(rates: pl.DataFrame, ctx: Context, params: NoveltyParams) -> pl.DataFrame:
    """The rows of ``rates`` (with ``peer_rate``, ``peers``) that are products to develop."""
    return (
        rates.filter(
            (pl.col("peers") >= 5)
            & (pl.col("_n") >= 2)
            & (pl.col("own_rate") < params.development_ratio * pl.col("peer_rate"))
        )
        .join(ctx.products.filter(pl.col("offerable")).select("p"), on="p")
        .select("c", "p", "own_rate", "peer_rate", "peers")
        .with_columns(pl.col("c").cast(pl.UInt32), pl.col("p").cast(pl.UInt32))
    )


@dataclass(frozen=True, slots=True)
class Peers:
    """The customers ``development_against`` measures others against: each banded one's
    monthly volume, and its monthly quantity of each product."""

    volumes: pl.DataFrame  # c, segment, _monthly
    rates: pl.DataFrame  # segment, band, p, _peer, _rate


def development_peers(window: pl.DataFrame, cutoff: dt.date, ctx: Context) -> Peers:
    """The ``Peers`` of ``window`` at ``cutoff`` (``development_table``'s customers)."""
    recent, pool = _volumes(window, cutoff, ctx.customers)
    pool = pool.with_columns(SIZE_BAND)
    rates = _rates(recent, pool).select(
        "segment", "band", "p", pl.col("c").alias("_peer"), pl.col("own_rate").alias("_rate")
    )
    return Peers(pool.select("c", "segment", "_monthly"), rates)


def development_against(
    peers: Peers,
    ctx: Context,
    window: pl.DataFrame,
    cutoff: dt.date,
    customers: pl.DataFrame,
    params: NoveltyParams,
    chunk: int = 2_000,
) -> pl.DataFrame:
    """``development_table`` of the customers of ``window`` (at ``cutoff``; ``customers``:
    ``c, segment, origin``, ``origin`` the customer's code among the peers or null) against
    the ``peers`` alone (``development_peers``): each customer is placed among them (in its
    own stead when it is one of them) as if it were the only one added, so that customers
    scored together do not change each other's rows, and a peer scored from the same lines
    gets the very rows of the table of all."""
    pool = peers.volumes
    recent, volume = _volumes(window, cutoff, customers)
    if volume.height == 0:
        return pl.DataFrame(schema=DEVELOPMENT)
    volume = volume.join(customers.select("c", "origin"), on="c", how="left").join(
        pool.select(
            pl.col("c").alias("origin"),
            pl.col("segment").alias("_o_segment"),
            pl.col("_monthly").alias("_o_monthly"),
        ),
        on="origin",
        how="left",
    )
    band = np.ones(volume.height, dtype=np.int8)
    by_segment = pool.group_by("segment").agg(pl.col("_monthly").sort())
    sorted_of = dict(
        zip(by_segment["segment"].to_list(), by_segment["_monthly"].to_list(), strict=True)
    )
    segment = volume["segment"].to_numpy()
    for name in volume["segment"].unique().to_list():  # a few segments
        at = np.flatnonzero(segment == name)
        values = np.asarray(sorted_of.get(name, []), dtype=np.float64)
        x = volume["_monthly"].to_numpy()[at]
        less = np.searchsorted(values, x, side="left").astype(np.float64)
        equal = np.searchsorted(values, x, side="right") - less
        own = volume["_o_monthly"].to_numpy()[at]
        mine = (volume["_o_segment"].to_numpy()[at] == name) & ~np.isnan(own)
        less -= mine & (own < x)
        equal -= mine & (own == x)
        size = len(values) - mine.astype(np.int64) + 1
        rank = less + (equal + 2.0) / 2.0  # the average rank of its ties, itself among them
        band[at] = np.clip(np.ceil(rank / size * 3), 1, 3).astype(np.int8)
    volume = volume.with_columns(pl.Series("band", band, dtype=pl.Int8))
    rates = _rates(recent, volume).join(volume.select("c", "origin"), on="c")
    pool_rates = peers.rates
    parts = []
    ids = rates["c"].unique().sort()
    for start in range(0, ids.len(), chunk):
        mine_rates = rates.filter(pl.col("c").is_in(ids.slice(start, chunk).implode()))
        others = (
            mine_rates.select("c", "p", "segment", "band", "origin")
            .join(pool_rates, on=["segment", "band", "p"])
            .filter((pl.col("_peer") != pl.col("origin")).fill_null(True))
            .select("c", "p", "_rate")
        )
        itself = mine_rates.select("c", "p", pl.col("own_rate").alias("_rate"))
        medians = (
            pl.concat([others, itself])
            .group_by("c", "p")
            .agg(pl.col("_rate").median().alias("peer_rate"), pl.len().alias("peers"))
        )
        parts.append(_developing(mine_rates.join(medians, on=["c", "p"]), ctx, params))
    if not parts:
        return pl.DataFrame(schema=DEVELOPMENT)
    return pl.concat(parts)


# -- objectives -------------------------------------------------------------------------------
def objective_pairs(
    objectives: pl.DataFrame | None, targets: pl.DataFrame, ctx: Context, codes: Codes
) -> pl.DataFrame:
    """``c, t, p, weight, objective_scope`` for the objectives active on each target date that
    apply to the customer (segment, region and channel match or are empty)."""
    schema = {
        "c": pl.UInt32,
        "t": pl.Date,
        "p": pl.UInt32,
        "weight": pl.Float64,
        "objective_scope": pl.String,
    }
    if objectives is None or objectives.height == 0 or targets.height == 0:
        return pl.DataFrame(schema=schema)
    obj = objectives.select(
        "product_id",
        pl.col("weight").cast(pl.Float64),
        *(_text(objectives, k).alias(f"o_{k}") for k in ("segment", "region", "channel")),
        *(
            (
                pl.col(k).cast(pl.Date) if k in objectives.columns else pl.lit(None, dtype=pl.Date)
            ).alias(k)
            for k in ("start_date", "end_date")
        ),
    ).join(codes.products, on="product_id")
    who = targets.select("c", "t").join(ctx.customers, on="c", how="left")
    matches = [
        pl.col(f"o_{k}").is_null() | (pl.col(f"o_{k}") == pl.col(k))
        for k in ("segment", "region", "channel")
    ]
    scope = (
        pl.concat_list([pl.col(f"o_{k}") for k in ("segment", "channel", "region")])
        .list.drop_nulls()
        .list.unique(maintain_order=True)
        .list.join(", ")
    )
    return (
        who.join(obj, how="cross")
        .filter(
            *matches,
            pl.col("start_date").is_null() | (pl.col("start_date") <= pl.col("t")),
            pl.col("end_date").is_null() | (pl.col("end_date") >= pl.col("t")),
        )
        .group_by("c", "t", "p")
        .agg(pl.col("weight").max(), scope.first().alias("objective_scope"))
        .select(
            pl.col("c").cast(pl.UInt32),
            "t",
            pl.col("p").cast(pl.UInt32),
            "weight",
            pl.col("objective_scope").replace("", None),
        )
        .sort("c", "t", "p")
    )


class Promoter(Protocol):
    """What ``promote_with`` needs of a promotions model (``orders.promotions``)."""

    def attach(self, lines: pl.DataFrame) -> pl.DataFrame: ...


def promote_with(model: Promoter) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """The engine's ``promote`` step from a fitted promotions model: each candidate novelty
    gets the promotion with the best expected incremental margin (budgets respected by the
    model), its probability and quantity become the promoted ones and the reason says the
    terms ("15 % off until 30 June")."""

    def promote(lines: pl.DataFrame) -> pl.DataFrame:
        attached = model.attach(lines)
        text = pl.col("promotion_text")
        if "value_per_acceptance" in attached.columns:
            # the line's expected value gains the promotion's increment, which already pays
            # for the discount and the cost per use
            value = pl.col("probability") * pl.col("value_per_acceptance") + pl.col(
                "incremental_margin"
            )
            attached = attached.with_columns(
                pl.when(pl.col("promotion_id").is_not_null() & (pl.col("promoted_probability") > 0))
                .then(value / pl.col("promoted_probability"))
                .otherwise(pl.col("value_per_acceptance"))
                .alias("value_per_acceptance")
            )
        return attached.with_columns(
            pl.col("promoted_probability").alias("probability"),
            pl.col("promoted_quantity").alias("quantity"),
            pl.when(text.is_not_null())
            .then(pl.concat_str([pl.col("reason"), text], separator="; "))
            .otherwise(pl.col("reason"))
            .alias("reason"),
        )

    return promote
