"""The next-order model: which products a customer's next order holds, and how many.

``NextOrderModel`` follows scikit-learn's shape: ``__init__`` stores ``EngineParams``; ``fit``
learns from an order history and returns ``self``; fitted state ends in ``_``. ``score`` gives,
for target customers and dates, every candidate product with its calibrated probability and
quantity; ``salescope.orders.builder`` turns that into order lines.

Training is time-based, on the customers' own past: at several cut-offs before the end of the
history, candidates are built from the history before the cut-off and labelled with the
customer's next order after it. The latest cut-off is kept apart: it stops the boosting early
and calibrates the probabilities (isotonic), so the probabilities are checked on a period the
classifier did not learn from.
"""

from __future__ import annotations

import datetime as dt
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Self

import lightgbm as lgb
import numpy as np
import polars as pl
from sklearn.isotonic import IsotonicRegression

from salescope.orders.builder import fill_candidates, to_lines
from salescope.orders.features import FEATURES, ProductStats, build_candidates, product_stats
from salescope.orders.history import Codes, before, encode, next_orders_after, order_table
from salescope.orders.neighbours import (
    TifuParams,
    candidate_scores,
    item_similarity,
    nearest_neighbours,
    tifu_vectors,
    to_csr,
)
from salescope.orders.quantities import QuantityModel, rounded
from salescope.progress import Progress, no_progress


@dataclass(frozen=True)
class EngineParams:
    """Every knob of the next-order engine (loadable from a TOML table)."""

    lookback_days: int = 730
    train_cutoffs: int = 4
    spacing_days: int | None = None  # default: the customers' median order interval, 7..60
    max_repeat: int = 300  # repeat candidates per customer
    explore: int = 60  # never-bought candidates per customer (from neighbours)
    neighbours: int = 100
    item_neighbours: int = 50  # similar products per product for item-kNN (0: off)
    tifu: TifuParams = field(default_factory=TifuParams)
    objective: str = "lambdarank"  # or "binary"
    negative_rate: float = 0.35
    max_train_rows: int = 2_500_000
    n_estimators: int = 1000
    learning_rate: float = 0.05
    num_leaves: int = 7
    min_child_samples: int = 200
    feature_fraction: float = 0.5
    early_stopping_rounds: int = 50
    customers_per_bucket: int = 4000
    seed: int = 0
    threads: int = 2

    @classmethod
    def from_toml(cls, path: str | Path) -> EngineParams:
        import tomllib

        with Path(path).open("rb") as handle:
            table = tomllib.load(handle)
        table = table.get("engine", table)
        tifu = TifuParams(**table.pop("tifu", {}))
        known = {f.name for f in fields(cls)}
        unknown = set(table) - known
        if unknown:
            raise ValueError(f"{path}: unknown engine parameters {sorted(unknown)}")
        return cls(tifu=tifu, **table)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The broadcast artefacts of one cut-off."""

    cutoff: dt.date
    window: pl.DataFrame
    products: ProductStats
    neighbour: pl.DataFrame


def _spacing_of(orders: pl.DataFrame, cutoff: dt.date) -> int:
    """Days between training cut-offs: the customers' median order interval over the last
    year, between 7 and 60."""
    gaps = (
        orders.filter(pl.col("order_date") >= cutoff - dt.timedelta(days=365))
        .select("customer_id", "order_date")
        .unique()
        .sort("customer_id", "order_date")
        .select(pl.col("order_date").diff().over("customer_id").dt.total_days().median())
        .item()
    )
    return int(np.clip(gaps if gaps is not None else 14, 7, 60))


class NextOrderModel:
    """Learns which products each customer's next order holds, with calibrated probabilities."""

    def __init__(
        self, params: EngineParams | None = None, *, keep_training_data: bool = False
    ) -> None:
        self.params = params or EngineParams()
        self.keep_training_data = keep_training_data

    # -- artefacts at a cut-off --------------------------------------------------------------
    def _snapshot(self, cutoff: dt.date) -> Snapshot:
        p = self.params
        window = before(self.lines_, cutoff, p.lookback_days)
        orders = order_table(window)
        vectors = tifu_vectors(window, orders, p.tifu)
        shape = (self.codes_.n_customers, self.codes_.n_products)
        matrix = to_csr(vectors, "u", shape)
        active = window["c"].unique().sort().to_numpy().astype(np.int64)
        neighbours = nearest_neighbours(matrix, p.neighbours, metric=p.tifu.metric, rows=active)
        items = item_similarity(matrix, p.item_neighbours) if p.item_neighbours else None
        neighbour = (
            candidate_scores(matrix, neighbours, explore=p.explore, rows=active, items=items)
            .join(vectors, on=["c", "p"], how="left")
            .with_columns(pl.col("u").fill_null(0.0))
        )
        stats = product_stats(window, cutoff, self.first_seen_, self.packs_)
        return Snapshot(cutoff, window, stats, neighbour)

    def _candidates(self, snap: Snapshot, targets: pl.DataFrame) -> pl.DataFrame:
        """Features of every candidate of ``targets`` (``c, t``), bucket by bucket."""
        p = self.params
        known = targets.join(snap.window.select("c").unique(), on="c")
        n_buckets = max(1, -(-known.height // p.customers_per_bucket))
        parts = []
        for bucket in range(n_buckets):
            in_bucket = pl.col("c") % n_buckets == bucket
            parts.append(
                build_candidates(
                    snap.window.filter(in_bucket),
                    known.filter(in_bucket),
                    snap.products,
                    snap.neighbour.filter(in_bucket),
                    self.first_order_,
                    max_repeat=p.max_repeat,
                )
            )
        if not parts:
            return pl.DataFrame()
        # a fixed row order makes sampling and boosting reproducible
        return pl.concat(parts, how="diagonal_relaxed").sort("c", "t", "p")

    def _labelled(self, cutoff: dt.date, until: dt.date) -> pl.DataFrame:
        """Candidates at ``cutoff`` labelled with each customer's next order before ``until``."""
        nxt = next_orders_after(self.lines_, cutoff, until)
        targets = nxt.group_by("c").agg(pl.col("d").first().alias("t"))
        frame = self._candidates(self._snapshot(cutoff), targets)
        truth = nxt.select("c", "p", pl.col("q").alias("q_actual"))
        frame = (
            frame.join(truth, on=["c", "p"], how="left")
            .with_columns(pl.col("q_actual").is_not_null().cast(pl.Int8).alias("label"))
            .sort("c", "t", "p")  # joins do not keep row order; sampling and boosting need one
        )
        # positives the candidates missed still count in the recall the model can reach
        self.coverage_.append(
            {
                "cutoff": cutoff.isoformat(),
                "customers": targets.height,
                "positives": truth.height,
                "covered": int(frame["label"].sum()),
            }
        )
        return frame

    # -- fitting -----------------------------------------------------------------------------
    def fit(
        self,
        orders: pl.DataFrame,
        products: pl.DataFrame | None = None,
        *,
        cutoff: dt.date | None = None,
        progress: Progress = no_progress,
    ) -> Self:
        """Learn from canonical order lines (all before ``cutoff``, default: the day after the
        last order)."""
        started = time.perf_counter()
        p = self.params
        dates = orders["order_date"]
        self.cutoff_: dt.date = cutoff or (_date(dates.max()) + dt.timedelta(days=1))
        history = orders.filter(pl.col("order_date") < self.cutoff_)
        if history.height == 0:
            raise ValueError(f"no order lines before {self.cutoff_} to learn from")
        self.spacing_ = p.spacing_days or _spacing_of(history, self.cutoff_)
        # only the look-back window of the oldest training cut-off is read line by line;
        # first dates (tenure, product age) and identifiers come from the whole history
        oldest = self.cutoff_ - dt.timedelta(days=self.spacing_ * p.train_cutoffs + p.lookback_days)
        firsts = history.lazy().select("customer_id", "product_id", "order_date")
        first_customer = firsts.group_by("customer_id").agg(
            pl.col("order_date").min().alias("c_first")
        )
        first_product = firsts.group_by("product_id").agg(
            pl.col("order_date").min().alias("first_d")
        )
        lines, codes = encode(
            history.filter(pl.col("order_date") >= oldest),
            products,
            customers=first_customer.select("customer_id").collect(),
            known_products=first_product.select("product_id").collect(),
        )
        self.codes_ = codes
        self.lines_ = lines
        self.first_seen_ = codes.products.join(first_product.collect(), on="product_id").select(
            "p", "first_d"
        )
        self.first_order_ = codes.customers.join(first_customer.collect(), on="customer_id").select(
            "c", "c_first"
        )
        self.packs_ = _packs(products, codes)
        self.coverage_: list[dict[str, Any]] = []
        cutoffs = [
            self.cutoff_ - dt.timedelta(days=self.spacing_ * j)
            for j in range(1, p.train_cutoffs + 1)
        ]
        first_day = _date(dates.min())
        cutoffs = [c for c in cutoffs if c > first_day]
        frames: list[pl.DataFrame] = []
        for i, cut in enumerate(cutoffs):
            progress(f"training cut-off {cut}", 0.05 + 0.6 * i / max(1, len(cutoffs)))
            frame = self._labelled(cut, self.cutoff_).with_columns(
                pl.lit(i, dtype=pl.Int32).alias("_cut")
            )
            if i > 0:
                frame = _subsample(frame, p.negative_rate, p.seed + i)
            frames.append(frame)
        self.fitted_on_ = {"cutoffs": [c.isoformat() for c in cutoffs]}
        self.has_model_ = len(frames) >= 2 and all(f.height for f in frames)
        if self.has_model_:
            valid = frames[0]
            train = pl.concat(frames[1:], how="diagonal_relaxed")
            if train.height > p.max_train_rows:
                train = train.sample(p.max_train_rows, seed=p.seed)
            progress("learning", 0.7)
            if self.keep_training_data:
                self.training_data_ = (train, valid)
            self._fit_classifier(train, valid)
            progress("quantities", 0.9)
            self.quantity_model_ = QuantityModel(seed=p.seed, threads=p.threads).fit(train, valid)
            self.train_rows_ = train.height
        else:
            self.quantity_model_ = QuantityModel()
            self.train_rows_ = 0
        self.snapshot_ = self._snapshot(self.cutoff_)
        self.bought_ = self.lines_.select("c", "p").unique()
        self.fallback_ = _popularity(self.lines_, self.cutoff_, self.codes_.n_products)
        self.fit_seconds_ = time.perf_counter() - started
        progress("fitted", 1.0)
        return self

    def _fit_classifier(self, train: pl.DataFrame, valid: pl.DataFrame) -> None:
        with warnings.catch_warnings():
            # LightGBM >= 4.7 renames eval_set; the old name works in every supported version
            warnings.filterwarnings("ignore", message=".*eval_set.*deprecated")
            self._fit_trees(train, valid)

    def _fit_trees(self, train: pl.DataFrame, valid: pl.DataFrame) -> None:
        """Boosted trees ranking each customer's candidates (LambdaRank on the customer's next
        order, or a binary classifier), early-stopped and calibrated on ``valid``."""
        p = self.params
        common: dict[str, Any] = {
            "n_estimators": p.n_estimators,
            "learning_rate": p.learning_rate,
            "num_leaves": p.num_leaves,
            "min_child_samples": p.min_child_samples,
            "subsample": 0.8,
            "subsample_freq": 1,
            "colsample_bytree": p.feature_fraction,
            "reg_lambda": 1.0,
            "random_state": p.seed,
            "n_jobs": p.threads,
            "verbose": -1,
            "deterministic": True,
            "force_row_wise": True,
        }
        stop: list[Callable[..., Any]] = [
            lgb.early_stopping(p.early_stopping_rounds, verbose=False)
        ]
        if p.objective == "lambdarank":
            train = _with_positives(train).sort("_cut", "c", "p")
            valid_sorted = _with_positives(valid).sort("_cut", "c", "p")
            ranker = lgb.LGBMRanker(objective="lambdarank", **common)
            ranker.fit(
                train.select(FEATURES).to_numpy(),
                train["label"].to_numpy(),
                group=_group_sizes(train),
                eval_set=[
                    (valid_sorted.select(FEATURES).to_numpy(), valid_sorted["label"].to_numpy())
                ],
                eval_group=[_group_sizes(valid_sorted)],
                eval_at=[10],
                callbacks=stop,
            )
            model: lgb.LGBMModel = ranker
        elif p.objective == "binary":
            classifier = lgb.LGBMClassifier(**common)
            classifier.fit(
                train.select(FEATURES).to_numpy(),
                train["label"].to_numpy(),
                eval_set=[(valid.select(FEATURES).to_numpy(), valid["label"].to_numpy())],
                callbacks=stop,
            )
            model = classifier
        else:
            raise ValueError(f"unknown objective {p.objective!r}: lambdarank or binary")
        self.classifier_ = model
        raw = self._raw_scores(valid)
        y_valid = valid["label"].to_numpy()
        self.calibrator_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        self.calibrator_.fit(raw, y_valid)
        self.validation_ = {
            "rows": valid.height,
            "positives": int(y_valid.sum()),
            "best_iteration": int(model.best_iteration_ or p.n_estimators),
        }

    def _raw_scores(self, frame: pl.DataFrame) -> np.ndarray:
        x = frame.select(FEATURES).to_numpy()
        if isinstance(self.classifier_, lgb.LGBMClassifier):
            return np.asarray(self.classifier_.predict_proba(x))[:, 1]
        return np.asarray(self.classifier_.predict(x))

    # -- scoring -----------------------------------------------------------------------------
    def recommend(
        self, targets: pl.DataFrame, *, mode: str = "proposal", top: int | None = None
    ) -> pl.DataFrame:
        """The next order of each target (``customer_id, order_date``) as output lines
        (``salescope.orders.builder.OUTPUT_COLUMNS``)."""
        coded = targets.select(
            pl.col("customer_id").alias("_target_id"), pl.col("order_date").alias("t")
        ).join(
            self.codes_.customers.rename({"customer_id": "_target_id"}), on="_target_id", how="left"
        )
        known = coded.filter(pl.col("c").is_not_null()).select("c", "t").unique()
        scored = self.score(known)
        fill = top if top is not None else (10 if mode == "rank" else 30)
        frame = fill_candidates(scored, coded, self.fallback_, fill)
        return to_lines(
            frame,
            mode=mode,
            top=top,
            customer_ids=self.codes_.customers,
            product_ids=self.codes_.products,
            bought=self.bought_,
        )

    def score(self, targets: pl.DataFrame) -> pl.DataFrame:
        """Every candidate of each target (``c, t``: customer code and order date) with
        ``probability``, ``score`` (for ranking), ``quantity`` and the features reasons are
        made of."""
        frame = self._candidates(self.snapshot_, targets)
        if frame.height:
            if self.has_model_:
                raw = self._raw_scores(frame)
                prob = self.calibrator_.predict(raw)
            else:
                raw = frame.select(_heuristic()).to_series().to_numpy()
                prob = np.clip(raw, 0.0, 1.0)
            quantity = self.quantity_model_.predict(frame)
            frame = frame.with_columns(
                pl.Series("score", raw, dtype=pl.Float64),
                pl.Series("probability", prob, dtype=pl.Float64),
                pl.Series("_q", quantity, dtype=pl.Float64),
            ).with_columns(rounded(pl.col("_q")).alias("quantity"))
        return frame

    @property
    def n_products(self) -> int:
        return self.codes_.n_products

    @property
    def codes(self) -> Codes:
        return self.codes_


def _date(value: object) -> dt.date:
    if not isinstance(value, dt.date):
        raise ValueError("the order history holds no dated lines")
    return value


def _packs(products: pl.DataFrame | None, codes: Codes) -> pl.DataFrame | None:
    if products is None or "pack_size" not in products.columns:
        return None
    packs = (
        products.select("product_id", pl.col("pack_size").alias("pack"))
        .filter(pl.col("pack").is_not_null())
        .join(codes.products, on="product_id")
        .select("p", "pack")
    )
    return packs if packs.height else None


def _with_positives(frame: pl.DataFrame) -> pl.DataFrame:
    """Only the customers (of each cut-off) with at least one ordered candidate: the others
    teach a ranker nothing."""
    return frame.filter(pl.col("label").max().over("_cut", "c") == 1)


def _group_sizes(frame: pl.DataFrame) -> np.ndarray:
    """Sizes of consecutive (cut-off, customer) groups of a frame sorted by them."""
    return frame.group_by("_cut", "c", maintain_order=True).len()["len"].to_numpy()


def _subsample(frame: pl.DataFrame, rate: float, seed: int) -> pl.DataFrame:
    """All positives and a random ``rate`` of the negatives."""
    if rate >= 1.0:
        return frame
    keep = pl.int_range(pl.len()).shuffle(seed=seed) < pl.len() * rate
    return pl.concat(
        [frame.filter(pl.col("label") == 1), frame.filter(pl.col("label") == 0).filter(keep)]
    )


def _popularity(lines: pl.DataFrame, cutoff: dt.date, n_products: int) -> pl.DataFrame:
    """Every product by the share of recent (90 days) orders holding it, then by all-time
    orders, then the products never ordered: ``p, probability, quantity``, best first."""
    recent = lines.filter(pl.col("d") >= cutoff - dt.timedelta(days=90))
    n_recent = max(1, recent["o"].n_unique())
    shares = recent.group_by("p").agg(
        (pl.col("o").n_unique() / n_recent).alias("probability"),
        pl.col("q").median().alias("quantity"),
    )
    counts = lines.group_by("p").agg(
        pl.col("o").n_unique().alias("_orders"), pl.col("q").median().alias("_q")
    )
    everything = pl.DataFrame({"p": pl.arange(0, n_products, eager=True).cast(pl.UInt32)})
    return (
        everything.join(shares, on="p", how="left")
        .join(counts, on="p", how="left")
        .with_columns(
            pl.col("probability").fill_null(0.0),
            pl.coalesce("quantity", "_q", pl.lit(1.0)).alias("quantity"),
            pl.col("_orders").fill_null(0),
        )
        .sort(["probability", "_orders", "p"], descending=[True, True, False])
        .select("p", "probability", "quantity")
    )


def _heuristic() -> pl.Expr:
    """A ranking score when there is too little history to learn from: recency-weighted
    share of the customer's orders, or the neighbours' score for products it never bought."""
    return pl.when(pl.col("seen") == 1).then(pl.col("rw_1")).otherwise(0.5 * pl.col("nb_share"))
