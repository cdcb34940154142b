"""Share of wallet and potential of every shop of the market universe.

``potential`` is the shop's total yearly purchases of the category from all suppliers (us and
competitors); ``share_of_wallet`` is our part of it. Where market rows exist the potential is
*observed* (the latest 12 months of market periods, annualised; ``YYYY`` and ``YYYY-MM`` periods,
categories summed); elsewhere it is *estimated*, with a range, by ``WalletEstimator``:

* target: log(1 + yearly total) of the shops with market data;
* features, all optional, taken from whatever the files carry:
  - the shop's own purchase pattern with us in the same window (revenue, volume, orders,
    products, categories, months active, recency, tenure, price level, category mix, the
    12 months before and the months after the window);
  - its attributes: every numeric column of customers, every categorical one (channel, chain,
    region, city, any extra column) as frequency, smoothed out-of-fold target mean and, when it
    has few levels, a native categorical; the words of its name (chains and store types hide
    there);
  - location: coordinates, the density of shops around it (distance to the 1st, 5th and 20th
    nearest), our sales to its neighbours, and its nearest observed neighbours' totals and
    total/own ratios (spatial k-NN, recomputed inside every cross-validation fold);
* model: gradient boosting (LightGBM), cross-validated on the shops with market data
  (Spearman, error, and the coverage of the range, against the baseline "own sales / median
  share of wallet");
* shops not buying from us: many shops of a universe buy nothing at all in a year (closed, not
  yet open), which one regression on log totals ranks poorly; their estimate blends it
  (``hurdle_weight``) with a hurdle model: P(buys anything) from a classifier × the total of a
  shop that buys, from a regression on the shops that buy something;
* range: split-conformal quantiles of the cross-validated log residuals, separately for shops
  that buy from us and shops that do not (their uncertainty differs a lot).

Identifier columns (``customer_id``, ``*_id``, ``*_number``, ``zip``, ``phone``…) are never
numeric features: at most their levels are (a zip code's area).

With too few market rows (fewer than ``min_observed``), a shop's potential is its own yearly
sales divided by ``default_share`` and the others are estimated from their attributes by the
same model trained on those pseudo-totals, with a wide range: a fallback that says so in
``method_``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.stats import spearmanr

from salescope.coverage.kpis import DAYS_PER_YEAR, line_values, purchase_kpis
from salescope.geo import NeighbourIndex

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Columns of customers that are not attributes of the shop.
NOT_ATTRIBUTES = frozenset(
    {
        "customer_id",
        "name",
        "address",
        "status",
        "rep_id",
        "interaction_mode",
        "visits_per_month",
        "current_mode",
        "current_visits_per_month",
        "service_source",
    }
)
_WORD = re.compile(r"[^A-Z0-9&']+")
#: Features that describe a shop's purchases from us in the window (zero for non-buyers).
_OWN_ONLY = frozenset(
    {
        "own_revenue",
        "own_volume",
        "own_orders",
        "own_products",
        "own_categories",
        "own_months_active",
        "own_price",
        "own_order_value",
        "mean_gap_days",
        "gap_cv",
    }
)
_IDENTIFIER = re.compile(
    r"(^|_)(id|ids|code|number|no|num|key|uuid|zip|zipcode|zip_code|postcode|postal_code|phone|"
    r"email|vat|siret|ean|gln)$",
    re.IGNORECASE,
)


def is_identifier(column: str) -> bool:
    """Whether a customers column is a code (``*_id``, ``*_number``, ``zip``, ``phone``…):
    its numeric value is never a feature."""
    return bool(_IDENTIFIER.search(column))


@dataclass(frozen=True, slots=True)
class WalletParams:
    """Parameters of the potential model."""

    coverage: float = 0.8  # nominal share of true totals inside [potential_low, potential_high]
    n_folds: int = 5
    n_neighbours: int = 10
    n_estimators: int = 600
    learning_rate: float = 0.03
    num_leaves: int = 15
    min_child_samples: int = 10
    max_categories: int = 32  # categorical columns with at most this many levels stay native
    max_name_words: int = 40  # most frequent words of shop names used as indicators
    smoothing: float = 10.0  # target-encoding prior weight (shops)
    n_bags: int = 1  # models with different seeds averaged
    objective: str = "huber"
    # shops not buying from us: blend the regression with P(any purchase) × the total of a
    # shop that buys (a hurdle model), with this weight
    hurdle: bool = True
    hurdle_weight: float = 0.5
    hurdle_lean: bool = False  # the hurdle model without the purchase features of buyers
    min_observed: int = 12  # fewer shops with market data: fallback on default_share
    default_share: float = 0.3  # share of wallet assumed when market data are missing
    window_days: int = 365
    random_state: int = 0


@dataclass(frozen=True, slots=True)
class WalletWindow:
    """The 12 months (or less) the potential refers to: [start, end)."""

    start: dt.date
    end: dt.date
    source: str  # "market" or "orders"

    @property
    def days(self) -> int:
        return max(1, (self.end - self.start).days)


@dataclass(frozen=True, slots=True)
class WalletCV:
    """Cross-validation of the estimated potential on the shops with market data."""

    n: int
    folds: int
    spearman: float  # estimated vs observed yearly totals (out of fold)
    baseline_spearman: float  # own sales / median share of wallet vs observed
    coverage: float  # share of observed totals inside the range (out of fold)
    nominal: float
    median_abs_log_error: float
    spearman_buyers: float | None = None
    spearman_non_buyers: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        return (
            f"potential CV on {self.n} shops with market data ({self.folds} folds): Spearman "
            f"{self.spearman:.3f} (baseline own/median share {self.baseline_spearman:.3f}), "
            f"range coverage {self.coverage:.0%} (nominal {self.nominal:.0%})"
        )


# --------------------------------------------------------------------------- market data


def market_periods(market: pl.DataFrame) -> pl.DataFrame:
    """Market rows with the dates of their period: start, end (exclusive), months."""
    yearly = pl.col("period").str.len_chars() == 4
    start = (
        pl.when(yearly)
        .then(pl.concat_str(pl.col("period"), pl.lit("-01-01")))
        .otherwise(pl.concat_str(pl.col("period"), pl.lit("-01")))
        .str.to_date("%Y-%m-%d")
    )
    return market.with_columns(
        start.alias("period_start"), pl.when(yearly).then(12).otherwise(1).alias("months")
    ).with_columns(
        pl.when(yearly)
        .then(pl.col("period_start").dt.offset_by("1y"))
        .otherwise(pl.col("period_start").dt.offset_by("1mo"))
        .alias("period_end")
    )


def observed_totals(
    market: pl.DataFrame | None, as_of: dt.date, *, window_days: int = 365
) -> tuple[pl.DataFrame, WalletWindow | None]:
    """Yearly total purchases of the shops with market data, and the window they refer to.

    The window is the 12 months ending with the latest market period that starts before
    ``as_of``. Each shop's periods inside it are summed (a row without category is the total
    of all categories and wins over category rows of the same period; otherwise categories are
    added up) and annualised over the months observed. Returns customer_id, observed_total,
    observed_months, observed_own (annualised own_amount where given).
    """
    empty = pl.DataFrame(
        schema={
            "customer_id": pl.String,
            "observed_total": pl.Float64,
            "observed_months": pl.Int64,
            "observed_own": pl.Float64,
        }
    )
    if market is None or market.height == 0:
        return empty, None
    rows = market_periods(market).filter(pl.col("period_start") < as_of)
    if rows.height == 0:
        return empty, None
    end = rows.select(pl.col("period_end").max()).item()
    start = end - dt.timedelta(days=window_days)
    start = dt.date(end.year - 1, end.month, end.day) if window_days == 365 else start
    inside = rows.filter((pl.col("period_start") >= start) & (pl.col("period_end") <= end))
    own = pl.col("own_amount") if "own_amount" in inside.columns else pl.lit(None, dtype=pl.Float64)
    category = pl.col("category") if "category" in inside.columns else pl.lit(None, dtype=pl.String)
    per_period = (
        inside.with_columns(category.alias("_cat"), own.alias("_own"))
        .group_by("customer_id", "period")
        .agg(
            pl.when(pl.col("_cat").is_null().any())
            .then(pl.col("total_amount").filter(pl.col("_cat").is_null()).max())
            .otherwise(pl.col("total_amount").sum())
            .alias("total"),
            pl.when(pl.col("_cat").is_null().any())
            .then(pl.col("_own").filter(pl.col("_cat").is_null()).max())
            .otherwise(pl.col("_own").sum())
            .alias("own"),
            pl.col("months").first(),
        )
    )
    totals = per_period.group_by("customer_id").agg(
        (pl.col("total").sum() * 12.0 / pl.col("months").sum()).alias("observed_total"),
        pl.col("months").sum().cast(pl.Int64).alias("observed_months"),
        pl.when(pl.col("own").is_not_null().all())
        .then(pl.col("own").sum() * 12.0 / pl.col("months").sum())
        .alias("observed_own"),
    )
    first = inside.select(pl.col("period_start").min()).item()
    return totals.sort("customer_id"), WalletWindow(max(start, first), end, "market")


# --------------------------------------------------------------------------- features


@dataclass(slots=True)
class _Design:
    """The feature matrix of the universe, with what must be recomputed inside each fold."""

    x: FloatArray
    names: list[str]
    categorical: list[int]
    te_codes: list[tuple[str, IntArray]]  # columns to target-encode inside each fold
    lat: FloatArray
    lon: FloatArray
    own: FloatArray  # log1p of our yearly sales in the window (0 for non-buyers)
    optional: list[str] = field(default_factory=list)  # kept only if cross-validation agrees

    def without(self, names: set[str]) -> _Design:
        """The same design without the columns ``names``."""
        keep = [i for i, name in enumerate(self.names) if name not in names]
        position = {old: new for new, old in enumerate(keep)}
        return _Design(
            x=self.x[:, keep],
            names=[self.names[i] for i in keep],
            categorical=[position[i] for i in self.categorical if i in position],
            te_codes=[(n, c) for n, c in self.te_codes if n not in names],
            lat=self.lat,
            lon=self.lon,
            own=self.own,
            optional=[n for n in self.optional if n not in names],
        )


def _own_features(
    lines: pl.DataFrame, ids: pl.DataFrame, window: WalletWindow, as_of: dt.date
) -> pl.DataFrame:
    """Our purchase pattern with each shop in the window, and around it."""
    data_start = lines.select(pl.col("order_date").min()).item() if lines.height else None
    start = max(window.start, data_start) if data_start is not None else window.start
    days = max(1, (window.end - start).days)
    per_year = DAYS_PER_YEAR / days
    months = days / 30.44
    now = purchase_kpis(lines, start, window.end)
    frame = ids.join(now, on="customer_id", how="left").with_columns(
        pl.col("revenue", "volume").fill_null(0.0),
        pl.col("orders", "products", "categories").fill_null(0),
    )
    active = (
        lines.filter(pl.col("order_date").is_between(start, window.end, closed="left"))
        .group_by("customer_id")
        .agg(pl.col("order_date").dt.truncate("1mo").n_unique().alias("months_active"))
    )
    ever = (
        lines.filter(pl.col("order_date") < window.end)
        .group_by("customer_id")
        .agg(pl.col("order_date").min().alias("first_ever"))
    )
    exprs: list[pl.Expr] = [
        (pl.col("revenue") * per_year).log1p().alias("own_revenue"),
        (pl.col("volume") * per_year).log1p().alias("own_volume"),
        (pl.col("orders") * per_year).alias("own_orders"),
        pl.col("products").cast(pl.Float64).alias("own_products"),
        pl.col("categories").cast(pl.Float64).alias("own_categories"),
        (pl.col("months_active").fill_null(0) / months).alias("own_months_active"),
        (pl.lit(window.end) - pl.col("last_order")).dt.total_days().alias("own_recency"),
        (pl.lit(window.end) - pl.col("first_ever")).dt.total_days().alias("own_tenure"),
        pl.when(pl.col("volume") > 0)
        .then((pl.col("revenue") / pl.col("volume")).log1p())
        .alias("own_price"),
        pl.when(pl.col("orders") > 0)
        .then((pl.col("revenue") / pl.col("orders")).log1p())
        .alias("own_order_value"),
        pl.col("mean_gap_days"),
        pl.col("gap_cv"),
    ]
    frame = frame.join(active, on="customer_id", how="left").join(
        ever, on="customer_id", how="left"
    )
    if data_start is not None and data_start < start - dt.timedelta(days=30):
        before_start = max(data_start, start - dt.timedelta(days=365))
        before = purchase_kpis(lines, before_start, start).select(
            "customer_id", pl.col("revenue").alias("_before")
        )
        scale = DAYS_PER_YEAR / max(1, (start - before_start).days)
        frame = frame.join(before, on="customer_id", how="left")
        exprs.append((pl.col("_before").fill_null(0.0) * scale).log1p().alias("own_before"))
    if as_of > window.end + dt.timedelta(days=30):
        after = purchase_kpis(lines, window.end, as_of).select(
            "customer_id", pl.col("revenue").alias("_after")
        )
        scale = DAYS_PER_YEAR / max(1, (as_of - window.end).days)
        frame = frame.join(after, on="customer_id", how="left")
        exprs.append((pl.col("_after").fill_null(0.0) * scale).log1p().alias("own_after"))
    mix = _category_mix(lines, start, window.end)
    if mix is not None:
        frame = frame.join(mix, on="customer_id", how="left")
        exprs.extend(pl.col(c).fill_null(0.0) for c in mix.columns if c != "customer_id")
    # rows in the order of ``ids``: the design matrix is positional
    return ids.join(
        frame.select("customer_id", *exprs), on="customer_id", how="left", maintain_order="left"
    )


def _category_mix(lines: pl.DataFrame, start: dt.date, end: dt.date) -> pl.DataFrame | None:
    """Share of each shop's purchases from us in each of our 8 largest categories."""
    window = lines.filter(
        pl.col("order_date").is_between(start, end, closed="left")
        & pl.col("category").is_not_null()
    )
    if window.height == 0:
        return None
    top = (
        window.group_by("category")
        .agg(pl.col("value").sum())
        .sort("value", descending=True)
        .head(8)["category"]
    )
    if top.len() < 2:
        return None
    names = {c: f"mix_{i}" for i, c in enumerate(top.to_list())}
    shares = (
        window.filter(pl.col("category").is_in(top.implode()))
        .group_by("customer_id", "category")
        .agg(pl.col("value").sum())
        .with_columns((pl.col("value") / pl.col("value").sum().over("customer_id")).alias("s"))
        .with_columns(pl.col("category").replace_strict(names, return_dtype=pl.String))
        .pivot(on="category", index="customer_id", values="s")
    )
    missing = [pl.lit(0.0).alias(n) for n in names.values() if n not in shares.columns]
    return shares.with_columns(missing).select("customer_id", *names.values())


def _name_words(names: pl.Series) -> pl.DataFrame:
    """Each shop's name split into upper-case words (digits-only words dropped)."""
    return (
        pl.DataFrame({"row": np.arange(names.len()), "name": names})
        .with_columns(
            pl.col("name")
            .fill_null("")
            .str.to_uppercase()
            .str.replace_all(_WORD.pattern, " ")
            .str.strip_chars()
            .str.split(" ")
            .alias("word")
        )
        .explode("word")
        .filter((pl.col("word").str.len_chars() >= 2) & ~pl.col("word").str.contains(r"^\d+$"))
        .unique(["row", "word"])
    )


def _codes(values: pl.Series) -> tuple[IntArray, int]:
    """Dense integer codes of a string column (-1 for null) and the number of levels."""
    filled = values.cast(pl.String)
    levels = filled.drop_nulls().unique().sort()
    mapping = dict(zip(levels.to_list(), range(levels.len()), strict=True))
    codes = filled.replace_strict(mapping, default=-1, return_dtype=pl.Int64).to_numpy()
    return np.asarray(codes, dtype=np.int64), levels.len()


@dataclass
class _Features:
    """The feature columns of the universe as they are added, and notes about the data."""

    n: int
    params: WalletParams
    columns: list[FloatArray] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    categorical: list[int] = field(default_factory=list)
    te_codes: list[tuple[str, IntArray]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, values: npt.ArrayLike, *, native: bool = False) -> None:
        if native:
            self.categorical.append(len(self.names))
        self.columns.append(np.asarray(values, dtype=np.float64))
        self.names.append(name)

    def add_string(self, name: str, values: pl.Series) -> None:
        codes, levels = _codes(values)
        if levels < 2:  # nothing to tell shops apart (e.g. few names share a first word)
            return
        counts = np.bincount(codes[codes >= 0], minlength=levels)
        self.add(
            f"{name}:count", np.where(codes >= 0, np.log1p(counts[np.maximum(codes, 0)]), np.nan)
        )
        self.te_codes.append((f"{name}:mean", codes))
        if levels <= self.params.max_categories:
            self.add(f"{name}:level", np.where(codes >= 0, codes, np.nan), native=True)


def _design(
    customers: pl.DataFrame, own: pl.DataFrame, params: WalletParams
) -> tuple[_Design, list[str]]:
    """The features of every shop (rows in the order of ``customers``) and notes."""
    n = customers.height
    features = _Features(n, params)
    for name in own.columns:
        if name != "customer_id":
            features.add(name, own[name].cast(pl.Float64).to_numpy())
    _attribute_features(features, customers)
    if "name" in customers.columns and customers["name"].drop_nulls().len() > 0:
        _name_features(features, customers["name"])
    lat = _float_column(customers, "latitude", n)
    lon = _float_column(customers, "longitude", n)
    own_revenue = np.nan_to_num(own["own_revenue"].to_numpy().astype(np.float64))
    _location_features(features, lat, lon, own_revenue)
    design = _Design(
        x=np.column_stack(features.columns) if features.columns else np.zeros((n, 0)),
        names=features.names,
        categorical=features.categorical,
        te_codes=features.te_codes,
        lat=lat,
        lon=lon,
        own=own_revenue,
        optional=[],
    )
    return design, features.notes


def _attribute_features(features: _Features, customers: pl.DataFrame) -> None:
    """The shops' own columns: numbers as they are, text by its levels."""
    n, params = features.n, features.params
    for name, dtype in customers.schema.items():
        if name in NOT_ATTRIBUTES:
            continue
        series = customers[name]
        if is_identifier(name):
            # a code's number means nothing: at most its levels do (a zip code's area)
            series = series.cast(pl.String)
            dtype = series.dtype
        if dtype.is_numeric() or dtype == pl.Boolean:
            values = series.cast(pl.Float64)
            if values.drop_nulls().n_unique() >= 2:
                features.add(name, values.to_numpy())
        elif dtype in (pl.String, pl.Categorical, pl.Enum):
            distinct = series.drop_nulls().n_unique()
            if 2 <= distinct <= max(params.max_categories, 0.5 * n):
                features.add_string(name, series.cast(pl.String))
            elif distinct > 0.5 * n:
                features.notes.append(
                    f"customers column {name!r} ignored: almost one value per shop"
                )


def _name_features(features: _Features, names: pl.Series) -> None:
    """The shops' names: their frequent words, and their first word or two."""
    n, params = features.n, features.params
    words = _name_words(names)
    frequency = (
        words.group_by("word")
        .len()
        .filter((pl.col("len") >= max(5, int(0.002 * n))) & (pl.col("len") <= 0.4 * n))
    )
    top = frequency.sort(["len", "word"], descending=[True, False]).head(params.max_name_words)
    for word in top["word"].to_list():
        rows = words.filter(pl.col("word") == word)["row"].to_numpy()
        flag = np.zeros(n)
        flag[rows] = 1.0
        features.add(f"name:{word}", flag)
    first = (
        names.fill_null("").str.to_uppercase().str.replace_all(_WORD.pattern, " ").str.strip_chars()
    )
    head = first.str.split(" ").list.first()
    head2 = first.str.split(" ").list.slice(0, 2).list.join(" ")
    for label, series in (("name_first", head), ("name_first2", head2)):
        words_of = pl.DataFrame({"w": series.replace("", None)})
        kept = words_of.select(
            pl.when(pl.len().over("w") >= 3).then(pl.col("w")).alias(label)
        ).to_series()
        features.add_string(label, kept)


def _location_features(
    features: _Features, lat: FloatArray, lon: FloatArray, own_revenue: FloatArray
) -> None:
    """Distances to the nearest shops and what the nearest shops buy from us."""
    n, params = features.n, features.params
    located = np.isfinite(lat) & np.isfinite(lon)
    if located.sum() < 10:
        features.notes.append("too few shops with coordinates: no location features")
        return
    index = NeighbourIndex(lat[located], lon[located])
    k = min(20, int(located.sum()) - 1)
    km, idx = index.query(lat[located], lon[located], k, exclude_self=True)
    for rank in (1, 5, 20):
        col = np.full(n, np.nan)
        if rank <= k:
            col[located] = np.log1p(km[:, rank - 1])
        features.add(f"geo:km_to_{rank}th_shop", col)
    kk = min(params.n_neighbours, k)
    neighbours = np.where(idx[:, :kk] >= 0, idx[:, :kk], 0)
    own_located = own_revenue[located]
    valid = idx[:, :kk] >= 0
    mean_own = np.where(valid, own_located[neighbours], 0.0).sum(1) / np.maximum(valid.sum(1), 1)
    buying = np.where(valid, own_located[neighbours] > 0, False).sum(1) / np.maximum(
        valid.sum(1), 1
    )
    for label, values in (("geo:neighbours_own", mean_own), ("geo:neighbours_buying", buying)):
        col = np.full(n, np.nan)
        col[located] = values
        features.add(label, col)


def _float_column(frame: pl.DataFrame, name: str, n: int) -> FloatArray:
    if name not in frame.columns:
        return np.full(n, np.nan)
    return np.asarray(frame[name].cast(pl.Float64).fill_null(np.nan).to_numpy(), np.float64)


def _fold_ids(n: int, folds: int, seed: int) -> IntArray:
    rng = np.random.default_rng(seed)
    return np.asarray(rng.permutation(n) % folds, dtype=np.int64)


def _target_encoding(
    codes: IntArray, y: FloatArray, train: IntArray, smoothing: float, seed: int
) -> FloatArray:
    """Smoothed mean target of each level, out of fold for the training rows."""
    levels = int(codes.max()) + 1 if codes.size else 0
    out = np.full(codes.shape[0], np.nan)
    if levels == 0 or train.size == 0:
        return out
    prior = float(y[train].mean())

    def encode(rows: IntArray, into: IntArray) -> None:
        c = codes[rows]
        ok = c >= 0
        sums = np.bincount(c[ok], weights=y[rows][ok], minlength=levels)
        counts = np.bincount(c[ok], minlength=levels)
        target = codes[into]
        value = (sums[np.maximum(target, 0)] + smoothing * prior) / (
            counts[np.maximum(target, 0)] + smoothing
        )
        out[into] = np.where(target >= 0, value, np.nan)

    encode(train, np.setdiff1d(np.arange(codes.shape[0]), train))
    inner = _fold_ids(train.size, 5, seed + 1)
    for f in range(5):
        encode(train[inner != f], train[inner == f])
    return out


def _neighbour_targets(
    design: _Design, y: FloatArray, train: IntArray, k: int
) -> tuple[list[str], FloatArray]:
    """Nearest observed shops' log totals and log total/own ratios (self excluded)."""
    n = design.x.shape[0]
    names = ["knn:total", "knn:nearest_total", "knn:km", "knn:total_over_own"]
    out = np.full((n, len(names)), np.nan)
    ok_train = train[np.isfinite(design.lat[train]) & np.isfinite(design.lon[train])]
    located = np.flatnonzero(np.isfinite(design.lat) & np.isfinite(design.lon))
    if ok_train.size < 3 or located.size == 0:
        return names, out
    index = NeighbourIndex(design.lat[ok_train], design.lon[ok_train])
    kk = min(k, ok_train.size - 1)
    is_train = np.zeros(n, dtype=bool)
    is_train[ok_train] = True
    position = np.full(n, -1)
    position[ok_train] = np.arange(ok_train.size)
    # training shops: their neighbours among the other training shops
    km_t, idx_t = index.query(design.lat[ok_train], design.lon[ok_train], kk, exclude_self=True)
    others = located[~is_train[located]]
    km_o, idx_o = index.query(design.lat[others], design.lon[others], kk)
    y_train = y[ok_train]
    ratio_train = np.where(design.own[ok_train] > 0, y_train - design.own[ok_train], np.nan)
    for rows, km, idx in ((ok_train, km_t, idx_t), (others, km_o, idx_o)):
        valid = idx >= 0
        safe = np.where(valid, idx, 0)
        weight = np.where(valid, 1.0 / (np.where(valid, km, 0.0) + 1.0), 0.0)
        total = (weight * y_train[safe]).sum(1) / np.maximum(weight.sum(1), 1e-12)
        ratios = np.where(valid, ratio_train[safe], np.nan)
        ratio_weight = np.where(np.isfinite(ratios), weight, 0.0)
        ratio = np.where(
            ratio_weight.sum(1) > 0,
            (ratio_weight * np.nan_to_num(ratios)).sum(1) / np.maximum(ratio_weight.sum(1), 1e-12),
            np.nan,
        )
        out[rows, 0] = total
        out[rows, 1] = np.where(valid[:, 0], y_train[safe[:, 0]], np.nan)
        out[rows, 2] = np.where(valid[:, 0], np.log1p(np.where(valid[:, 0], km[:, 0], 0.0)), np.nan)
        out[rows, 3] = ratio
    return names, out


def _fold_matrix(
    design: _Design, y: FloatArray, train: IntArray, params: WalletParams
) -> tuple[FloatArray, list[str]]:
    """The design completed with the features that depend on the training targets."""
    extra: list[FloatArray] = []
    names: list[str] = []
    for name, codes in design.te_codes:
        extra.append(_target_encoding(codes, y, train, params.smoothing, params.random_state))
        names.append(name)
    knn_names, knn = _neighbour_targets(design, y, train, params.n_neighbours)
    matrix = np.column_stack([design.x, *extra, knn]) if extra else np.column_stack([design.x, knn])
    return matrix, design.names + names + knn_names


def _model(params: WalletParams, n_train: int, seed: int = 0) -> Any:
    from lightgbm import LGBMRegressor

    # fewer, shallower trees on small samples
    scale = min(1.0, max(0.35, n_train / 600))
    return LGBMRegressor(
        objective=params.objective,
        alpha=1.0,
        n_estimators=int(params.n_estimators * scale),
        learning_rate=params.learning_rate,
        num_leaves=params.num_leaves,
        min_child_samples=max(3, min(params.min_child_samples, n_train // 20)),
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        reg_lambda=1.0,
        min_split_gain=0.0,
        cat_smooth=10.0,
        random_state=params.random_state + seed,
        n_jobs=1,
        verbose=-1,
    )


def _fit_predict(
    design: _Design, y: FloatArray, train: IntArray, predict: IntArray, params: WalletParams
) -> tuple[FloatArray, Any, list[str]]:
    matrix, names = _fold_matrix(design, y, train, params)
    total = np.zeros(predict.size)
    model: Any = None
    for bag in range(max(1, params.n_bags)):
        model = _model(params, train.size, bag)
        model.fit(
            matrix[train],
            y[train],
            categorical_feature=design.categorical if design.categorical else "auto",
        )
        total += np.asarray(model.predict(matrix[predict]), dtype=np.float64)
    pred = total / max(1, params.n_bags)
    if params.hurdle:
        keep = [
            k
            for k, name in enumerate(names)
            if not (params.hurdle_lean and (name.startswith("mix_") or name in _OWN_ONLY))
        ]
        lean = matrix[:, keep]
        cats = [keep.index(c) for c in design.categorical if c in keep]
        pred = _hurdle(lean, y, train, predict, design, params, pred, cats)
    return pred, model, names


def _hurdle(
    matrix: FloatArray,
    y: FloatArray,
    train: IntArray,
    predict: IntArray,
    design: _Design,
    params: WalletParams,
    pred: FloatArray,
    categorical: list[int],
) -> FloatArray:
    """Shops that do not buy from us: log(1 + P(buys at all) × the total of one that does),
    from a classifier of "any purchase" and a regression on the shops that buy something.

    Many shops of a universe buy nothing in a year (closed, not yet open); one regression on
    log totals with their zeros ranks the others poorly. Shops buying from us keep ``pred``.
    """
    from lightgbm import LGBMClassifier

    active = y[train] > 1e-9
    out = pred.copy()
    non_buyer = design.own[predict] <= 0
    if active.sum() < 20 or (~active).sum() < 10 or not non_buyer.any():
        return out
    cats: Any = categorical if categorical else "auto"
    classifier: Any = LGBMClassifier(
        n_estimators=300,
        learning_rate=0.03,
        num_leaves=params.num_leaves,
        min_child_samples=max(3, min(params.min_child_samples, train.size // 20)),
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        reg_lambda=1.0,
        random_state=params.random_state,
        n_jobs=1,
        verbose=-1,
    )
    classifier.fit(matrix[train], active.astype(np.int64), categorical_feature=cats)
    rows = predict[non_buyer]
    p_active = np.asarray(classifier.predict_proba(matrix[rows])[:, 1], dtype=np.float64)
    on = train[active]
    regression = _model(params, on.size, 7)
    regression.fit(matrix[on], y[on], categorical_feature=cats)
    mu = np.asarray(regression.predict(matrix[rows]), dtype=np.float64)
    hurdle = np.log1p(p_active * np.expm1(np.maximum(mu, 0.0)))
    w = params.hurdle_weight
    out[non_buyer] = (1.0 - w) * pred[non_buyer] + w * hurdle
    return out


def _spearman(a: FloatArray, b: FloatArray) -> float:
    if a.size < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(spearmanr(a, b).statistic)


def _conformal(residuals: FloatArray, coverage: float) -> tuple[float, float]:
    """Lower and upper residual quantiles with the finite-sample correction."""
    n = residuals.size
    if n == 0:
        return -math.log(4.0), math.log(4.0)
    tail = (1.0 - coverage) / 2.0
    lo = max(0.0, math.floor((n + 1) * tail) - 1) / max(n - 1, 1)
    hi = min(1.0, math.ceil((n + 1) * (1.0 - tail)) / n)
    return float(np.quantile(residuals, lo)), float(np.quantile(residuals, hi))


# --------------------------------------------------------------------------- estimator


def _targets(
    observed_total: FloatArray,
    own_amount: FloatArray,
    params: WalletParams,
    notes: list[str],
) -> tuple[FloatArray, IntArray, str]:
    """The log totals the model learns (NaN where unknown), the rows it learns from, and how
    the potential is estimated: from the shops with market data, or with too few of them
    from our own sales over the default share."""
    is_observed = np.isfinite(observed_total)
    n_observed = int(is_observed.sum())
    y = np.full(observed_total.shape[0], np.nan)
    if n_observed >= params.min_observed:
        y[is_observed] = np.log1p(observed_total[is_observed])
        return y, np.flatnonzero(is_observed), "model trained on the shops with market data"
    method = (
        f"fallback: only {n_observed} shops with market data; potential = own sales / "
        f"{params.default_share:.0%} and, for shops not buying from us, a model of that "
        "from their attributes"
    )
    notes.append(method)
    train = np.flatnonzero((own_amount > 0) & ~is_observed)
    y[train] = np.log1p(own_amount[train] / params.default_share)
    y[is_observed] = np.log1p(observed_total[is_observed])
    return y, train, method


def _result(
    universe: pl.DataFrame,
    observed_total: FloatArray,
    own_amount: FloatArray,
    estimate: FloatArray,
    low: FloatArray,
    high: FloatArray,
) -> pl.DataFrame:
    """Potential and share of wallet with their ranges: the market's figure where observed,
    else the estimate, never below our own sales."""
    is_observed = np.isfinite(observed_total)
    buyer = own_amount > 0
    potential = np.where(is_observed, observed_total, np.maximum(estimate, own_amount))
    low = np.where(is_observed, observed_total, np.maximum(low, own_amount))
    high = np.where(is_observed, observed_total, np.maximum(high, potential))
    low = np.minimum(low, potential)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(potential > 0, np.clip(own_amount / potential, 0.0, 1.0), np.nan)
        share_low = np.where(high > 0, np.clip(own_amount / high, 0.0, 1.0), np.nan)
        share_high = np.where(low > 0, np.clip(own_amount / low, 0.0, 1.0), np.nan)
    return pl.DataFrame(
        {
            "customer_id": universe["customer_id"],
            "potential": potential,
            "potential_low": low,
            "potential_high": high,
            "own_amount": own_amount,
            "share_of_wallet": share,
            "share_low": share_low,
            "share_high": share_high,
            "source": np.where(is_observed, "observed", "estimated"),
            "buyer": buyer,
        }
    ).with_columns(pl.col(pl.Float64).fill_nan(None))


class WalletEstimator:
    """Potential and share of wallet of every shop of a market universe.

    ``fit(customers, orders, market, as_of=...)`` learns from the shops with market data and
    fills ``result_``: customer_id, potential, potential_low, potential_high, own_amount
    (our yearly sales in the window), share_of_wallet, share_low, share_high, source
    (``observed`` / ``estimated``), buyer (buys from us in the window). ``cv_`` holds the
    cross-validation on the shops with market data, ``window_`` the period the potential
    refers to, ``feature_importance_`` the model's gains by feature.
    """

    def __init__(self, params: WalletParams | None = None) -> None:
        self.params = params

    def fit(
        self,
        customers: pl.DataFrame,
        orders: pl.DataFrame,
        market: pl.DataFrame | None = None,
        *,
        as_of: dt.date,
        products: pl.DataFrame | None = None,
    ) -> WalletEstimator:
        params = self.params or WalletParams()
        notes: list[str] = []
        lines = line_values(orders, products).filter(pl.col("order_date") < as_of)
        observed, window = observed_totals(market, as_of, window_days=params.window_days)
        if window is None:
            window = WalletWindow(as_of - dt.timedelta(days=params.window_days), as_of, "orders")
        universe = customers.select("customer_id")
        extra = lines.select("customer_id").unique().join(universe, on="customer_id", how="anti")
        if extra.height:
            notes.append(
                f"{extra.height} customers of the orders are not in customers: left out of the "
                "potential"
            )
        observed = observed.join(universe, on="customer_id", how="semi")
        own = _own_features(lines, universe, window, as_of)
        design, design_notes = _design(customers, own, params)
        notes.extend(design_notes)
        data_start = lines.select(pl.col("order_date").min()).item() if lines.height else None
        own_start = max(window.start, data_start) if data_start is not None else window.start
        own_days = max(1, (window.end - own_start).days)
        own_window = purchase_kpis(lines, own_start, window.end).select(
            "customer_id", (pl.col("revenue") * DAYS_PER_YEAR / own_days).alias("own_amount")
        )
        base = (
            universe.with_row_index("_row")
            .join(own_window, on="customer_id", how="left")
            .join(observed, on="customer_id", how="left")
            .with_columns(pl.col("own_amount").fill_null(0.0))
            .sort("_row")
        )
        own_amount = base["own_amount"].to_numpy().astype(np.float64)
        observed_total = base["observed_total"].fill_null(np.nan).to_numpy().astype(np.float64)
        # an observed total below our own sales in the same window is raised to them
        observed_total = np.where(
            np.isfinite(observed_total), np.maximum(observed_total, own_amount), np.nan
        )
        is_observed = np.isfinite(observed_total)
        buyer = own_amount > 0
        n_observed = int(is_observed.sum())
        y, train, method = _targets(observed_total, own_amount, params, notes)
        predict_rows = np.flatnonzero(~is_observed)
        if train.size >= 8:
            estimate, low, high, cv, importance = self._learn(
                design,
                y,
                train,
                predict_rows,
                buyer,
                own_amount,
                params,
                notes,
                market=n_observed >= params.min_observed,
            )
        else:
            notes.append("too few shops to learn from: potential = own sales / default share")
            guess = own_amount / params.default_share
            fill = float(np.median(guess[buyer])) if buyer.any() else 0.0
            estimate = np.where(buyer, guess, fill)
            low, high = estimate / 3.0, estimate * 3.0
            cv, importance = None, {}
        if n_observed < params.min_observed:
            # pseudo-totals of buyers are their own sales / default share: keep that as estimate
            rows = np.flatnonzero(buyer & ~is_observed)
            estimate[rows] = own_amount[rows] / params.default_share
            low[rows] = np.minimum(low[rows], own_amount[rows] / min(1.0, 2 * params.default_share))
            high[rows] = np.maximum(high[rows], own_amount[rows] / (params.default_share / 2))
        self.result_ = _result(universe, observed_total, own_amount, estimate, low, high)
        self.window_ = window
        self.cv_ = cv
        self.method_ = method
        self.notes_ = notes
        self.feature_importance_ = dict(
            sorted(importance.items(), key=lambda kv: kv[1], reverse=True)
        )
        self.n_observed_ = n_observed
        return self

    def _learn(
        self,
        design: _Design,
        y: FloatArray,
        train: IntArray,
        predict_rows: IntArray,
        buyer: BoolArray,
        own_amount: FloatArray,
        params: WalletParams,
        notes: list[str],
        *,
        market: bool,
    ) -> tuple[FloatArray, FloatArray, FloatArray, WalletCV | None, dict[str, float]]:
        """The model's estimates of ``predict_rows`` with their conformal ranges (NaN
        elsewhere), the cross-validation report (``market``: the targets are market data)
        and the features' gains."""
        n = y.shape[0]
        estimate = np.full(n, np.nan)
        low = np.full(n, np.nan)
        high = np.full(n, np.nan)
        cv: WalletCV | None = None
        importance: dict[str, float] = {}
        oof, folds = self._cross_validate(design, y, train, params)
        design, oof = self._select_optional(design, oof, y, train, params, notes)
        residual = y[train] - oof
        groups = buyer[train]
        bands = {}
        for group in (True, False):
            r = residual[groups == group]
            bands[group] = _conformal(r if r.size >= 20 else residual, params.coverage)
        if market:
            cv = self._cv_report(y, train, oof, folds, buyer, own_amount, params, notes)
        if predict_rows.size:
            pred, model, names = _fit_predict(design, y, train, predict_rows, params)
            importance = dict(
                zip(names, model.booster_.feature_importance("gain").tolist(), strict=True)
            )
            lo_band = np.where(buyer[predict_rows], bands[True][0], bands[False][0])
            hi_band = np.where(buyer[predict_rows], bands[True][1], bands[False][1])
            estimate[predict_rows] = np.expm1(np.maximum(pred, 0.0))
            low[predict_rows] = np.expm1(np.maximum(pred + lo_band, 0.0))
            high[predict_rows] = np.expm1(np.maximum(pred + hi_band, 0.0))
        return estimate, low, high, cv, importance

    def _select_optional(
        self,
        design: _Design,
        oof: FloatArray,
        y: FloatArray,
        train: IntArray,
        params: WalletParams,
        notes: list[str],
    ) -> tuple[_Design, FloatArray]:
        """The design without its optional features unless they improve the cross-validated
        ranking, and the out-of-fold predictions of the design kept."""
        if design.optional and train.size >= 30:
            lean = design.without(set(design.optional))
            oof_lean, _ = self._cross_validate(lean, y, train, params)
            gain = _spearman(oof, y[train]) - _spearman(oof_lean, y[train])
            if not gain > 0.003:
                notes.append(
                    f"not used (cross-validation gain {gain:+.3f}): " + ", ".join(design.optional)
                )
                return lean, oof_lean
            notes.append(f"used (cross-validation gain {gain:+.3f}): " + ", ".join(design.optional))
        elif design.optional:
            design = design.without(set(design.optional))
        return design, oof

    @staticmethod
    def _cross_validate(
        design: _Design, y: FloatArray, train: IntArray, params: WalletParams
    ) -> tuple[FloatArray, IntArray]:
        folds = min(params.n_folds, max(2, train.size // 4))
        fold = _fold_ids(train.size, folds, params.random_state)
        oof = np.full(train.size, np.nan)
        for f in range(folds):
            inner, outer = train[fold != f], train[fold == f]
            pred, _, _ = _fit_predict(design, y, inner, outer, params)
            oof[fold == f] = pred
        return oof, fold

    @staticmethod
    def _cv_report(
        y: FloatArray,
        train: IntArray,
        oof: FloatArray,
        fold: IntArray,
        buyer: BoolArray,
        own_amount: FloatArray,
        params: WalletParams,
        notes: list[str],
    ) -> WalletCV:
        truth = y[train]
        residual = truth - oof
        inside = np.zeros(train.size, dtype=bool)
        baseline = np.zeros(train.size)
        folds = int(fold.max()) + 1
        for f in range(folds):
            rest, here = fold != f, fold == f
            for group in (True, False):
                pick_rest = rest & (buyer[train] == group)
                pick_here = here & (buyer[train] == group)
                r = residual[pick_rest] if pick_rest.sum() >= 20 else residual[rest]
                lo, hi = _conformal(r, params.coverage)
                inside[pick_here] = (residual[pick_here] >= lo) & (residual[pick_here] <= hi)
            rows_rest = train[rest]
            buying = own_amount[rows_rest] > 0
            share = np.median(own_amount[rows_rest][buying] / np.expm1(y[rows_rest][buying]))
            share = float(share) if np.isfinite(share) and share > 0 else params.default_share
            baseline[here] = own_amount[train[here]] / share
        b = buyer[train]
        return WalletCV(
            n=int(train.size),
            folds=folds,
            spearman=_spearman(oof, truth),
            baseline_spearman=_spearman(baseline, truth),
            coverage=float(inside.mean()),
            nominal=params.coverage,
            median_abs_log_error=float(np.median(np.abs(residual))),
            spearman_buyers=_spearman(oof[b], truth[b]) if b.sum() >= 3 else None,
            spearman_non_buyers=_spearman(oof[~b], truth[~b]) if (~b).sum() >= 3 else None,
            notes=tuple(notes),
        )


def estimate_wallet(
    customers: pl.DataFrame,
    orders: pl.DataFrame,
    market: pl.DataFrame | None = None,
    *,
    as_of: dt.date,
    products: pl.DataFrame | None = None,
    params: WalletParams | None = None,
) -> WalletEstimator:
    """Fit a ``WalletEstimator`` and return it (results in ``result_``, CV in ``cv_``)."""
    return WalletEstimator(params).fit(customers, orders, market, as_of=as_of, products=products)
