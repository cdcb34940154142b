"""The wallet model's features: own purchases, attributes, name words, location."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl

from salescope.coverage.kpis import DAYS_PER_YEAR, purchase_kpis
from salescope.coverage.wallet.params import FloatArray, IntArray, WalletParams, WalletWindow
from salescope.geo import NeighbourIndex

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
