"""The ways of serving a shop (plans), the contacts they give, and how the reps' time is
allocated among them (CALLPLAN; ``recommend.py`` explains the model)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from salescope.coverage.params import (
    AUTOMATIC,
    DIGITAL,
    FIELD,
    MERCHANDISER,
    VIDEO,
    WHOLESALER,
    CoverageParams,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

NONE = "none"
REP, MERCH = "rep", "merchandiser"
TRAVELLING = (FIELD, MERCHANDISER, DIGITAL, AUTOMATIC, WHOLESALER)  # checks are field visits
UNVISITED = (DIGITAL, AUTOMATIC, WHOLESALER)  # no regular rep contact, only checks


@dataclass(frozen=True, slots=True)
class Plan:
    """One way of serving a shop."""

    name: str
    mode: str  # an InteractionMode value, or "none"
    visits_per_month: float
    resource: str  # "rep", "merchandiser" or "none"
    effect: float  # contacts per month for the response curve
    for_prospects: bool = True


def plans(params: CoverageParams, *, merchandisers: bool) -> list[Plan]:
    """The plans on offer (the first is "none"). A prospect starts with field visits, video
    calls or the digital platform: replenishment and merchandising come once it buys."""
    e = params.effect
    check = params.check_visits_per_month
    out = [Plan(NONE, NONE, 0.0, "none", 0.0)]
    out += [Plan(f"{WHOLESALER}", WHOLESALER, check, REP, e[WHOLESALER], False)]
    out += [Plan(f"{DIGITAL}", DIGITAL, check, REP, e[DIGITAL])]
    out += [Plan(f"{AUTOMATIC}", AUTOMATIC, check, REP, e[AUTOMATIC], False)]
    out += [Plan(f"{VIDEO} {f:g}", VIDEO, f, REP, e[VIDEO] * f) for f in params.video_frequencies]
    out += [Plan(f"{FIELD} {f:g}", FIELD, f, REP, e[FIELD] * f) for f in params.field_frequencies]
    if merchandisers:
        out += [
            Plan(f"{MERCHANDISER} {f:g}", MERCHANDISER, f, MERCH, e[MERCHANDISER] * f, False)
            for f in params.merchandiser_frequencies
        ]
    return out


def allocate(
    net: FloatArray,
    minutes: FloatArray,
    owner: IntArray,
    capacity: FloatArray,
    allowed: npt.NDArray[np.bool_],
    iterations: int = 60,
) -> tuple[IntArray, FloatArray]:
    """Plan per shop maximising Σ net under each rep's capacity (Lagrangian bisection).

    ``net`` and ``minutes`` are (shops × plans); ``owner[i, p]`` is the rep whose capacity plan
    p of shop i uses (-1: none). Returns the chosen plan per shop and λ per rep.
    """
    n_reps = capacity.shape[0]
    lam_lo = np.zeros(n_reps)
    score_base = np.where(allowed, net, -np.inf)
    positive = minutes > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(positive & allowed, net / np.where(positive, minutes, 1.0), 0.0)
    lam_hi = np.full(n_reps, max(1.0, float(np.nanmax(ratio, initial=0.0)) * 2.0 + 1.0))

    def choose(lam: FloatArray) -> tuple[IntArray, FloatArray]:
        price = np.where(owner >= 0, lam[np.maximum(owner, 0)], 0.0)
        pick = np.argmax(score_base - price * minutes, axis=1)
        rows = np.arange(net.shape[0])
        used = owner[rows, pick]
        load = np.bincount(
            used[used >= 0], weights=minutes[rows, pick][used >= 0], minlength=n_reps
        )
        return np.asarray(pick, dtype=np.int64), np.asarray(load, dtype=np.float64)

    pick, load = choose(lam_lo)
    over = load > capacity + 1e-9
    if not over.any():
        return pick, lam_lo
    lam = np.where(over, lam_hi, 0.0)
    lo = np.zeros(n_reps)
    hi = np.where(over, lam_hi, 0.0)
    for _ in range(iterations):
        mid = np.where(hi > 0, (lo + hi) / 2.0, 0.0)
        _, load = choose(mid)
        too_much = load > capacity + 1e-9
        lo = np.where(too_much, mid, lo)
        hi = np.where(too_much, hi, mid)
        # a rep pushed over capacity by its neighbours' prices gets a price of its own
        fresh = too_much & (hi == 0)
        hi = np.where(fresh, lam_hi, hi)
    lam = hi
    for _ in range(30):  # repair: raise any price still leaving its rep over capacity
        pick, load = choose(lam)
        too_much = load > capacity + 1e-9
        if not too_much.any():
            break
        lam = np.where(too_much, np.maximum(lam * 2.0, 1.0), lam)
    return pick, lam


def effect(mode: npt.NDArray[np.object_], visits: FloatArray, params: CoverageParams) -> FloatArray:
    """Contacts per month of today's plans (unknown mode: its visits, else as digital)."""
    e = params.effect
    per_visit = np.select(
        [mode == FIELD, mode == VIDEO, mode == MERCHANDISER],
        [e[FIELD], e[VIDEO], e[MERCHANDISER]],
        np.nan,
    )
    overall = np.select(
        [mode == DIGITAL, mode == AUTOMATIC, mode == WHOLESALER],
        [e[DIGITAL], e[AUTOMATIC], e[WHOLESALER]],
        np.nan,
    )
    unknown = np.where(visits > 0, visits, e[DIGITAL])
    return np.asarray(
        np.where(
            np.isfinite(per_visit),
            per_visit * visits,
            np.where(np.isfinite(overall), overall, unknown),
        ),
        dtype=np.float64,
    )


@dataclass(frozen=True, slots=True)
class Recommendations:
    """The recommendation of every shop, the reps' loads, and the totals."""

    customers: pl.DataFrame
    loads: pl.DataFrame  # rep_id, role, capacity, load_today, load_recommended, shadow_price
    margin_rate: float
    summary: dict[str, float]


def _roles(reps: pl.DataFrame) -> pl.Series:
    if "role" in reps.columns:
        return reps["role"].fill_null("rep")
    return pl.Series("role", ["rep"] * reps.height)


def _column(frame: pl.DataFrame, name: str, dtype: Any) -> pl.Expr:
    if name in frame.columns:
        return pl.col(name).cast(dtype)
    return pl.lit(None, dtype=dtype).alias(name)
