"""Candidate (customer, product) pairs and their features at a cut-off.

``build_candidates`` is the per-customer kernel: a function of one bucket of customers' history
lines and targets, plus small broadcast artefacts (product statistics, neighbour scores). It is
pure Polars, so buckets can run in one process, a pool or on Spark workers.

Features (all computed from the history before the cut-off, relative to the target date):

* pair rhythm — share of the customer's orders holding the product, recency-weighted shares at
  three decays, orders and days since it was last ordered, its usual interval (days and orders)
  and spread, days since last against the interval, whether it was in the last 1/3/5 orders,
  whether it was bought around the same date a year before;
* pair quantity — last, median of the last three, mean, spread, trend of the quantities;
* customer — orders, usual interval and regularity, days since its last order against its
  interval, products per order, distinct products, tenure;
* product — customers buying it in the last 90 and 365 days, trend, repeat rate, age
  (launches), seasonality of the target month;
* neighbours — the TIFU vector of the pair, the mean vector of the customer's nearest
  neighbours at the product and the share of them buying it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa

from salescope.orders.history import order_table
from salescope.orders.neighbours import TifuParams, tifu_vectors

DECAYS = (0.5, 0.8, 0.95)


@dataclass(frozen=True, slots=True)
class ProductStats:
    """Broadcast artefact: product features at a cut-off (``p`` and feature columns) and the
    month profile (``p, month, season``)."""

    frame: pl.DataFrame
    season: pl.DataFrame
    _season: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    def season_values(self, p: np.ndarray, month: np.ndarray) -> np.ndarray:
        """``season_of`` of product codes ``p`` and months ``month`` (0 for none) as floats,
        NaN where the profile has none."""
        table = self._season_table()
        inside = p < table.shape[0]
        values = np.full(len(p), np.nan)
        values[inside] = table[p[inside], month[inside]]
        return values

    def _season_table(self) -> np.ndarray:
        """The products x months table of ``season`` (NaN where it has no row), built once."""
        table = self._season
        if table is None:
            rows = self.season["p"].to_numpy().astype(np.int64)
            table = np.full((int(rows.max()) + 1 if len(rows) else 0, 13), np.nan)
            table[rows, self.season["month"].to_numpy().astype(np.int64)] = self.season[
                "p_season"
            ].to_numpy()
            object.__setattr__(self, "_season", table)
        return table

    def season_of(self, p: pl.Series, month: pl.Series) -> pl.Series:
        """``p_season`` of each (product, month) pair, null where the profile has none: the
        left join of ``season`` on ``p, month``, as a lookup in a products x months table
        built on first use (a request's rows are not worth hashing every product's months)."""
        codes = p.to_numpy().astype(np.int64)
        months = month.fill_null(0).to_numpy().astype(np.int64)
        values = self.season_values(codes, months)
        return pl.Series("p_season", values, dtype=pl.Float64).fill_nan(None)


def product_stats(
    lines: pl.DataFrame,
    cutoff: dt.date,
    first_seen: pl.DataFrame,
    packs: pl.DataFrame | None = None,
) -> ProductStats:
    """Product features from the lines before ``cutoff``; ``first_seen``: ``p, first_d`` over
    the whole history (for the age of launches); ``packs``: ``p, pack`` when known."""
    d30 = cutoff - dt.timedelta(days=30)
    d60 = cutoff - dt.timedelta(days=60)
    d90 = cutoff - dt.timedelta(days=90)
    d180 = cutoff - dt.timedelta(days=180)
    d365 = cutoff - dt.timedelta(days=365)
    recent = lines.filter(pl.col("d") >= d365)
    active_30 = max(1, recent.filter(pl.col("d") >= d30)["c"].n_unique())
    active_90 = max(1, recent.filter(pl.col("d") >= d90)["c"].n_unique())
    active_365 = max(1, recent["c"].n_unique())
    per_pair = lines.group_by("p", "c").agg(pl.len().alias("times"))
    repeat = per_pair.group_by("p").agg(
        pl.len().alias("buyers"), (pl.col("times") >= 2).sum().alias("repeaters")
    )
    stats = (
        recent.group_by("p")
        .agg(
            (pl.col("c").filter(pl.col("d") >= d30).n_unique() / active_30).alias("pop_30"),
            (pl.col("c").filter(pl.col("d") >= d90).n_unique() / active_90).alias("pop_90"),
            pl.col("d").filter(pl.col("d") >= d30).len().alias("_l30"),
            pl.col("d").filter((pl.col("d") < d30) & (pl.col("d") >= d60)).len().alias("_l60"),
            (pl.col("c").n_unique() / active_365).alias("pop_365"),
            pl.col("d").filter(pl.col("d") >= d90).len().alias("_l90"),
            pl.col("d").filter((pl.col("d") < d90) & (pl.col("d") >= d180)).len().alias("_l180"),
            pl.col("q").median().alias("p_q_median"),
        )
        .with_columns(
            ((pl.col("_l90") + 1) / (pl.col("_l180") + 1)).log().alias("p_trend"),
            ((pl.col("_l30") + 1) / (pl.col("_l60") + 1)).log().alias("p_trend_30"),
        )
        .drop("_l30", "_l60", "_l90", "_l180")
        .join(repeat, on="p", how="full", coalesce=True)
        .join(first_seen, on="p", how="left")
        .with_columns(
            ((pl.col("repeaters") + 1) / (pl.col("buyers") + 2)).alias("p_repeat_rate"),
            (pl.lit(cutoff) - pl.col("first_d")).dt.total_days().alias("p_age_days"),
            pl.col("pop_30").fill_null(0.0),
            pl.col("pop_90").fill_null(0.0),
            pl.col("pop_365").fill_null(0.0),
        )
        .drop("buyers", "repeaters", "first_d")
    )
    if packs is not None:
        stats = stats.join(packs, on="p", how="left")
    else:
        stats = stats.with_columns(pl.lit(None, dtype=pl.Float64).alias("pack"))
    by_month = (
        lines.filter(pl.col("d") >= cutoff - dt.timedelta(days=730))
        .group_by("p", pl.col("d").dt.month().alias("month"))
        .agg(pl.len().alias("n"))
    )
    season = by_month.with_columns(
        ((pl.col("n") + 1.0) / (pl.col("n").sum().over("p") / 12.0 + 1.0)).alias("p_season")
    ).select("p", pl.col("month").cast(pl.Int8), "p_season")
    return ProductStats(stats, season)


def pair_history(
    lines: pl.DataFrame, orders: pl.DataFrame, packs: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Per (customer, product) statistics of the history (no target date yet); ``packs``:
    ``p, pack`` where products give a pack size."""
    decayed = [
        pl.lit(decay).pow(pl.col("e").cast(pl.Float64)).alias(f"_w{i}")
        for i, decay in enumerate(DECAYS)
    ]
    totals = orders.group_by("c").agg(
        *[
            pl.lit(decay).pow(pl.col("e").cast(pl.Float64)).sum().alias(f"_t{i}")
            for i, decay in enumerate(DECAYS)
        ]
    )
    joined = (
        lines.select("c", "o", "p", "d", "q")
        .join(orders.select("c", "o", "k", "e"), on=["c", "o"])
        .with_columns(decayed)
    )
    if packs is not None:
        joined = joined.join(packs, on="p", how="left")
        in_packs = (pl.col("q") / pl.col("pack")).round(0) * pl.col("pack") == pl.col("q")
        pack_share = in_packs.cast(pl.Float64)
    else:
        pack_share = pl.lit(None, dtype=pl.Float64)
    # joins do not keep row order: sort last (k orders a customer's orders by date, then id)
    joined = joined.sort("c", "p", "k")
    # per-line columns computed once over the sorted frame (gaps to the pair's previous line,
    # position from the pair's last line), so that the aggregation below is made of plain
    # per-group reductions
    q = pl.col("q")
    row = pl.int_range(pl.len(), dtype=pl.Int64)
    same_pair = (pl.col("c") == pl.col("c").shift(1)) & (pl.col("p") == pl.col("p").shift(1))
    joined = joined.with_columns(same_pair.fill_null(False).alias("_same")).with_columns(
        pl.when("_same")
        .then((pl.col("d") - pl.col("d").shift(1)).dt.total_days().cast(pl.Float64))
        .alias("_gap"),
        pl.when("_same")
        .then(pl.col("k").cast(pl.Float64) - pl.col("k").shift(1).cast(pl.Float64))
        .alias("_step"),
        (
            pl.when(~pl.col("_same").shift(-1).fill_null(False)).then(row).backward_fill() - row
        ).alias("_from_end"),  # 0 on the pair's last line
        (q == q.round(0)).cast(pl.Float64).alias("_whole"),
        pack_share.alias("_in_packs"),
    )
    joined = joined.with_columns(
        pl.when(pl.col("_from_end") < 4).then("_gap").alias("_gap4"),
        pl.when(pl.col("_from_end") < 3).then(q).alias("_q3"),
        pl.when(pl.col("_from_end") < 5).then(q).alias("_q5"),
    )
    pairs = joined.group_by("c", "p").agg(
        pl.len().alias("n_cp"),
        pl.col("d").max().alias("last_cp"),
        pl.col("d").min().alias("first_cp"),
        pl.col("e").min().cast(pl.Float64).alias("orders_since_cp"),
        pl.col("_gap").mean().alias("gap_days_cp"),
        pl.col("_gap").std().alias("gap_sd_cp"),
        pl.col("_gap4").mean().alias("gap_days_recent_cp"),
        pl.col("_step").mean().alias("gap_orders_cp"),
        *[pl.col(f"_w{i}").sum().alias(f"_s{i}") for i in range(len(DECAYS))],
        (pl.col("e") < 1).sum().alias("in_last_1"),
        (pl.col("e") < 3).sum().alias("in_last_3"),
        (pl.col("e") < 5).sum().alias("in_last_5"),
        q.last().alias("q_last"),
        pl.col("_q3").median().alias("q_med3"),
        pl.col("_q5").median().alias("q_med5"),
        q.mean().alias("q_mean"),
        pl.col("_whole").mean().alias("int_share_cp"),
        pl.col("_in_packs").mean().alias("pack_share_cp"),
        (q.std() / q.mean()).alias("q_cv"),
        (pl.col("_q3").mean() / q.mean()).alias("q_trend"),
        pl.col("d").alias("_dates"),
    )
    return (
        pairs.join(totals, on="c")
        .with_columns(
            *[(pl.col(f"_s{i}") / pl.col(f"_t{i}")).alias(f"rw_{i}") for i in range(len(DECAYS))]
        )
        .drop([f"_s{i}" for i in range(len(DECAYS))] + [f"_t{i}" for i in range(len(DECAYS))])
        .sort("c", "p")  # group_by and joins scramble rows; ties downstream need one order
    )


def customer_history(orders: pl.DataFrame, first_order: pl.DataFrame) -> pl.DataFrame:
    """Per customer statistics: orders, interval, regularity, products per order, tenure."""
    gap = pl.col("d").diff().dt.total_days().cast(pl.Float64)
    return (
        orders.sort("c", "d")
        .group_by("c")
        .agg(
            pl.len().alias("c_orders"),
            pl.col("d").max().alias("c_last"),
            gap.mean().alias("c_gap"),
            (gap.std() / gap.mean()).alias("c_gap_cv"),
            gap.tail(4).mean().alias("c_gap_recent"),
            pl.col("n").mean().alias("c_lines"),
            pl.col("n").tail(3).mean().alias("c_lines_recent"),
        )
        .join(first_order, on="c", how="left")
    )


def _exploration(lines: pl.DataFrame, orders: pl.DataFrame) -> pl.DataFrame:
    """``c, c_new_share``: share of the lines of a customer's orders (after its first) that
    were products new to it: how much it explores."""
    first = lines.group_by("c", "p").agg(
        pl.col("o").first().alias("_first_o"), pl.col("d").min().alias("_first_d")
    )
    return (
        lines.join(orders.select("c", "o", "k"), on=["c", "o"])
        .filter(pl.col("k") > 0)
        .join(first, on=["c", "p"])
        .group_by("c")
        .agg((pl.col("d") == pl.col("_first_d")).mean().alias("c_new_share"))
    )


def build_candidates(
    lines: pl.DataFrame,
    targets: pl.DataFrame,
    products: ProductStats,
    neighbour: pl.DataFrame,
    first_order: pl.DataFrame,
    *,
    max_repeat: int,
    repeat: bool = True,
    tifu: TifuParams | None = None,
    own: OwnHistory | None = None,
) -> pl.DataFrame:
    """Candidates and features for one bucket of customers.

    lines: the bucket's history ``c, o, d, p, q`` (already cut to the look-back window);
    targets: ``c, t`` (target date); neighbour: ``c, p, nb, nb_share, u, seen`` for the
    bucket (own products and the best unseen ones); first_order: ``c, c_first`` over the whole
    history. Returns one row per candidate with ``c, p, t, seen`` and the features;
    ``repeat=False`` leaves out the customer's own products (only ``neighbour``'s unseen ones).
    ``tifu``: the customer's own vector ``u`` is computed from ``lines`` with these parameters
    (its history up to the target date), instead of the snapshot's. ``own``: ``own_history``
    of the same ``lines``, ``first_order`` and ``tifu`` when already computed.

    It is ``undated_candidates`` (what the history alone says) then ``dated_candidates`` (what
    depends on the target date): a server keeps the first per customer and runs only the
    second per request.
    """
    frame = undated_candidates(
        lines if own is None else own,
        targets.select("c"),
        products,
        neighbour,
        first_order,
        max_repeat=max_repeat,
        repeat=repeat,
        tifu=tifu,
    )
    return dated_candidates(frame, targets, products)


@dataclass(frozen=True, slots=True)
class OwnHistory:
    """What a bucket of customers' own lines say before any candidate: ``pairs``
    (``pair_history``), ``customers`` (``customer_history`` and exploration) and ``vectors``
    (their TIFU vectors ``c, p, u``; None when the snapshot's serve)."""

    pairs: pl.DataFrame
    customers: pl.DataFrame
    vectors: pl.DataFrame | None


def own_history(
    lines: pl.DataFrame,
    products: ProductStats,
    first_order: pl.DataFrame,
    tifu: TifuParams | None = None,
) -> OwnHistory:
    """The ``OwnHistory`` of ``lines`` (a bucket's, cut to the look-back window)."""
    orders = order_table(lines)
    packs = products.frame.select("p", "pack").filter(pl.col("pack").is_not_null())
    pairs = pair_history(lines, orders, packs if packs.height else None)
    cust = customer_history(orders, first_order).join(
        _exploration(lines, orders), on="c", how="left"
    )
    vectors = tifu_vectors(lines, orders, tifu) if tifu is not None else None
    return OwnHistory(pairs, cust, vectors)


def undated_candidates(
    lines: pl.DataFrame | OwnHistory,
    customers: pl.DataFrame,
    products: ProductStats,
    neighbour: pl.DataFrame,
    first_order: pl.DataFrame,
    *,
    max_repeat: int,
    repeat: bool = True,
    tifu: TifuParams | None = None,
) -> pl.DataFrame:
    """``build_candidates``' candidates of ``customers`` (``c``) with every feature the history
    alone gives (the pair's, the customer's, the product's and the neighbours' evidence); ``t``
    is null, and the features of the target date are left to ``dated_candidates``. ``lines``
    may be their ``own_history`` already (made with the same ``tifu``)."""
    targets = customers.select("c").with_columns(pl.lit(None, dtype=pl.Date).alias("t"))
    history = (
        lines if isinstance(lines, OwnHistory) else own_history(lines, products, first_order, tifu)
    )
    pairs, cust = history.pairs, history.customers
    seen = (
        pairs.join(targets, on="c")
        .with_columns(pl.lit(True).alias("seen"))
        # keep the strongest repeat candidates of each customer; products of the same orders
        # tie on recency-weighted frequency, and the more popular of them go first
        .join(products.frame.select("p", pl.col("pop_90").alias("_pop")), on="p", how="left")
        .sort(
            ["c", "rw_1", "_pop", "p"],
            descending=[False, True, True, False],
            nulls_last=True,
        )
        .filter(pl.int_range(pl.len()).over("c") < (max_repeat if repeat else 0))
        .drop("_pop")
    )
    unseen = (
        neighbour.filter(~pl.col("seen"))
        .select("c", "p")
        .join(targets, on="c")
        # bought since the snapshot: a repeat candidate, not a new one
        .join(pairs.select("c", "p"), on=["c", "p"], how="anti")
        .with_columns(pl.lit(False).alias("seen"))
    )
    frame = pl.concat([seen, unseen], how="diagonal_relaxed")
    evidence = neighbour.select(
        "c", "p", "nb", "nb_share", "u", *(["ii"] if "ii" in neighbour.columns else [])
    )
    if history.vectors is not None:
        evidence = evidence.drop("u").join(
            history.vectors, on=["c", "p"], how="full", coalesce=True
        )
    return (
        frame.join(cust, on="c", how="left")
        .join(products.frame, on="p", how="left")
        .join(evidence, on=["c", "p"], how="left")
    )


def _dates_of(customers: pl.Series, targets: pl.DataFrame) -> pl.Series:
    """``t`` of each row's customer (``targets``: ``c, t``, one per customer), null for a
    customer not among them: the left join of ``targets`` on ``c``, by binary search."""
    known = targets["c"].to_numpy().astype(np.int64)
    order = np.argsort(known, kind="stable")
    known = known[order]
    days = targets["t"].to_physical().to_numpy()[order]
    codes = customers.to_numpy().astype(np.int64)
    at = np.minimum(np.searchsorted(known, codes), max(0, len(known) - 1))
    found = known[at] == codes if len(known) else np.zeros(len(codes), dtype=bool)
    dates = pl.Series("t", days[at] if len(known) else np.zeros(len(codes)), dtype=pl.Int32)
    if not found.all():
        dates = pl.select(pl.when(pl.Series(found)).then(dates)).to_series()
    return dates.cast(pl.Date).alias("t")


def _year_ago(dates: pl.Series, lists: pl.Series) -> pl.Series:
    """``year_ago_cp``: how many of each row's order dates (``lists``, ``_dates``) fall around
    the same date a year before its target date ``dates`` (365 +- 21 days)."""
    lengths = lists.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = lists.explode(empty_as_null=False, keep_nulls=False).to_physical().to_numpy()
    row = np.repeat(np.arange(len(lengths)), lengths)
    target = dates.to_physical()
    days = target.fill_null(0).to_numpy().astype(np.int64)[row] - flat.astype(np.int64)
    near = (np.abs(days - 365) <= 21) & ~target.is_null().to_numpy()[row]
    counts = np.bincount(row[near], minlength=len(lengths))
    return pl.Series("year_ago_cp", counts, dtype=pl.UInt32)


def dated_candidates(
    frame: pl.DataFrame, targets: pl.DataFrame, products: ProductStats
) -> pl.DataFrame:
    """``undated_candidates`` rows at their customer's target date (``targets``: ``c, t``, one
    per customer): the season of its month, the days since the pair's and the customer's last
    orders against their rhythms, tenure, and whether the product was bought a year before;
    rows in ``frame``'s order.

    Column by column with NumPy, nulls carried as masks (a request's few hundred rows cost
    less to compute than one query to plan, and a batch's many rows the same arithmetic);
    the query (``dated_query``) for a large frame, which it computes faster, or when a
    column is not of the types the candidates have."""
    if frame.height > SMALL_FRAME or not plain_candidates(frame):
        return dated_query(frame, targets, products)
    days, found = _target_days(frame.get_column("c"), targets)
    out = {name: frame.get_column(name) for name in frame.columns}
    out["t"] = _date_series("t", days, ~found)
    month = _month(days)
    out["month"] = _series("month", month.astype(np.int8), ~found, pl.Int8)
    p = frame.get_column("p").to_numpy().astype(np.int64)
    season = products.season_values(p, np.where(found, month, 0))
    n_cp, n_cp_null = _floats(frame.get_column("n_cp"))
    c_orders, c_orders_null = _floats(frame.get_column("c_orders"))
    since_cp, since_cp_null = _days_since(days, found, frame.get_column("last_cp"))
    since_c, since_c_null = _days_since(days, found, frame.get_column("c_last"))
    tenure, tenure_null = _days_since(days, found, frame.get_column("c_first"))
    columns: list[tuple[str, np.ndarray, np.ndarray]] = [
        ("share_cp", *_ratio((n_cp, n_cp_null), (c_orders, c_orders_null)))
    ]
    gap, gap_null = _floats(frame.get_column("gap_days_cp"))
    spread, spread_null = _floats(frame.get_column("gap_sd_cp"))
    recent, recent_null = _floats(frame.get_column("gap_days_recent_cp"))
    orders_since, orders_since_null = _floats(frame.get_column("orders_since_cp"))
    gap_orders, gap_orders_null = _floats(frame.get_column("gap_orders_cp"))
    c_gap, c_gap_null = _floats(frame.get_column("c_gap"))
    c_recent, c_recent_null = _floats(frame.get_column("c_gap_recent"))
    with np.errstate(divide="ignore", invalid="ignore"):
        columns += [
            ("days_since_cp", since_cp, since_cp_null),
            ("due_cp", *_ratio((since_cp, since_cp_null), (gap, gap_null))),
            (
                "due_z_cp",
                (since_cp - gap) / (spread + 1.0),
                since_cp_null | gap_null | spread_null,
            ),
            ("due_recent_cp", *_ratio((since_cp, since_cp_null), (recent, recent_null))),
            (
                "due_orders_cp",
                (orders_since + 1.0) / gap_orders,
                orders_since_null | gap_orders_null,
            ),
            ("days_since_c", since_c, since_c_null),
            ("due_c", *_ratio((since_c, since_c_null), (c_gap, c_gap_null))),
            ("due_recent_c", *_ratio((since_c, since_c_null), (c_recent, c_recent_null))),
            ("c_tenure", tenure, tenure_null),
        ]
    out["p_season"] = pl.Series("p_season", np.where(np.isnan(season), 1.0, season))
    for name, values, null in columns:
        out[name] = _series(name, values, null, pl.Float64)
    # bought around the same date a year before the target (+-21 days)
    out["year_ago_cp"] = _year_ago_counts(days, found, frame.get_column("_dates"))
    del out["_dates"]
    out["year_ago_cp"] = out.pop("year_ago_cp")
    for name in ("nb", "nb_share", "u"):
        out[name] = _filled(frame.get_column(name))
    out["ii"] = (
        _filled(frame.get_column("ii"))
        if "ii" in frame.columns
        else pl.Series("ii", np.zeros(frame.height))
    )
    out["p_season"] = out["p_season"]
    seen = frame.get_column("seen")
    null = _nulls(seen)
    flags = (seen.fill_null(0) if null.any() else seen).to_numpy().astype(np.int8)
    out["seen"] = _series("seen", flags, null, pl.Int8)
    return pl.DataFrame(list(out.values()))


SMALL_FRAME = 20_000
"""Up to this many rows ``dated_candidates`` computes with NumPy (a request's rows: about
twice as fast as the query), above it with the query (a batch's: faster than NumPy)."""

_FLOATS = (
    "orders_since_cp",
    "gap_days_cp",
    "gap_sd_cp",
    "gap_days_recent_cp",
    "gap_orders_cp",
    "c_gap",
    "c_gap_recent",
    "nb",
    "nb_share",
    "u",
)
_DATES = ("t", "last_cp", "c_last", "c_first")


def plain_candidates(frame: pl.DataFrame) -> bool:
    """Whether ``frame``'s columns are those ``dated_candidates`` computes with NumPy: the
    undated candidates' (codes and counts as integers, features as Float64, dates, ``seen``
    as a boolean or an integer, ``_dates`` as a list of dates)."""
    schema = frame.schema
    try:
        return (
            all(schema[name] == pl.Float64 for name in _FLOATS)
            and ("ii" not in schema or schema["ii"] == pl.Float64)
            and all(schema[name] == pl.Date for name in _DATES if name != "t" or name in schema)
            and all(schema[name].is_integer() for name in ("c", "p", "n_cp", "c_orders"))
            and (schema["seen"] == pl.Boolean or schema["seen"].is_integer())
            and schema["_dates"] == pl.List(pl.Date)
            and frame.get_column("c").null_count() == 0
            and frame.get_column("p").null_count() == 0
        )
    except KeyError:
        return False


def _nulls(column: pl.Series, values: np.ndarray | None = None) -> np.ndarray:
    """Whether each value of ``column`` is null; ``values``: its floats (nulls as NaN), when
    at hand — their NaN are its nulls when there are as many."""
    count = column.null_count()
    if count == 0:
        return np.zeros(len(column), dtype=bool)
    if values is not None:
        nan = np.isnan(values)
        if int(nan.sum()) == count:
            return np.asarray(nan, dtype=bool)
    return np.asarray(column.to_arrow().is_null().to_numpy(zero_copy_only=False), dtype=bool)


def _floats(column: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """A numeric column as float64 (nulls as NaN) and its nulls."""
    values = column.to_numpy().astype(np.float64, copy=False)
    return values, _nulls(column, values)


def _ratio(
    top: tuple[np.ndarray, np.ndarray], bottom: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """``top / bottom`` of two float columns with their nulls, as Polars divides them."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return top[0] / bottom[0], top[1] | bottom[1]


def _days(column: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """A date column as days since the epoch (int64; 0 for nulls) and its nulls."""
    values = column.to_numpy()
    if values.dtype != np.dtype("datetime64[D]"):
        values = values.astype("datetime64[D]")
    null = np.isnat(values)
    days = values.view(np.int64)
    if null.any():
        days = np.where(null, 0, days)
    return days, null


def _days_since(
    days: np.ndarray, found: np.ndarray, column: pl.Series
) -> tuple[np.ndarray, np.ndarray]:
    """Days from the dates of ``column`` to the target dates, as floats, and their nulls."""
    before, null = _days(column)
    return (days - before).astype(np.float64), null | ~found


def _series(
    name: str, values: np.ndarray, null: np.ndarray, dtype: pl.DataType | type[pl.DataType]
) -> pl.Series:
    """``values`` as a column of ``dtype`` with nulls where ``null``."""
    if not null.any():
        return pl.Series(name, values, dtype=dtype)
    if dtype == pl.Float64 and not np.isnan(values[~null]).any():
        return pl.Series(name, np.where(null, np.nan, values), dtype=dtype, nan_to_null=True)
    return pl.Series(name, values, dtype=dtype).scatter(np.flatnonzero(null), None)


def _date_series(name: str, days: np.ndarray, null: np.ndarray) -> pl.Series:
    """Days since the epoch as a date column, null where ``null``."""
    return _series(name, days.astype(np.int32), null, pl.Int32).cast(pl.Date)


def _month(days: np.ndarray) -> np.ndarray:
    """The month (1-12) of days since the epoch (the proleptic Gregorian calendar's civil
    date, in integers)."""
    z = days + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    return np.asarray(np.where(mp < 10, mp + 3, mp - 9))


def _filled(column: pl.Series) -> pl.Series:
    """A Float64 column with its nulls (not its NaN) as 0."""
    if column.null_count() == 0:
        return column
    values = column.to_numpy().astype(np.float64)
    values[_nulls(column, values)] = 0.0
    return pl.Series(column.name, values, dtype=pl.Float64)


def _year_ago_counts(days: np.ndarray, found: np.ndarray, lists: pl.Series) -> pl.Series:
    """``year_ago_cp``: how many of each row's order dates (``lists``, ``_dates``) fall around
    the same date a year before its target date (365 +- 21 days; none without a target)."""
    array = lists.to_arrow()
    offsets = np.asarray(array.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    lengths = np.diff(offsets)
    values = array.values.slice(offsets[0], offsets[-1] - offsets[0])
    valid = np.ones(len(values), dtype=bool)
    if values.null_count:
        valid = ~np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    data = values.buffers()[1]  # the days, read in place (a null's are ignored by ``valid``)
    flat = (
        np.frombuffer(data, dtype=np.int32)[values.offset : values.offset + len(values)]
        if data is not None and values.type == pa.date32()
        else np.zeros(len(values), dtype=np.int32)
    ).astype(np.int64)
    if array.null_count:  # a null list holds no date, whatever its offsets say
        kept = ~_nulls(lists)
        keep = np.repeat(kept, lengths)
        flat, valid, lengths = flat[keep], valid[keep], np.where(kept, lengths, 0)
    row = np.repeat(np.arange(len(lengths)), lengths)
    near = (np.abs(days[row] - flat - 365) <= 21) & found[row] & valid
    counts = np.bincount(row[near], minlength=len(lengths))
    return pl.Series("year_ago_cp", counts, dtype=pl.UInt32)


def _target_days(customers: pl.Series, targets: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The target date of each row's customer (``targets``: ``c, t``, one per customer) as
    days since the epoch, and whether the customer is among them (``_dates_of``)."""
    known = targets.get_column("c").to_numpy().astype(np.int64)
    order = np.argsort(known, kind="stable")
    known = known[order]
    days, missing = _days(targets.get_column("t"))
    days, missing = days[order], missing[order]
    codes = customers.to_numpy().astype(np.int64)
    if not len(known):
        return np.zeros(len(codes), dtype=np.int64), np.zeros(len(codes), dtype=bool)
    at = np.minimum(np.searchsorted(known, codes), len(known) - 1)
    found = (known[at] == codes) & ~missing[at]
    return np.where(found, days[at], 0), found


def dated_query(frame: pl.DataFrame, targets: pl.DataFrame, products: ProductStats) -> pl.DataFrame:
    """``dated_candidates`` as one query (the target dates, seasons and year-before counts
    looked up with NumPy): for frames of other types, and the reference it is tested against."""
    t = _dates_of(frame["c"], targets)
    month = t.dt.month().cast(pl.Int8).alias("month")
    days_since_cp = (pl.col("t") - pl.col("last_cp")).dt.total_days().cast(pl.Float64)
    days_since_c = (pl.col("t") - pl.col("c_last")).dt.total_days().cast(pl.Float64)
    dated = (
        frame.lazy()
        .with_columns(t)
        .with_columns(month, products.season_of(frame["p"], month))
        .with_columns(
            (pl.col("n_cp") / pl.col("c_orders")).alias("share_cp"),
            days_since_cp.alias("days_since_cp"),
            (days_since_cp / pl.col("gap_days_cp")).alias("due_cp"),
            ((days_since_cp - pl.col("gap_days_cp")) / (pl.col("gap_sd_cp") + 1.0)).alias(
                "due_z_cp"
            ),
            (days_since_cp / pl.col("gap_days_recent_cp")).alias("due_recent_cp"),
            ((pl.col("orders_since_cp") + 1.0) / pl.col("gap_orders_cp")).alias("due_orders_cp"),
            days_since_c.alias("days_since_c"),
            (days_since_c / pl.col("c_gap")).alias("due_c"),
            (days_since_c / pl.col("c_gap_recent")).alias("due_recent_c"),
            (pl.col("t") - pl.col("c_first")).dt.total_days().cast(pl.Float64).alias("c_tenure"),
        )
    )
    # bought around the same date a year before the target (+-21 days)
    return (
        dated.drop("_dates")
        .with_columns(_year_ago(t, frame["_dates"]))
        .with_columns(
            pl.col("nb").fill_null(0.0),
            pl.col("nb_share").fill_null(0.0),
            pl.col("u").fill_null(0.0),
            (pl.col("ii") if "ii" in frame.columns else pl.lit(0.0)).fill_null(0.0).alias("ii"),
            pl.col("p_season").fill_null(1.0),
            pl.col("seen").cast(pl.Int8),
        )
        .collect(engine="in-memory")
    )


FEATURES: tuple[str, ...] = (
    "seen",
    "n_cp",
    "share_cp",
    "rw_0",
    "rw_1",
    "rw_2",
    "orders_since_cp",
    "gap_days_cp",
    "gap_sd_cp",
    "gap_orders_cp",
    "days_since_cp",
    "due_cp",
    "due_z_cp",
    "due_recent_cp",
    "due_orders_cp",
    "in_last_1",
    "in_last_3",
    "in_last_5",
    "year_ago_cp",
    "q_last",
    "q_med3",
    "q_mean",
    "q_cv",
    "q_trend",
    "c_orders",
    "c_gap",
    "c_gap_cv",
    "days_since_c",
    "due_c",
    "due_recent_c",
    "c_lines",
    "c_lines_recent",
    "c_tenure",
    "pop_30",
    "pop_90",
    "pop_365",
    "p_trend",
    "p_trend_30",
    "p_repeat_rate",
    "p_age_days",
    "p_q_median",
    "p_season",
    "u",
    "nb",
    "nb_share",
    "ii",
    "c_new_share",
    "tifu",
    "tifu_rank",
    "freq_rank",
)
