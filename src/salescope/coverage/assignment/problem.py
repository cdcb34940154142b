"""The assignment problem: parameters, the instance read from the frames, the result."""

from __future__ import annotations

import logging
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import highspy
import numpy as np
import numpy.typing as npt
import polars as pl

from salescope.geo import haversine_rad_km

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

log = logging.getLogger(__name__)

_INF = math.inf
_HINF = highspy.kHighsInf
_EPS_RC = 1e-7  # reduced costs below -_EPS_RC × scale are negative
_CAP_TOL = 1e-6  # minutes: a load within this of the capacity is within it
_BLOCK_CELLS = 2_000_000  # customer × rep cells priced at once
_NEW_COLUMNS_PER_ROUND = 3  # pairs of negative reduced cost a customer takes per pricing round
_MIP_PER_CUSTOMER = 8  # pairs of a customer the MIP may consider, at most
_MIP_PAIRS_PER_CUSTOMER = 1.8  # pairs in the MIP per customer in the model, on average
_MAX_PRICING_ROUNDS = 60
_LNS_REPS = 8  # reps of a neighbourhood of the search
_LNS_SECONDS = 1.0  # time limit of a neighbourhood's MIP
_LNS_SHARE_MIP = 0.5  # of a large distance level's time, the global MIP's (the search: the rest)
_TIE_BREAK = 0.01  # large coverage levels: a customer's distance, at most, in priority units
_TIE_BREAK_DENSE_PAIRS = 2_000  # dense coverage levels with more pairs get the tie-break too


# -- parameters and result ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AssignParams:
    """Parameters of ``assign``.

    ``time_limit_seconds`` is the engine's budget: the MIP searches stop at it (the LP and its
    pricing, a few seconds at 10,000 × 200, always finish). ``gap_tolerance`` is the relative
    gap at which a MIP stops. ``candidates_per_customer`` is how many nearest reps a customer
    starts with (the pricing adds the others it needs). Up to ``dense_below`` customer × rep
    pairs, every pair is in the model and the result is optimal. ``mip_window`` is the LP
    reduced cost (the level's unit: km for distance) up to which a pair enters the MIP; ``None``
    chooses it from the instance. ``move_candidates`` is how many existing customers join the
    model up front when moves are allowed (default ``max(200, 20 K)``; the pricing adds more).
    ``solver_log`` prints HiGHS's log on stdout.
    """

    max_moves: int = 0
    time_limit_seconds: float = 30.0
    gap_tolerance: float = 1e-6
    candidates_per_customer: int = 12
    dense_below: int = 60_000
    mip_window: float | None = None
    move_candidates: int | None = None
    seed: int = 0
    solver_log: bool = False

    def __post_init__(self) -> None:
        if self.max_moves < 0:
            raise ValueError("max_moves must be 0 or more")
        if self.time_limit_seconds <= 0:
            raise ValueError("time_limit_seconds must be positive")
        if self.candidates_per_customer < 1:
            raise ValueError("candidates_per_customer must be at least 1")
        if self.gap_tolerance < 0:
            raise ValueError("gap_tolerance must be 0 or more")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> AssignParams:
        """Parameters from a mapping (e.g. a TOML table); unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown assignment parameters: {', '.join(unknown)}")
        return cls(**dict(values))

    @classmethod
    def from_toml(cls, path: str | Path, table: str = "assign") -> AssignParams:
        """Parameters from a table (default ``[assign]``) of a TOML file."""
        with Path(path).open("rb") as handle:
            data = tomllib.load(handle)
        return cls.from_mapping(data.get(table, {}))


@dataclass(frozen=True, slots=True)
class AssignObjective:
    """The value of an assignment, level by level.

    ``distance_km`` is the total great-circle distance of every assigned customer (existing and
    new) to its rep; ``fixed_km`` the part no feasible assignment can change (existing customers
    when no move is allowed). Priorities count over new customers; ``priority_bound`` is an upper
    bound of the priority any assignment could cover.
    """

    distance_km: float
    fixed_km: float
    priority_covered: float
    priority_total: float
    priority_bound: float
    customers_covered: int
    customers_new: int
    overload_minutes: float


@dataclass(frozen=True, slots=True)
class AssignmentResult:
    """What ``assign`` found.

    ``assignments``: one row per input customer, in input order — ``customer_id``, ``rep_id``
    (null: left unassigned for lack of capacity), ``previous_rep_id``, ``distance_km``.
    ``loads``: one row per rep — ``rep_id, capacity_minutes, load_today_minutes (its current
    customers), load_minutes, customers, new_customers``. ``overloaded_today``: the reps whose
    current customers alone exceed their capacity. ``lower_bound`` (km) is a valid lower bound
    of ``distance_km`` over the assignments covering at least the priority this one covers;
    ``bound_method`` says how it was obtained. ``gap`` is
    ``(distance − lower_bound) / (lower_bound − fixed_km)``; ``optimal`` means every level is
    proven within ``gap_tolerance``.
    """

    assignments: pl.DataFrame
    loads: pl.DataFrame
    objective: AssignObjective
    lower_bound: float
    bound_method: str
    gap: float
    optimal: bool
    moves: int
    unassigned: int
    overloaded_reps: tuple[str, ...]
    seconds: float
    notes: tuple[str, ...]
    overloaded_today: tuple[str, ...] = ()

    @property
    def distance_km(self) -> float:
        return self.objective.distance_km


# -- the instance ------------------------------------------------------------------------------
@dataclass(slots=True)
class _Problem:
    rep_ids: list[str]
    rlat: FloatArray  # radians
    rlon: FloatArray
    rcos: FloatArray
    cap: FloatArray
    rreg: IntArray  # -1: no region
    cust_ids: pl.Series
    previous: pl.Series
    clat: FloatArray
    clon: FloatArray
    ccos: FloatArray
    w: FloatArray
    p: FloatArray
    creg: IntArray
    cur: IntArray  # current rep, -1 for new customers
    max_moves: int

    @property
    def n_reps(self) -> int:
        return len(self.rep_ids)

    @property
    def n(self) -> int:
        return len(self.w)

    @property
    def is_new(self) -> BoolArray:
        return np.asarray(self.cur < 0, dtype=np.bool_)

    def existing_load(self) -> FloatArray:
        old = self.cur >= 0
        return np.bincount(self.cur[old], weights=self.w[old], minlength=self.n_reps).astype(
            np.float64
        )

    def dist(self, idx: IntArray) -> FloatArray:
        """Great-circle km from customers ``idx`` to every rep (len(idx) × reps)."""
        dlat = self.clat[idx, None] - self.rlat[None, :]
        dlon = self.clon[idx, None] - self.rlon[None, :]
        return haversine_rad_km(dlat, dlon, self.ccos[idx, None], self.rcos[None, :])

    def pair_dist_rep(self, r: int) -> FloatArray:
        """Great-circle km from rep ``r`` to every rep."""
        return haversine_rad_km(
            self.rlat - self.rlat[r], self.rlon - self.rlon[r], self.rcos, self.rcos[r]
        )

    def pair_dist(self, i: IntArray, r: IntArray) -> FloatArray:
        """Great-circle km of the pairs (i[k], r[k])."""
        dlat = self.clat[i] - self.rlat[r]
        dlon = self.clon[i] - self.rlon[r]
        return haversine_rad_km(dlat, dlon, self.ccos[i], self.rcos[r])


def _column(frame: pl.DataFrame, name: str, what: str) -> pl.Series:
    if name not in frame.columns:
        raise ValueError(f"{what} lack the column {name!r}")
    return frame[name]


def _floats(frame: pl.DataFrame, name: str, what: str, default: float | None = None) -> FloatArray:
    if name not in frame.columns and default is not None:
        return np.full(frame.height, default, dtype=np.float64)
    series = _column(frame, name, what).cast(pl.Float64)
    if default is not None:
        series = series.fill_null(default)
    values = series.to_numpy().astype(np.float64, copy=False)
    if series.null_count() or not np.all(np.isfinite(values)):
        raise ValueError(f"{what}: {name!r} has missing or non-finite values")
    return values


def _region_codes(reps: pl.DataFrame, customers: pl.DataFrame) -> tuple[IntArray, IntArray]:
    if "region" not in reps.columns or "region" not in customers.columns:
        return np.full(reps.height, -1, dtype=np.int64), np.full(
            customers.height, -1, dtype=np.int64
        )
    rep_region = reps["region"].cast(pl.String)
    cust_region = customers["region"].cast(pl.String)
    names = pl.concat([rep_region, cust_region]).drop_nulls().unique().sort()
    codes = {name: k for k, name in enumerate(names.to_list())}

    def encode(series: pl.Series) -> IntArray:
        mapped = series.replace_strict(codes, default=-1, return_dtype=pl.Int64)
        return mapped.fill_null(-1).to_numpy().astype(np.int64)

    return encode(rep_region), encode(cust_region)


def _problem(reps: pl.DataFrame, customers: pl.DataFrame, max_moves: int) -> _Problem:
    if reps.height == 0:
        raise ValueError("there are no reps to assign customers to")
    rep_ids = _column(reps, "rep_id", "reps").cast(pl.String)
    if rep_ids.null_count() or rep_ids.n_unique() != reps.height:
        raise ValueError("reps: rep_id must be filled and unique")
    cap = _floats(reps, "capacity_minutes", "reps")
    if np.any(cap < 0):
        raise ValueError("reps: capacity_minutes must be 0 or more")
    rlat = np.radians(_floats(reps, "latitude", "reps"))
    rlon = np.radians(_floats(reps, "longitude", "reps"))
    cust_ids = _column(customers, "customer_id", "customers").cast(pl.String)
    if cust_ids.null_count() or cust_ids.n_unique() != customers.height:
        raise ValueError("customers: customer_id must be filled and unique")
    w = _floats(customers, "workload_minutes", "customers")
    if np.any(w < 0):
        raise ValueError("customers: workload_minutes must be 0 or more")
    p = _floats(customers, "priority", "customers", default=1.0)
    if np.any(p < 0):
        raise ValueError("customers: priority must be 0 or more")
    clat = np.radians(_floats(customers, "latitude", "customers"))
    clon = np.radians(_floats(customers, "longitude", "customers"))
    if "rep_id" in customers.columns:
        previous = customers["rep_id"].cast(pl.String).alias("previous_rep_id")
    else:
        previous = pl.Series("previous_rep_id", [None] * customers.height, dtype=pl.String)
    index = {rid: k for k, rid in enumerate(rep_ids.to_list())}
    known = previous.is_null() | previous.is_in(rep_ids.implode())
    if not known.all():
        unknown = previous.filter(~known).unique(maintain_order=True).head(5).to_list()
        raise ValueError(f"customers name reps that do not exist: {', '.join(unknown)}")
    cur = (
        previous.replace_strict(index, default=-1, return_dtype=pl.Int64)
        .fill_null(-1)
        .to_numpy()
        .astype(np.int64)
    )
    rreg, creg = _region_codes(reps, customers)
    return _Problem(
        rep_ids=rep_ids.to_list(),
        rlat=rlat,
        rlon=rlon,
        rcos=np.cos(rlat),
        cap=cap,
        rreg=rreg,
        cust_ids=cust_ids,
        previous=previous,
        clat=clat,
        clon=clon,
        ccos=np.cos(clat),
        w=w,
        p=p,
        creg=creg,
        cur=cur,
        max_moves=max_moves,
    )


def _loads(prob: _Problem, rep_of: IntArray) -> FloatArray:
    on = rep_of >= 0
    return np.bincount(rep_of[on], weights=prob.w[on], minlength=prob.n_reps).astype(np.float64)


def _best_per_row(score: FloatArray, m: int) -> tuple[IntArray, IntArray]:
    """(row, column) of the ``m`` smallest finite scores of each row."""
    if m < score.shape[1]:
        top = np.argpartition(score, m - 1, axis=1)[:, :m]
    else:
        top = np.broadcast_to(np.arange(score.shape[1]), score.shape)
    rows = np.repeat(np.arange(score.shape[0]), top.shape[1])
    cols = top.ravel().astype(np.int64)
    fine = np.isfinite(score[rows, cols])
    return rows[fine], cols[fine]


# -- entry point --------------------------------------------------------------------------------
#: With moves allowed, the share of the time limit spent first on the zero-move solution (the
#: solution with moves starts from it and may only do better on covered priority).
_ZERO_MOVE_SHARE = 0.4
