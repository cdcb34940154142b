"""How the usual lines are ranked: the learned model, or the best of the engine's baselines.

The engine never serves something its own baselines beat. After the LambdaRank model is
learned, its Recall@10 on the validation events is compared with two rankings computed from
the same candidates: TIFU-KNN (alpha x the customer's own time-decayed vector + (1 - alpha) x
its neighbours', with the parameters tuned on the history) and P-TopFreq (the customer's own
products by the number of its orders holding them, the latest first). The best serves, and its
scores are calibrated (isotonic regression on the same validation events) into the
probability that the product is in the order, one map per band of places in the customer's
list (``orders.calibration``: a listed line's probability is learnt from lines listed the same
way). Too few examples to learn from (floors on rows and on customers) leave the model out of
the contest; no validation event at all leaves the customer's own frequency, with its share of
orders holding the product as probability.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl

from salescope.orders.boosting import Trees, boosted, matrix
from salescope.orders.calibration import PlaceCalibration
from salescope.orders.features import FEATURES
from salescope.orders.requests import float_values
from salescope.orders.windows import one_group, per

Scorer = Literal["model", "TIFU-KNN", "P-TopFreq"]
SCORERS: tuple[Scorer, ...] = ("model", "TIFU-KNN", "P-TopFreq")
EVENT = "ev"  # the column naming a training or validation event (one customer's order)


@dataclass(frozen=True)
class RankerParams:
    """Knobs of the usual-line ranker (part of ``EngineParams``)."""

    objective: Literal["lambdarank", "binary"] = "lambdarank"
    n_estimators: int = 1000
    learning_rate: float = 0.05
    num_leaves: int = 7
    min_child_samples: int = 200
    feature_fraction: float = 0.5
    early_stopping_rounds: int = 50
    min_train_rows: int = 2000  # below: too little to learn from, a baseline ranks
    min_train_customers: int = 30  # training customers with an ordered candidate
    min_valid_customers: int = 10
    min_halved_customers: int = 200  # below, all validation customers stop, choose, calibrate
    # the last place of each band of places calibrated apart (orders.calibration), and the
    # fewest validation rows a band is calibrated on (a smaller one joins the band before)
    calibration_places: tuple[int, ...] = (10, 30)
    calibration_min_rows: int = 1000

    def __post_init__(self) -> None:
        # a TOML table gives a list
        object.__setattr__(self, "calibration_places", tuple(self.calibration_places))
        problems = [
            f"{name} must be at least 1"
            for name in ("n_estimators", "num_leaves", "min_child_samples", "early_stopping_rounds")
            if getattr(self, name) < 1
        ]
        if not 0.0 < self.learning_rate <= 1.0:
            problems.append("learning_rate must be in (0, 1]")
        if not 0.0 < self.feature_fraction <= 1.0:
            problems.append("feature_fraction must be in (0, 1]")
        if self.calibration_min_rows < 1:
            problems.append("calibration_min_rows must be at least 1")
        bands = self.calibration_places
        if any(not isinstance(b, int) or b < 1 for b in bands) or list(bands) != sorted(set(bands)):
            problems.append("calibration_places must be increasing places of at least 1")
        if self.objective not in ("lambdarank", "binary"):
            problems.append("objective must be lambdarank or binary")
        if problems:
            raise ValueError("invalid RankerParams: " + "; ".join(problems))


def tifu_score(alpha: float) -> pl.Expr:
    """TIFU-KNN's score of a candidate: alpha x own vector + (1 - alpha) x neighbours'."""
    return alpha * pl.col("u").fill_null(0.0) + (1.0 - alpha) * pl.col("nb").fill_null(0.0)


def frequency_score() -> pl.Expr:
    """P-TopFreq's score: the number of the customer's orders holding the product, the most
    recent first on ties; products it never bought after all of them, by the share of its
    neighbours buying them."""
    own = pl.col("n_cp").cast(pl.Float64) - 1e-7 * pl.col("days_since_cp").fill_null(0.0)
    return pl.when(pl.col("seen") == 1).then(own).otherwise(pl.col("nb_share").fill_null(0.0) - 1)


def _ordinal_down(score: np.ndarray) -> np.ndarray:
    """``rank("ordinal", descending=True)``: 1 for the highest, ties in row order."""
    ranks = np.empty(len(score), dtype=np.uint32)
    ranks[np.argsort(-score, kind="stable")] = np.arange(1, len(score) + 1, dtype=np.uint32)
    return ranks


def one_list_ranks(frame: pl.DataFrame, alpha: float) -> pl.DataFrame | None:
    """One target's candidates (one ``c, t``) sorted by product, with ``tifu`` (``tifu_score``)
    and their places by it and by ``frequency_score`` (``tifu_rank``, ``freq_rank``), with
    NumPy: what ``NextOrderModel._ranked``'s query gives; None when a score would be null or
    NaN, or a column is not of the candidates' types (left to the query)."""
    u, nb, nb_share = (float_values(frame, n, 0.0) for n in ("u", "nb", "nb_share"))
    seen_column, n_cp, since = (frame.get_column(n) for n in ("seen", "n_cp", "days_since_cp"))
    if u is None or nb is None or nb_share is None or since.dtype != pl.Float64:
        return None
    if not (n_cp.dtype.is_integer() and seen_column.dtype.is_integer()):
        return None
    product = frame.get_column("p")
    if product.null_count():
        return None
    seen = seen_column.to_numpy() == 1  # a null is not 1 (NaN in the array)
    days = float_values(frame, "days_since_cp", 0.0)
    counts = n_cp.to_numpy().astype(np.float64)
    if days is None or np.isnan(counts[seen]).any():
        return None  # a null or NaN frequency: the query ranks it
    order = np.argsort(product.to_numpy(), kind="stable")
    if not np.array_equal(order, np.arange(len(order))):
        frame, u, nb, nb_share = frame[order], u[order], nb[order], nb_share[order]
        seen, counts, days = seen[order], counts[order], days[order]
    tifu = alpha * u + (1.0 - alpha) * nb
    frequency = np.where(seen, counts - 1e-7 * days, nb_share - 1)
    return frame.with_columns(
        pl.Series("tifu", tifu, dtype=pl.Float64),
        pl.Series("tifu_rank", _ordinal_down(tifu), dtype=pl.UInt32),
        pl.Series("freq_rank", _ordinal_down(frequency), dtype=pl.UInt32),
    )


def list_ranks(frame: pl.DataFrame, alpha: float) -> pl.DataFrame:
    """Candidates sorted by ``c, t, p`` with ``tifu`` (``tifu_score``) and each candidate's
    place among its target's by it and by ``frequency_score`` (``tifu_rank``,
    ``freq_rank``): one target's with NumPy (``one_list_ranks``), else one query
    (``list_ranks_query``)."""
    if one_group(frame, ("c", "t")):
        ranked = one_list_ranks(frame, alpha)
        if ranked is not None:
            return ranked
    return list_ranks_query(frame, alpha)


def list_ranks_query(frame: pl.DataFrame, alpha: float) -> pl.DataFrame:
    """``list_ranks`` as one query."""
    tifu = tifu_score(alpha).alias("tifu")
    key, single = ("c", "t"), one_group(frame, ("c", "t"))
    by_tifu = per(pl.col("tifu").rank("ordinal", descending=True), key, single)
    by_freq = per(frequency_score().rank("ordinal", descending=True), key, single)
    ordered = frame.lazy().sort("c", "t", "p").with_columns(tifu)
    return ordered.with_columns(by_tifu.alias("tifu_rank"), by_freq.alias("freq_rank")).collect(
        engine="in-memory"
    )


def frequency_probability() -> pl.Expr:
    """The probability when nothing validates it: the share of the customer's orders holding
    the product (0 for products it never bought)."""
    return (pl.col("n_cp").cast(pl.Float64) / pl.col("c_orders")).fill_null(0.0).clip(0.0, 1.0)


def _x(frame: pl.DataFrame) -> np.ndarray:
    return matrix(frame, FEATURES)


def _with_positives(frame: pl.DataFrame) -> pl.DataFrame:
    """Only the events with at least one ordered candidate: the others teach a ranker
    nothing."""
    return frame.filter(pl.col("label").max().over(EVENT) == 1)


def _group_sizes(frame: pl.DataFrame) -> np.ndarray:
    """Sizes of consecutive event groups of a frame sorted by event."""
    return frame.group_by(EVENT, maintain_order=True).len()["len"].to_numpy()


def recalls_at(frame: pl.DataFrame, score: np.ndarray, k: int = 10) -> np.ndarray:
    """Recall@k of each event of ``frame`` (candidates with ``label`` and ``n_true``, the size
    of the event's order) when its candidates are ranked by ``score``, in event order."""
    if frame.height == 0:
        return np.zeros(0)
    ranked = (
        frame.select(EVENT, "label", "n_true", "p")
        .with_columns(pl.Series("_s", score, dtype=pl.Float64))
        .sort([EVENT, "_s", "p"], descending=[False, True, False])
        .filter(pl.int_range(pl.len()).over(EVENT) < k)
        .group_by(EVENT)
        .agg((pl.col("label").sum() / pl.col("n_true").first()).alias("r"))
        .sort(EVENT)
    )
    return ranked["r"].to_numpy().astype(np.float64)


def recall_at(frame: pl.DataFrame, score: np.ndarray, k: int = 10) -> float:
    """Mean Recall@k over the events of ``frame`` (``recalls_at``); NaN without events."""
    values = recalls_at(frame, score, k)
    return float(values.mean()) if len(values) else float("nan")


def better_than_model(model: np.ndarray, other: np.ndarray) -> bool:
    """Whether a baseline's per-event recalls beat the model's by more than one standard
    error of their paired difference: on a few validation customers a baseline ahead by
    chance does not replace the model."""
    difference = other - model
    if len(difference) < 2:
        return bool(difference.mean() > 0) if len(difference) else False
    error = difference.std(ddof=1) / np.sqrt(len(difference))
    return bool(difference.mean() > error)


@dataclass
class Ranking:
    """The fitted ranking of the usual lines: which scorer serves, its trees (``model``), the
    TIFU-KNN mix, the calibration, and what validation said."""

    scorer: Scorer
    trees: Trees | None
    calibrator: PlaceCalibration | None
    alpha: float
    validation: dict[str, Any] = field(default_factory=dict)

    def raw(self, frame: pl.DataFrame) -> np.ndarray:
        """The serving scorer's raw scores of candidate rows."""
        if self.scorer == "model":
            assert self.trees is not None
            return self.trees.predict(_x(frame))
        expr = tifu_score(self.alpha) if self.scorer == "TIFU-KNN" else frequency_score()
        return frame.select(expr).to_series().to_numpy().astype(np.float64)

    def probability(self, frame: pl.DataFrame, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities that each candidate is in the order."""
        if self.calibrator is None:
            return frame.select(frequency_probability()).to_series().to_numpy()
        return self.calibrator.predict(frame, raw)

    @property
    def degraded(self) -> bool:
        """True when the learned model does not serve."""
        return self.scorer != "model"


def fit_ranking(
    train: pl.DataFrame,
    valid: pl.DataFrame,
    params: RankerParams,
    *,
    alpha: float,
    seed: int = 0,
    threads: int = 2,
) -> Ranking:
    """Learn the ranker from ``train`` (candidates of the training events, with ``label``),
    compare it on ``valid`` with TIFU-KNN and P-TopFreq, keep the best (a baseline replaces the
    model only when it is ahead by more than the noise) and calibrate it."""
    train_p = _with_positives(train).sort(EVENT, "p") if train.height else train
    valid_p = _with_positives(valid).sort(EVENT, "p") if valid.height else valid
    counts = {
        "train_rows": train_p.height,
        "train_customers": train_p["c"].n_unique() if train_p.height else 0,
        "valid_rows": valid_p.height,
        "valid_customers": valid_p["c"].n_unique() if valid_p.height else 0,
    }
    trees: Trees | None = None
    enough = (
        counts["train_rows"] >= params.min_train_rows
        and counts["train_customers"] >= params.min_train_customers
        and counts["valid_customers"] >= params.min_valid_customers
    )
    # half the validation customers stop the boosting, the other half choose the ranking and
    # calibrate it: probabilities checked on customers the boosting did not tune itself to
    half = (pl.col("c").hash(seed) % 2) == 0
    stop, check = valid_p.filter(half), valid.filter(~half)
    if min(stop["c"].n_unique(), check["c"].n_unique()) < params.min_halved_customers:
        stop, check = valid_p, valid  # too few to halve
    if enough:
        trees = boosted(
            params.objective,
            _x(train_p),
            train_p["label"].to_numpy(),
            valid=(_x(stop), stop["label"].to_numpy()),
            group=_group_sizes(train_p),
            valid_group=_group_sizes(stop),
            n_estimators=params.n_estimators,
            learning_rate=params.learning_rate,
            num_leaves=params.num_leaves,
            min_child_samples=params.min_child_samples,
            feature_fraction=params.feature_fraction,
            early_stopping_rounds=params.early_stopping_rounds,
            seed=seed,
            threads=threads,
        )
        counts["best_iteration"] = trees.iterations
    if check.height == 0 or int(check["label"].sum()) == 0:
        scorer: Scorer = "model" if trees is not None else "P-TopFreq"
        return Ranking(scorer, trees, None, alpha, {**counts, "recall@10": {}})
    per_event = {
        name: recalls_at(check, Ranking(name, trees, None, alpha).raw(check))
        for name in SCORERS
        if name != "model" or trees is not None
    }
    recalls = {name: float(values.mean()) for name, values in per_event.items()}
    best: Scorer = "model" if trees is not None else "TIFU-KNN"
    for name in SCORERS[1:]:
        if name != best and better_than_model(per_event[best], per_event[name]):
            best = name
    chosen = Ranking(best, trees, None, alpha)
    raw = chosen.raw(check)
    chosen.calibrator = PlaceCalibration.fit(
        check,
        raw,
        check["label"].to_numpy().astype(np.float64),
        params.calibration_places,
        params.calibration_min_rows,
    )
    chosen.validation = {**counts, "checked_customers": check["c"].n_unique(), "recall@10": recalls}
    return chosen
