"""Dynamic segmentation: segments recomputed every period, readable profiles, moves tracked.

Customers are segmented every period (quarter) on their KPIs of the 12 months before the
period's end (``kpis.kpis_by_period``). Segment *definitions* are learnt once, by k-means on the
pooled standardised KPIs of all periods (value, order frequency, breadth, regularity, trend),
so that a segment means the same thing in every period and a customer's move from one to
another is a real change of behaviour, not a relabelling. Membership is recomputed each period.
Three segments are defined by rule before clustering: ``new`` (first order less than
``new_days`` before the period end), ``lapsed`` (no order for ``lapsed_days`` and three usual
intervals) and ``no_orders`` (never ordered: prospects, or served customers without orders).

Each cluster is named from what sets it apart (``High value, frequent orders``) and profiled:
size, revenue and its share, median KPIs, and a sentence saying what defines it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl
import polars.selectors as cs

from salescope.domain.statuses import RuleSegment

FloatArray = npt.NDArray[np.float64]

NEW = RuleSegment.NEW.value
LAPSED = RuleSegment.LAPSED.value
NO_ORDERS = RuleSegment.NO_ORDERS.value
RULE_NAMES = {segment.value: segment.label for segment in RuleSegment}

#: (KPI column, transform, weight, words for high / low)
_DIMENSIONS: tuple[tuple[str, str, float, str, str], ...] = (
    ("revenue_annualised", "log", 1.5, "high value", "low value"),
    ("orders_per_month", "log", 1.0, "frequent orders", "infrequent orders"),
    ("products_12m", "log", 1.0, "broad range", "narrow range"),
    ("regularity", "raw", 0.6, "regular rhythm", "irregular rhythm"),
    ("trend", "trend", 0.6, "growing", "declining"),
)


@dataclass(frozen=True, slots=True)
class SegmentParams:
    """How customers are segmented."""

    n_segments: int = 5  # clusters of established customers (besides new, lapsed, no orders)
    new_days: int = 90
    lapsed_days: int = 90
    random_state: int = 0


@dataclass(frozen=True, slots=True)
class Segmentation:
    """Memberships per period, profiles per period, and the moves between periods."""

    memberships: pl.DataFrame  # customer_id, period, segment, segment_name
    profiles: pl.DataFrame  # period, segment, segment_name, definition, customers, ...
    transitions: pl.DataFrame  # customer_id, period_from, period_to, segment_from, segment_to
    segmenter: Segmenter

    def moves(self, period_to: str | None = None) -> pl.DataFrame:
        """Counts of customers moving from one segment to another (into ``period_to``)."""
        moves = self.transitions
        if period_to is not None:
            moves = moves.filter(pl.col("period_to") == period_to)
        return (
            moves.group_by("segment_from", "segment_to")
            .len("customers")
            .sort("customers", descending=True)
        )


def kmeans(
    z: FloatArray, k: int, *, seed: int = 0, n_init: int = 8, iters: int = 100
) -> FloatArray:
    """Centres of a k-means: scikit-learn's ``KMeans`` (k-means++ starts, Lloyd iterations,
    the best of ``n_init``)."""
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():  # fewer distinct rows than k: some centres coincide
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = KMeans(
            n_clusters=k, n_init=n_init if k > 1 else 1, max_iter=iters, random_state=seed
        ).fit(z)
    return np.asarray(model.cluster_centers_, dtype=np.float64)


def _matrix(kpis: pl.DataFrame) -> FloatArray:
    columns = []
    for name, transform, _, _, _ in _DIMENSIONS:
        values = kpis[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
        if transform == "log":
            values = np.log1p(np.maximum(values, 0.0))
        elif transform == "trend":
            values = np.log1p(np.clip(values, -0.9, 3.0))
        columns.append(values)
    return np.column_stack(columns)


def _rules(kpis: pl.DataFrame, params: SegmentParams) -> pl.Expr:
    """The rule segment of each row (null for customers to cluster)."""
    lapsed_after = pl.max_horizontal(
        pl.lit(float(params.lapsed_days)), 3.0 * pl.col("mean_gap_days").fill_null(0.0)
    )
    return (
        pl.when(pl.col("last_order").is_null())
        .then(pl.lit(NO_ORDERS))
        .when(pl.col("days_since_last_order") > lapsed_after)
        .then(pl.lit(LAPSED))
        .when(
            (pl.col("tenure_days") < params.new_days)
            & (pl.col("history_days") - pl.col("tenure_days") >= 28)
        )
        .then(pl.lit(NEW))
        .otherwise(None)
    )


class Segmenter:
    """k-means segments of established customers, with rule segments around them.

    ``fit(kpis)`` takes the KPIs of one or several periods (stacked); ``predict(kpis)`` gives
    each row its segment. Fitted: ``centres_`` (standardised space), ``mean_``, ``scale_``,
    ``names_`` and ``definitions_`` of the segments ``S1``… (``S1`` the most valuable).
    """

    def __init__(self, params: SegmentParams | None = None) -> None:
        self.params = params

    def fit(self, kpis: pl.DataFrame) -> Segmenter:
        params = self.params or SegmentParams()
        rows = kpis.filter(_rules(kpis, params).is_null())
        x = _matrix(rows)
        with warnings.catch_warnings():  # a KPI missing for everyone (a short history's trend)
            warnings.simplefilter("ignore", RuntimeWarning)
            self.mean_ = np.nanmean(x, axis=0) if x.shape[0] else np.zeros(x.shape[1])
            scale = np.nanstd(x, axis=0) if x.shape[0] else np.ones(x.shape[1])
        self.mean_ = np.nan_to_num(self.mean_)
        self.scale_ = np.where(np.nan_to_num(scale) > 1e-9, np.nan_to_num(scale), 1.0)
        self.weights_ = np.array([w for _, _, w, _, _ in _DIMENSIONS])
        z = self._standardise(x)
        k = max(1, min(params.n_segments, z.shape[0] // 8))
        if z.shape[0] == 0:
            centres = np.zeros((1, len(_DIMENSIONS)))
        else:
            centres = kmeans(z, k, seed=params.random_state)
        # most valuable first
        centres = centres[np.argsort(-centres[:, 0])]
        self.centres_ = centres
        self.labels_ = [f"S{i + 1}" for i in range(len(centres))]
        self.names_, self.definitions_ = self._describe(centres)
        return self

    def _standardise(self, x: FloatArray) -> FloatArray:
        z = (x - self.mean_) / self.scale_
        return np.asarray(np.nan_to_num(z) * self.weights_, dtype=np.float64)

    def _describe(self, centres: FloatArray) -> tuple[list[str], list[str]]:
        """A short name and a sentence per cluster from the KPIs that set it apart."""
        names: list[str] = []
        definitions: list[str] = []
        taken: list[frozenset[str]] = []
        for centre in centres:
            z = centre / self.weights_
            order = np.argsort(-np.abs(z))
            words: list[tuple[int, str]] = []  # (dimension, word), strongest first
            for j in order:
                if abs(z[j]) >= 0.4:
                    _, _, _, high, low = _DIMENSIONS[j]
                    words.append((int(j), high if z[j] > 0 else low))
            # the fewest strongest words that no other segment has (as a set: "high value,
            # frequent orders" and "frequent orders, high value" are one name), written in
            # the dimensions' order
            k = min(2, len(words))
            while k < len(words) and frozenset(w for _, w in words[:k]) in taken:
                k += 1
            chosen = sorted(words[:k])
            name = ", ".join(w for _, w in chosen).capitalize() if chosen else "Average customers"
            key = frozenset(w for _, w in chosen)
            base, i = name, 2
            while key in taken or name in names:
                name = f"{base} ({i})"
                key = frozenset([name])
                i += 1
            taken.append(key)
            names.append(name)
            detail = ", ".join(
                f"{_DIMENSIONS[j][0]} {z[j]:+.1f} sd" for j in order if abs(z[j]) >= 0.4
            )
            definitions.append(
                ("defined by " + detail + " against established customers")
                if detail
                else "close to the average established customer on every KPI"
            )
        return names, definitions

    def predict(self, kpis: pl.DataFrame) -> pl.DataFrame:
        """customer_id (and period when present), segment, segment_name for each row."""
        params = self.params or SegmentParams()
        rule = kpis.select(_rules(kpis, params).alias("rule"))["rule"]
        z = self._standardise(_matrix(kpis))
        distance = ((z[:, None, :] - self.centres_[None, :, :]) ** 2).sum(axis=2)
        nearest = distance.argmin(axis=1)
        labels = np.asarray(self.labels_, dtype=object)[nearest]
        segment = rule.fill_null(pl.Series(labels.tolist(), dtype=pl.String))
        name_map = dict(zip(self.labels_, self.names_, strict=True)) | RULE_NAMES
        keys = ["customer_id", "period"] if "period" in kpis.columns else ["customer_id"]
        return kpis.select(keys).with_columns(
            segment.alias("segment"),
            segment.replace_strict(name_map, return_dtype=pl.String).alias("segment_name"),
        )

    def definition(self, segment: str) -> str:
        if segment in self.labels_:
            return self.definitions_[self.labels_.index(segment)]
        params = self.params or SegmentParams()
        return {
            NEW: (
                f"first order less than {params.new_days} days before the period end (and at "
                "least 4 weeks after the start of the history)"
            ),
            LAPSED: (f"no order for more than {params.lapsed_days} days and three usual intervals"),
            NO_ORDERS: "no order ever before the period end",
        }[segment]


def profile(kpis: pl.DataFrame, memberships: pl.DataFrame, segmenter: Segmenter) -> pl.DataFrame:
    """One row per (period, segment): size, value and median KPIs, with its definition."""
    keys = ["customer_id", "period"] if "period" in kpis.columns else ["customer_id"]
    joined = kpis.join(memberships, on=keys, how="inner")
    if "period" not in joined.columns:
        joined = joined.with_columns(pl.lit("").alias("period"))
    extra = []
    if "potential" in joined.columns:
        extra = [
            pl.col("potential").sum().alias("potential"),
            pl.col("share_of_wallet").median().alias("median_share_of_wallet"),
        ]
    frame = (
        joined.group_by("period", "segment", "segment_name")
        .agg(
            pl.len().alias("customers"),
            pl.col("revenue_12m").sum().alias("revenue_12m"),
            pl.col("revenue_annualised").median().alias("median_revenue_per_year"),
            pl.col("orders_per_month").median().alias("median_orders_per_month"),
            pl.col("products_12m").median().alias("median_products"),
            pl.col("regularity").median().alias("median_regularity"),
            pl.col("trend").median().alias("median_trend"),
            pl.col("days_since_last_order").median().alias("median_days_since_last_order"),
            *extra,
        )
        .with_columns(
            (pl.col("customers") / pl.col("customers").sum().over("period")).alias(
                "share_of_customers"
            ),
            (pl.col("revenue_12m") / pl.col("revenue_12m").sum().over("period").clip(1e-9)).alias(
                "share_of_revenue"
            ),
        )
    )
    definitions = {s: segmenter.definition(s) for s in frame["segment"].unique().to_list()}
    order = {s: i for i, s in enumerate([*segmenter.labels_, NEW, LAPSED, NO_ORDERS])}
    return (
        frame.with_columns(
            pl.col("segment")
            .replace_strict(definitions, return_dtype=pl.String)
            .alias("definition"),
            pl.col("segment").replace_strict(order, default=99).alias("_order"),
        )
        .sort("period", "_order")
        .drop("_order")
        .with_columns(cs.float().round(4))
        .select(
            "period",
            "segment",
            "segment_name",
            "definition",
            "customers",
            "share_of_customers",
            "revenue_12m",
            "share_of_revenue",
            pl.exclude(
                "period",
                "segment",
                "segment_name",
                "definition",
                "customers",
                "share_of_customers",
                "revenue_12m",
                "share_of_revenue",
            ),
        )
    )


def transitions(memberships: pl.DataFrame) -> pl.DataFrame:
    """Each customer's changes of segment between consecutive periods."""
    periods = memberships["period"].unique(maintain_order=True).to_list()
    order = {p: i for i, p in enumerate(sorted(periods))}
    ranked = memberships.with_columns(
        pl.col("period").replace_strict(order, return_dtype=pl.Int64).alias("_i")
    ).sort("customer_id", "_i")
    return (
        ranked.with_columns(
            pl.col("period").shift(1).over("customer_id").alias("period_from"),
            pl.col("segment").shift(1).over("customer_id").alias("segment_from"),
        )
        .filter(pl.col("period_from").is_not_null() & (pl.col("segment_from") != pl.col("segment")))
        .select(
            "customer_id",
            "period_from",
            pl.col("period").alias("period_to"),
            "segment_from",
            pl.col("segment").alias("segment_to"),
        )
    )


def segment_periods(kpis: pl.DataFrame, params: SegmentParams | None = None) -> Segmentation:
    """Segment the stacked KPIs of several periods (``kpis_by_period``) in one go."""
    if "period" not in kpis.columns:
        kpis = kpis.with_columns(pl.lit("current").alias("period"))
    segmenter = Segmenter(params).fit(kpis)
    memberships = segmenter.predict(kpis)
    return Segmentation(
        memberships=memberships,
        profiles=profile(kpis, memberships, segmenter),
        transitions=transitions(memberships),
        segmenter=segmenter,
    )
