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
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Self

import lightgbm as lgb
import numpy as np
import polars as pl
from sklearn.isotonic import IsotonicRegression

from salescope.domain.statuses import LineKind
from salescope.orders.builder import fill_candidates, to_lines
from salescope.orders.features import FEATURES, ProductStats, build_candidates, product_stats
from salescope.orders.history import Codes, before, encode, next_orders_after, order_table
from salescope.orders.neighbours import (
    TifuParams,
    candidate_scores,
    item_similarity,
    nearest_neighbours,
    pair_scores,
    tifu_vectors,
    to_csr,
)
from salescope.orders.novelties import (
    AdoptionModel,
    Context,
    NoveltyParams,
    acceptance_prior,
    adoption_rows,
    build_context,
    development_reason,
    development_table,
    extension_reason,
    extra_candidates,
    gate,
    merge_novelties,
    objective_pairs,
    pair_context,
)
from salescope.orders.quantities import QuantityModel, rounded
from salescope.progress import Progress, no_progress

Acceptance = Callable[[pl.DataFrame], Any]
"""Maps novelty lines (``kind``, ``model_probability``) to calibrated acceptance probabilities."""
Promote = Callable[[pl.DataFrame], pl.DataFrame]
"""Attaches promotions to candidate novelty lines (ids, ``probability``, ``quantity``), raising
``probability`` where one applies and appending its terms to ``reason``."""


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
    novelties: NoveltyParams = field(default_factory=NoveltyParams)
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
        novelties = NoveltyParams(**table.pop("novelties", {}))
        known = {f.name for f in fields(cls)}
        unknown = set(table) - known
        if unknown:
            raise ValueError(f"{path}: unknown engine parameters {sorted(unknown)}")
        return cls(tifu=tifu, novelties=novelties, **table)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The broadcast artefacts of one cut-off."""

    cutoff: dt.date
    window: pl.DataFrame
    products: ProductStats
    neighbour: pl.DataFrame
    extra: pl.DataFrame  # candidates the neighbours miss (segment favourites, launches)
    matrix: Any  # the customers' TIFU vectors (sparse)
    neighbours: np.ndarray  # neighbour rows of the ``active`` customers
    active: np.ndarray
    items: Any  # product similarities (sparse) or None


@dataclass(frozen=True, slots=True)
class Scored:
    """One scoring of a set of targets, shared by rank mode, proposal mode and the
    range-extension list (``NextOrderModel.prepare``)."""

    coded: pl.DataFrame  # _target_id, t, c (null: unknown to the history)
    scored: pl.DataFrame  # NextOrderModel.score of ``known``
    novelties: pl.DataFrame | None  # NextOrderModel.score_novelties (None: nothing scored)


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
        extra = extra_candidates(
            window,
            cutoff,
            self.context_,
            pl.DataFrame({"c": active}).with_columns(pl.col("c").cast(pl.UInt32)),
            p.novelties,
            self.first_seen_,
        ).join(neighbour.select("c", "p"), on=["c", "p"], how="anti")
        extra = pair_scores(matrix, neighbours, active, extra, items=items)
        return Snapshot(cutoff, window, stats, neighbour, extra, matrix, neighbours, active, items)

    def _candidates(
        self, snap: Snapshot, targets: pl.DataFrame, *, extra: pl.DataFrame | None = None
    ) -> pl.DataFrame:
        """Features of every candidate of ``targets`` (``c, t``), bucket by bucket; with
        ``extra`` (scored pairs the customers lack), of those pairs only."""
        p = self.params
        neighbour = snap.neighbour if extra is None else extra
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
                    neighbour.filter(in_bucket),
                    self.first_order_,
                    max_repeat=p.max_repeat,
                    repeat=extra is None,
                )
            )
        if not parts:
            return pl.DataFrame()
        # a fixed row order makes sampling and boosting reproducible
        return pl.concat(parts, how="diagonal_relaxed").sort("c", "t", "p")

    def _labelled(self, cutoff: dt.date, until: dt.date) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Candidates at ``cutoff`` labelled with each customer's next order before ``until``,
        and the extension candidates (for the adoption model) labelled the same way."""
        nxt = next_orders_after(self.lines_, cutoff, until)
        targets = nxt.group_by("c").agg(pl.col("d").first().alias("t"))
        snap = self._snapshot(cutoff)
        frame = self._candidates(snap, targets)
        truth = nxt.select("c", "p", pl.col("q").alias("q_actual"))

        def label(candidates: pl.DataFrame) -> pl.DataFrame:
            return (
                candidates.join(truth, on=["c", "p"], how="left")
                .with_columns(pl.col("q_actual").is_not_null().cast(pl.Int8).alias("label"))
                .sort("c", "t", "p")  # joins do not keep row order; sampling and boosting need one
            )

        frame = label(frame)
        adoption = self._adoption_frame(snap, frame, targets, label)
        # positives the candidates missed still count in the recall the model can reach
        self.coverage_.append(
            {
                "cutoff": cutoff.isoformat(),
                "customers": targets.height,
                "positives": truth.height,
                "covered": int(frame["label"].sum()),
            }
        )
        return frame, adoption

    def _adoption_frame(
        self,
        snap: Snapshot,
        scored: pl.DataFrame,
        targets: pl.DataFrame,
        label: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
        objectives: pl.DataFrame | None = None,
    ) -> pl.DataFrame:
        """Extension candidates of ``targets`` with the adoption features: the extension rows
        of the main candidates ``scored``, the snapshot's extra pairs, and ``objectives``
        pairs (``c, p``) not among them."""
        novelty = self.params.novelties
        extra = snap.extra.join(targets.select("c"), on="c")
        if objectives is not None and objectives.height:
            missing = (
                objectives.select("c", "p")
                .unique()
                .join(scored.select("c", "p"), on=["c", "p"], how="anti")
                .join(extra.select("c", "p"), on=["c", "p"], how="anti")
                .join(self.lines_.select("c", "p").unique(), on=["c", "p"], how="anti")
            )
            if missing.height:
                more = pair_scores(
                    snap.matrix, snap.neighbours, snap.active, missing, items=snap.items
                )
                extra = pl.concat([extra, more], how="diagonal_relaxed")
        rows = self._candidates(snap, targets, extra=extra) if extra.height else pl.DataFrame()
        if label is not None and rows.height:
            rows = label(rows)
        parts = [adoption_rows(scored, novelty.lapsed_days)]
        if rows.height:
            parts.append(rows)
        frame = pl.concat(parts, how="diagonal_relaxed")
        return pair_context(snap.window, snap.cutoff, self.context_, frame).sort("c", "t", "p")

    # -- fitting -----------------------------------------------------------------------------
    def fit(
        self,
        orders: pl.DataFrame,
        products: pl.DataFrame | None = None,
        *,
        customers: pl.DataFrame | None = None,
        cutoff: dt.date | None = None,
        progress: Progress = no_progress,
    ) -> Self:
        """Learn from canonical order lines (all before ``cutoff``, default: the day after the
        last order); ``products`` and ``customers`` (optional) give pack sizes, categories,
        margins, segments and coordinates to the novelties."""
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
        self.context_: Context = build_context(
            codes, customers, products, geo_neighbours=p.novelties.geo_neighbours
        )
        self.coverage_: list[dict[str, Any]] = []
        cutoffs = [
            self.cutoff_ - dt.timedelta(days=self.spacing_ * j)
            for j in range(1, p.train_cutoffs + 1)
        ]
        first_day = _date(dates.min())
        cutoffs = [c for c in cutoffs if c > first_day]
        frames: list[pl.DataFrame] = []
        adoption: list[pl.DataFrame] = []
        for i, cut in enumerate(cutoffs):
            progress(f"training cut-off {cut}", 0.05 + 0.6 * i / max(1, len(cutoffs)))
            frame, extension = self._labelled(cut, self.cutoff_)
            frame = frame.with_columns(pl.lit(i, dtype=pl.Int32).alias("_cut"))
            if i > 0:
                frame = _subsample(frame, p.negative_rate, p.seed + i)
                extension = _subsample(extension, p.negative_rate, p.seed + i)
            frames.append(frame)
            adoption.append(extension)
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
            progress("adoption", 0.95)
            self.adoption_ = AdoptionModel(seed=p.seed, threads=p.threads).fit(
                pl.concat(adoption[1:], how="diagonal_relaxed"), adoption[0]
            )
        else:
            self.quantity_model_ = QuantityModel()
            self.adoption_ = AdoptionModel()
            self.train_rows_ = 0
        self.snapshot_ = self._snapshot(self.cutoff_)
        self.development_ = development_table(
            self.snapshot_.window, self.cutoff_, self.context_, p.novelties
        )
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
    def prepare(self, targets: pl.DataFrame, objectives: pl.DataFrame | None = None) -> Scored:
        """Score every candidate of the targets (``customer_id, order_date``) once: the result
        serves ``recommend`` in both modes and ``unseen_ranking`` without scoring again."""
        coded = targets.select(
            pl.col("customer_id").alias("_target_id"), pl.col("order_date").alias("t")
        ).join(
            self.codes_.customers.rename({"customer_id": "_target_id"}), on="_target_id", how="left"
        )
        known = coded.filter(pl.col("c").is_not_null()).select("c", "t").unique().sort("c", "t")
        # a delisted product (or another maker's) is never proposed, however usual it was
        scored = self.score(known).filter(self._offerable())
        novelties = self.score_novelties(scored, known, objectives) if scored.height else None
        if novelties is not None:
            novelties = novelties.filter(self._offerable())
        return Scored(coded, scored, novelties)

    def _offerable(self) -> pl.Expr:
        """Whether ``p`` is a product the catalogue offers (own and active)."""
        products = self.context_.products
        return pl.col("p").is_in(products.filter(pl.col("offerable"))["p"].implode())

    def recommend(
        self,
        targets: pl.DataFrame | Scored,
        *,
        mode: str = "proposal",
        top: int | None = None,
        objectives: pl.DataFrame | None = None,
        resting: pl.DataFrame | None = None,
        acceptance: Acceptance | None = None,
        promote: Promote | None = None,
    ) -> pl.DataFrame:
        """The next order of each target (``customer_id, order_date``, or a ``prepare``
        result) as output lines (``salescope.orders.builder.OUTPUT_COLUMNS`` and
        ``model_probability``).

        Rank mode orders every candidate by the probability that it is in the order; the
        products a customer lacks are ranked among themselves by the adoption model. Proposal
        mode is the usual lines (expected-F1 cut) plus the gated novelties: ``objectives``
        (objectives table) adds objective lines (with a ``prepare`` result, the objectives it
        was prepared with count), ``resting`` (``customer_id, product_id``) names products not
        to offer, ``acceptance`` maps the novelties' prior acceptance (``kind,
        model_probability``) to calibrated probabilities (feedback), and ``promote`` attaches
        promotions to candidate novelty lines (ids, ``probability``, ``quantity``).
        """
        ready = targets if isinstance(targets, Scored) else self.prepare(targets, objectives)
        scored, novelties = ready.scored, ready.novelties
        if mode == "rank" and novelties is not None:
            scored = _rank_extensions(scored, novelties)
        fill = top if top is not None else (10 if mode == "rank" else 30)
        popular = self.fallback_.filter(self._offerable())
        frame = fill_candidates(scored, ready.coded, popular, fill)
        lines = to_lines(
            frame,
            mode=mode,
            top=top,
            customer_ids=self.codes_.customers,
            product_ids=self.codes_.products,
            bought=self.bought_,
            max_novelties=self.params.novelties.max_novelties,
        )
        if mode == "rank" or novelties is None:
            return lines
        offers = self.novelty_lines(scored, novelties, resting, acceptance, promote)
        return merge_novelties(lines, offers, top)

    def unseen_ranking(self, targets: pl.DataFrame | Scored, top: int = 10) -> pl.DataFrame:
        """For each target (``customer_id, order_date``, or a ``prepare`` result), the ``top``
        products it never bought (in the look-back window) by the adoption model:
        ``customer_id, product_id, rank, probability`` — the range-extension list rank mode
        draws from."""
        ready = targets if isinstance(targets, Scored) else self.prepare(targets)
        if ready.novelties is None or ready.novelties.height == 0:
            return pl.DataFrame(
                schema={
                    "customer_id": pl.String,
                    "product_id": pl.String,
                    "rank": pl.Int64,
                    "probability": pl.Float64,
                }
            )
        ranked = (
            ready.novelties.filter(pl.col("seen") == 0)
            .sort(["c", "t", "p_adopt", "p"], descending=[False, False, True, False])
            .with_columns(pl.int_range(1, pl.len() + 1).over("c", "t").alias("rank"))
            .filter(pl.col("rank") <= top)
            .select("c", "p", "rank", pl.col("p_adopt").alias("probability"))
        )
        return self.codes_.decode(ranked).select("customer_id", "product_id", "rank", "probability")

    def score_novelties(
        self,
        scored: pl.DataFrame,
        targets: pl.DataFrame,
        objectives: pl.DataFrame | None = None,
    ) -> pl.DataFrame:
        """Extension and objective candidates of ``targets`` (``c, t``) with ``p_adopt`` (the
        adoption model's probability that the product is in the next order), ``quantity``,
        ``kind``, ``weight`` and ``objective_scope`` (objectives) and ``segment``.
        ``scored``: the main candidates of the same targets (``score``)."""
        wanted = objective_pairs(objectives, targets, self.context_, self.codes_)
        frame = self._adoption_frame(self.snapshot_, scored, targets, objectives=wanted)
        if frame.height == 0:
            return frame
        frame = frame.drop([c for c in ("score", "probability", "_q", "quantity") if c in frame])
        frame = frame.with_columns(
            pl.Series("p_adopt", self.adoption_.predict(frame), dtype=pl.Float64),
            pl.Series("_q", self.quantity_model_.predict(frame), dtype=pl.Float64),
        ).with_columns(rounded(pl.col("_q")).alias("quantity"))
        return (
            frame.join(wanted, on=["c", "t", "p"], how="left")
            .join(self.context_.customers.select("c", "segment"), on="c", how="left")
            .with_columns(
                pl.when(pl.col("weight").is_not_null())
                .then(pl.lit(LineKind.OBJECTIVE.value))
                .otherwise(pl.lit(LineKind.EXTENSION.value))
                .alias("kind")
            )
        )

    def novelty_lines(
        self,
        scored: pl.DataFrame,
        novelties: pl.DataFrame,
        resting: pl.DataFrame | None = None,
        acceptance: Acceptance | None = None,
        promote: Promote | None = None,
    ) -> pl.DataFrame:
        """The novelties shown (gated), as id lines with ``kind``, ``probability``
        (acceptance), ``model_probability`` (before feedback calibration), ``quantity``,
        ``promotion_id``, ``reason`` and ``expected_value``."""
        p = self.params.novelties
        ctx = self.context_
        margin = ctx.products.select("p", "margin", "offerable")
        development = (
            self.development_.join(scored, on=["c", "p"])
            .join(ctx.customers.select("c", "segment"), on="c", how="left")
            .with_columns(
                rounded(
                    pl.col("_q") * (pl.col("peer_rate") / pl.col("own_rate")).clip(1.25, 2.0)
                ).alias("quantity"),
                pl.col("quantity").alias("_usual_q"),
                (pl.col("probability") * p.development_acceptance).alias("model_probability"),
                pl.lit(LineKind.DEVELOPMENT.value).alias("kind"),
            )
            .join(margin, on="p")
            .with_columns(
                ((pl.col("quantity") - pl.col("_usual_q")) * pl.col("margin")).alias(
                    "value_per_acceptance"
                ),
                development_reason().alias("reason"),
            )
        )
        extension = (
            novelties.join(margin.filter(pl.col("offerable")), on="p")
            .with_columns(
                acceptance_prior().alias("model_probability"),
                (pl.col("quantity") * pl.col("margin") * pl.col("weight").fill_null(1.0)).alias(
                    "value_per_acceptance"
                ),
            )
            .with_columns(extension_reason().alias("reason"))
        )
        columns = [
            "c",
            "t",
            "p",
            "kind",
            "model_probability",
            "quantity",
            "value_per_acceptance",
            "reason",
        ]
        offers = pl.concat(
            [development.select(columns), extension.select(columns)], how="vertical_relaxed"
        ).with_columns(pl.col("model_probability").clip(0.0, 1.0))
        offers = self.codes_.decode(offers).rename({"t": "order_date"})
        if resting is not None and resting.height:
            offers = offers.join(
                resting.select("customer_id", "product_id").unique(),
                on=["customer_id", "product_id"],
                how="anti",
            )
        probability = (
            pl.Series(acceptance(offers), dtype=pl.Float64)
            if acceptance is not None and offers.height
            else offers["model_probability"]
        )
        offers = offers.with_columns(
            probability.clip(0.0, 1.0).alias("probability"),
            pl.lit(None, dtype=pl.String).alias("promotion_id"),
        )
        key = ["customer_id", "order_date"]
        if promote is None or offers.height == 0:
            return gate(offers, p, key)
        # the most valuable few per proposal compete for the promotions' budgets; then only
        # the lines shown, until every promoted line is shown (the pool shrinks each round),
        # so no budget goes to a line the gate hides
        pool = gate(
            offers,
            replace(
                p,
                min_probability=0.0,
                min_objective_probability=0.0,
                min_value=-1e18,
                max_novelties=3 * p.max_novelties,
            ),
            key,
        ).drop("expected_value")
        ids = [*key, "product_id"]
        while True:
            promoted = promote(pool)
            shown = gate(promoted, p, key)
            wasted = promoted.filter(pl.col("promotion_id").is_not_null()).join(
                shown.select(ids), on=ids, how="anti"
            )
            if wasted.height == 0:
                return shown
            pool = pool.join(shown.select(ids), on=ids, how="semi")

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
        return pl.DataFrame(schema=_EMPTY_SCORED)

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


_EMPTY_SCORED = {
    "c": pl.UInt32,
    "t": pl.Date,
    "p": pl.UInt32,
    "seen": pl.Int8,
    "score": pl.Float64,
    "probability": pl.Float64,
    "_q": pl.Float64,
    "quantity": pl.Float64,
    "reason": pl.String,
}


def _heuristic() -> pl.Expr:
    """A ranking score when there is too little history to learn from: recency-weighted
    share of the customer's orders, or the neighbours' score for products it never bought."""
    return pl.when(pl.col("seen") == 1).then(pl.col("rw_1")).otherwise(0.5 * pl.col("nb_share"))


def _rank_extensions(scored: pl.DataFrame, novelties: pl.DataFrame) -> pl.DataFrame:
    """Rank mode: the places the main ranker gives to products a customer lacks are filled
    with the adoption model's best such products, in its order (the repeat places are
    untouched)."""
    key = ["c", "t"]
    lapsed = novelties.select("c", "t", "p")
    slots = (
        scored.join(lapsed, on=["c", "t", "p"])
        .sort([*key, "score", "p"], descending=[False, False, True, False])
        .select(*key, pl.int_range(pl.len()).over(key).alias("_j"), "score")
    )
    best = (
        novelties.sort([*key, "p_adopt", "p"], descending=[False, False, True, False])
        .with_columns(pl.int_range(pl.len()).over(key).alias("_j"))
        .drop("score", strict=False)
        .join(slots, on=[*key, "_j"])
        .with_columns(
            pl.col("p_adopt").alias("probability"),
            pl.col("kind").alias("_kind"),
            extension_reason().alias("reason"),
        )
        .drop("_j")
    )
    kept = scored.join(lapsed, on=["c", "t", "p"], how="anti")
    return pl.concat([kept, best], how="diagonal_relaxed")
