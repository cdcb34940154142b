"""Rep assignment: which rep serves each customer, under capacity, with the least travel.

``assign(reps, customers, params)`` is the entry point (``salescope assign``, CONTRACTS.md).

The problem
-----------
A generalised assignment problem. Reps have a capacity in minutes per planning cycle; customers
have a workload in the same unit. Customers with a ``rep_id`` keep it, unless
``AssignParams.max_moves`` K > 0 lets at most K of them change rep; customers without one (new
shops) go to reps. The assignment is chosen lexicographically — each level is optimised, then
held, before the next:

0. no rep over capacity (a constraint). A rep whose current customers alone exceed its capacity
   receives nobody (reported as ``overloaded_today``);
1. the most priority covered (``priority``, default 1, over the new customers): a new customer is
   left unassigned only for lack of capacity. With K > 0 the zero-move solution is solved first
   and is the starting point, so moves never cover less priority than no move;
2. with K > 0, the least overload left on the reps over capacity today (moves relieve them
   where that leaves no new customer out);
3. when some new customers have priority 0, the most of them covered;
4. the least total great-circle distance customer ↔ rep. A move that neither frees capacity
   nor cuts the shop's travel is then undone; each moved shop's distance change and the reason
   are in the output.

A customer with a ``region`` goes only to a rep of the same region when the rep has one too (a
current assignment across regions is kept: it is not a move). A customer whose workload exceeds
what any allowed rep could hold stays unassigned.

The algorithm
-------------
Each level is a mixed-integer programme solved with HiGHS over a restricted set of
customer–rep pairs (columns), its optimum held as a constraint before the next level:

* **Column generation.** The model starts with the ``candidates_per_customer`` nearest allowed
  reps of each new customer. Its LP relaxation is solved and every pair of the *full* problem is
  priced against the LP duals, block by block (no dense distance matrix is ever held); pairs of
  negative reduced cost join the model and the LP is solved again, until none is left: the
  restricted LP is then the full LP. With moves allowed, existing customers whose move prices
  out negative join the model the same way.
* **Lower bound.** The Lagrangian bound of the full problem at the LP duals (capacity, moves and
  level rows dualised; each customer takes its best option over *all* reps) is valid whatever
  the duals, and equals the full LP bound once the pricing finds nothing. The MIP's own dual
  bound is valid only over the pairs it was given, so it counts as
  ``min(MIP bound, Lagrangian + smallest Lagrangian reduced cost of a pair left out)``: a
  solution using a pair left out costs at least that much.
* **Primal.** An LP-guided greedy (pairs integral in the LP first, then by regret; the cheapest
  rep by ``distance + capacity price × workload`` that has room) starts the MIP, which keeps the
  few best pairs of each customer by LP reduced cost (about 1.8 per customer), improves the start
  until the time limit or the gap tolerance, and is widened while it proves its optimum early.
  Large instances without moves then spend half the distance level's time on a
  large-neighbourhood search: a rep and its 7 nearest at a time (the most capacity-pressed
  first), the new customers they hold or could take re-placed by an exact small MIP.
* **Coverage decided at once.** When a plain greedy covers every new customer, the coverage
  levels need no MIP: every new customer must be covered (Σx = 1) at the distance level.
* **Small instances** (customers × reps ≤ ``dense_below``) keep every pair in the model and are
  solved exactly, level by level.
* **Capacity short on a large instance.** The coverage levels are then MIPs of their own; they
  carry the distance as a tie-break worth at most 1 % of the smallest priority per customer
  (covering less could only pay by saving over 100 times the longest distance in the model), so
  that the customers covered are near their reps; the distance level first re-places the
  covered customers alone (a plain assignment problem), then lets the covered set change. This
  case needs more time than the default to get close: see ``priority_bound`` and ``gap``.

The gap is ``(distance − lower bound) / (lower bound − fixed distance)``: relative to the distance
the engine decides, not diluted by existing customers that cannot move.
"""

from __future__ import annotations

import logging
import math
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import highspy
import numpy as np
import numpy.typing as npt
import polars as pl

from salescope.coverage._geo import EARTH_KM, haversine_km

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
        a = np.sin(dlat * 0.5) ** 2 + self.ccos[idx, None] * self.rcos[None, :] * (
            np.sin(dlon * 0.5) ** 2
        )
        return np.asarray(2.0 * EARTH_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), np.float64)

    def pair_dist_rep(self, r: int) -> FloatArray:
        """Great-circle km from rep ``r`` to every rep."""
        dlat = self.rlat - self.rlat[r]
        dlon = self.rlon - self.rlon[r]
        a = np.sin(dlat * 0.5) ** 2 + self.rcos * self.rcos[r] * np.sin(dlon * 0.5) ** 2
        return np.asarray(2.0 * EARTH_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), np.float64)

    def pair_dist(self, i: IntArray, r: IntArray) -> FloatArray:
        """Great-circle km of the pairs (i[k], r[k])."""
        dlat = self.clat[i] - self.rlat[r]
        dlon = self.clon[i] - self.rlon[r]
        a = np.sin(dlat * 0.5) ** 2 + self.ccos[i] * self.rcos[r] * np.sin(dlon * 0.5) ** 2
        return np.asarray(2.0 * EARTH_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), np.float64)


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


# -- objectives of the levels -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Form:
    """A linear function of an assignment: ``alpha[i] + beta × km`` for each customer i placed
    with a rep, plus ``over`` per minute of overload. ``alpha`` is zero for existing customers."""

    name: str
    alpha: FloatArray | None
    beta: float
    over: float

    def x_coef(self, i: IntArray, d: FloatArray) -> FloatArray:
        a = self.alpha[i] if self.alpha is not None else 0.0
        return np.asarray(a + self.beta * d, dtype=np.float64)


def _loads(prob: _Problem, rep_of: IntArray) -> FloatArray:
    on = rep_of >= 0
    return np.bincount(rep_of[on], weights=prob.w[on], minlength=prob.n_reps).astype(np.float64)


# -- the HiGHS model ----------------------------------------------------------------------------
class _Model:
    """The problem over a set of customer–rep pairs (columns), grown by pricing.

    Rows: one capacity row per rep (rows ``0..reps-1``), the moves row (K > 0), one assignment
    row per customer in the model (new: 0 ≤ Σx ≤ 1, or = 1 when it must be covered; existing:
    Σx = 1, its stay among the columns), one row per level already decided. Existing customers
    outside the model keep their rep: their load is a constant ("outside") of the capacity rows.
    Overload columns (K > 0 and reps over capacity already) relax those reps' rows.
    """

    def __init__(self, prob: _Problem, params: AssignParams) -> None:
        self.prob = prob
        self.params = params
        # the bare solver: highspy.Highs() prints a banner on stdout when it is built
        h = highspy._Highs()  # type: ignore[attr-defined]
        h.setOptionValue("output_flag", bool(params.solver_log))
        h.setOptionValue("random_seed", int(params.seed))
        h.setOptionValue("primal_feasibility_tolerance", 1e-8)
        h.setOptionValue("mip_feasibility_tolerance", 1e-7)
        self.h = h
        n_reps, k_moves = prob.n_reps, prob.max_moves
        load = prob.existing_load()
        self.overloaded = np.asarray(load > prob.cap + _CAP_TOL, dtype=np.bool_)
        self.load_out = load.copy()
        if k_moves > 0:
            self.cap_rhs = prob.cap - load
            self.room = prob.cap.copy()  # all of a rep's customers might leave
        else:
            self.cap_rhs = np.maximum(prob.cap - load, 0.0)
            self.room = self.cap_rhs.copy()
        none_i = np.zeros(0, dtype=np.int32)
        none_f = np.zeros(0, dtype=np.float64)
        h.addRows(n_reps, np.full(n_reps, -_HINF), self.cap_rhs, 0, none_i, none_i, none_f)
        self.n_rows = n_reps
        self.moves_row = -1
        if k_moves > 0:
            h.addRow(-_HINF, float(k_moves), 0, none_i, none_f)
            self.moves_row = self.n_rows
            self.n_rows += 1
        self.assign_row = np.full(prob.n, -1, dtype=np.int64)
        self.must = np.zeros(prob.n, dtype=np.bool_)
        self.lex: list[tuple[int, _Form, float]] = []  # row, form, right-hand side
        self.col_i = np.zeros(0, dtype=np.int64)  # customer; -1 for an overload column
        self.col_r = np.zeros(0, dtype=np.int64)
        self.col_d = np.zeros(0, dtype=np.float64)
        self.col_key = np.zeros(0, dtype=np.int64)  # customer × reps + rep
        self.o_ub: FloatArray | None = None
        if k_moves > 0 and np.any(self.overloaded):
            self.o_ub = np.where(self.overloaded, load - prob.cap, 0.0)
            reps = np.flatnonzero(self.overloaded)
            m = len(reps)
            h.addCols(
                m,
                np.zeros(m),
                np.zeros(m),
                self.o_ub[reps],
                m,
                np.arange(m, dtype=np.int32),
                reps.astype(np.int32),
                np.full(m, -1.0),
            )
            self.col_i = np.full(m, -1, dtype=np.int64)
            self.col_r = reps.astype(np.int64)
            self.col_d = np.zeros(m)
            self.col_key = np.full(m, -1, dtype=np.int64)
        self.form: _Form | None = None
        self.integer = False
        self.lp_interrupted = False

    # ---- structure
    @property
    def n_cols(self) -> int:
        return len(self.col_i)

    @property
    def in_model(self) -> BoolArray:
        return np.asarray(self.assign_row >= 0, dtype=np.bool_)

    def add_customers(self, idx: IntArray) -> None:
        """Customers ``idx`` join the model (existing ones with their stay column)."""
        idx = np.unique(idx[self.assign_row[idx] < 0])
        if len(idx) == 0:
            return
        prob, h = self.prob, self.h
        new = prob.cur[idx] < 0
        none_i = np.zeros(0, dtype=np.int32)
        h.addRows(
            len(idx), np.where(new, 0.0, 1.0), np.ones(len(idx)), 0, none_i, none_i, np.zeros(0)
        )
        self.assign_row[idx] = self.n_rows + np.arange(len(idx))
        self.n_rows += len(idx)
        old = idx[~new]
        if len(old):
            moved = np.bincount(prob.cur[old], weights=prob.w[old], minlength=prob.n_reps)
            self.load_out -= moved
            self.cap_rhs += moved
            reps = np.flatnonzero(moved).astype(np.int32)
            h.changeRowsBounds(len(reps), reps, np.full(len(reps), -_HINF), self.cap_rhs[reps])
            self.add_columns(old, prob.cur[old])

    def require(self, idx: IntArray) -> None:
        """New customers ``idx`` (in the model) must be covered: Σx = 1."""
        idx = idx[~self.must[idx]]
        if len(idx) == 0:
            return
        rows = self.assign_row[idx].astype(np.int32)
        self.h.changeRowsBounds(len(rows), rows, np.ones(len(rows)), np.ones(len(rows)))
        self.must[idx] = True

    def add_columns(self, i: IntArray, r: IntArray) -> int:
        """Add the pairs (i[k], r[k]) not in the model yet; returns how many were added."""
        prob = self.prob
        key, first = np.unique(i * prob.n_reps + r, return_index=True)
        i, r = i[first], r[first]
        fresh = ~np.isin(key, self.col_key)
        i, r, key = i[fresh], r[fresh], key[fresh]
        m = len(i)
        if m == 0:
            return 0
        d = prob.pair_dist(i, r)
        local = np.arange(m)
        rows = [self.assign_row[i], r]
        vals = [np.ones(m), prob.w[i]]
        cols = [local, local]
        if self.moves_row >= 0:
            move = (prob.cur[i] >= 0) & (prob.cur[i] != r)
            rows.append(np.full(int(move.sum()), self.moves_row))
            vals.append(np.ones(int(move.sum())))
            cols.append(local[move])
        for row, form, _ in self.lex:
            coef = form.x_coef(i, d)
            nz = coef != 0
            rows.append(np.full(int(nz.sum()), row))
            vals.append(coef[nz])
            cols.append(local[nz])
        all_cols = np.concatenate(cols)
        order = np.argsort(all_cols, kind="stable")
        starts = np.searchsorted(all_cols[order], local).astype(np.int32)
        cost = self.form.x_coef(i, d) if self.form is not None else np.zeros(m)
        self.h.addCols(
            m,
            cost,
            np.zeros(m),
            np.ones(m),
            len(all_cols),
            starts,
            np.concatenate(rows)[order].astype(np.int32),
            np.concatenate(vals)[order],
        )
        if self.integer:
            self.h.changeColsIntegrality(
                m,
                np.arange(self.n_cols, self.n_cols + m, dtype=np.int32),
                np.ones(m, dtype=np.uint8),
            )
        self.col_i = np.concatenate([self.col_i, i])
        self.col_r = np.concatenate([self.col_r, r])
        self.col_d = np.concatenate([self.col_d, d])
        self.col_key = np.concatenate([self.col_key, key])
        return m

    def form_coefs(self, form: _Form) -> FloatArray:
        x = self.col_i >= 0
        coef = np.full(self.n_cols, form.over, dtype=np.float64)
        coef[x] = form.x_coef(self.col_i[x], self.col_d[x])
        return coef

    def set_form(self, form: _Form) -> None:
        """Make ``form`` the objective."""
        self.form = form
        n = self.n_cols
        self.h.changeColsCost(n, np.arange(n, dtype=np.int32), self.form_coefs(form))

    def add_lex_row(self, form: _Form, rhs: float) -> None:
        """Hold a decided level: ``form ≤ rhs`` (over the model's columns)."""
        coef = self.form_coefs(form)
        nz = np.flatnonzero(coef != 0)
        self.h.addRow(-_HINF, rhs, len(nz), nz.astype(np.int32), coef[nz])
        self.lex.append((self.n_rows, form, rhs))
        self.n_rows += 1

    def set_integer(self, integer: bool) -> None:
        if integer == self.integer:
            return
        x = np.flatnonzero(self.col_i >= 0).astype(np.int32)
        kind = np.full(len(x), 1 if integer else 0, dtype=np.uint8)
        self.h.changeColsIntegrality(len(x), x, kind)
        self.integer = integer

    # ---- solving
    def solve_lp(self, seconds: float = _INF) -> tuple[FloatArray, FloatArray]:
        """Solve the LP relaxation; returns (row duals, column values). Stopped after
        ``seconds`` (at least one), it returns the duals and values reached, and
        ``lp_interrupted`` is set: any duals of the right sign still give a valid Lagrangian
        bound, and the primal heuristics check capacity themselves."""
        self.set_integer(False)
        h = self.h
        # HiGHS compares time_limit with the run time accumulated over every run of the model
        limit = h.getRunTime() + max(1.0, seconds) if math.isfinite(seconds) else _HINF
        h.setOptionValue("time_limit", limit)
        began = time.perf_counter()
        h.run()
        status = h.getModelStatus()
        log.debug(
            "LP %s: %.2f s, %d columns, objective %.6g",
            self.form.name if self.form else "",
            time.perf_counter() - began,
            self.n_cols,
            h.getInfo().objective_function_value,
        )
        self.lp_interrupted = False
        if status == highspy.HighsModelStatus.kModelEmpty:
            # no pair at all (nobody fits any rep): nothing to choose, every dual is zero
            return np.zeros(self.n_rows), np.zeros(self.n_cols)
        sol = h.getSolution()
        if status in (
            highspy.HighsModelStatus.kTimeLimit,
            highspy.HighsModelStatus.kIterationLimit,
        ):
            self.lp_interrupted = True
            duals = (
                np.asarray(sol.row_dual, dtype=np.float64)
                if sol.dual_valid and len(sol.row_dual) == self.n_rows
                else np.zeros(self.n_rows)
            )
            values = (
                np.asarray(sol.col_value, dtype=np.float64)
                if sol.value_valid and len(sol.col_value) == self.n_cols
                else np.zeros(self.n_cols)
            )
            return duals, values
        if status != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"LP relaxation not solved: {h.modelStatusToString(status)}")
        return (
            np.asarray(sol.row_dual, dtype=np.float64),
            np.asarray(sol.col_value, dtype=np.float64),
        )

    def solution_vector(self, rep_of: IntArray) -> FloatArray:
        x = self.col_i >= 0
        values = np.zeros(self.n_cols)
        values[x] = (rep_of[self.col_i[x]] == self.col_r[x]).astype(np.float64)
        if self.o_ub is not None:
            prob = self.prob
            load = _loads(prob, rep_of)
            o = ~x
            values[o] = np.clip(load[self.col_r[o]] - prob.cap[self.col_r[o]], 0.0, None)
        return values

    def solve_mip(
        self, keep: BoolArray, start: IntArray, seconds: float
    ) -> tuple[IntArray | None, float, bool]:
        """The MIP over the columns ``keep`` (and the overload columns), from ``start``.

        Returns (the best assignment found or None, the MIP's dual bound, whether it finished
        rather than ran out of time)."""
        h, prob = self.h, self.prob
        x = self.col_i >= 0
        off = np.flatnonzero(x & ~keep).astype(np.int32)
        self.set_integer(True)
        if len(off):
            h.changeColsBounds(len(off), off, np.zeros(len(off)), np.zeros(len(off)))
        h.setOptionValue("time_limit", max(0.5, seconds))
        h.setOptionValue("mip_rel_gap", self.params.gap_tolerance)
        h.setOptionValue("mip_abs_gap", 1e-9)
        sol = highspy.HighsSolution()
        sol.col_value = self.solution_vector(start).tolist()
        sol.value_valid = True
        h.setSolution(sol)
        began = time.perf_counter()
        try:
            h.run()
            info = h.getInfo()
            log.debug(
                "MIP %s: %.2f s, %d columns, objective %.6g, bound %.6g",
                self.form.name if self.form else "",
                time.perf_counter() - began,
                int(np.count_nonzero(keep & x)),
                info.objective_function_value,
                info.mip_dual_bound,
            )
            found: IntArray | None = None
            if info.primal_solution_status == highspy.kSolutionStatusFeasible:
                values = np.asarray(h.getSolution().col_value, dtype=np.float64)
                chosen = x & (values > 0.5)
                found = np.where(prob.cur >= 0, prob.cur, -1).astype(np.int64)
                found[self.col_i[chosen]] = self.col_r[chosen]
            bound = float(info.mip_dual_bound)
            finished = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
        finally:
            if len(off):
                h.changeColsBounds(len(off), off, np.zeros(len(off)), np.ones(len(off)))
            self.set_integer(False)
        return found, bound, finished

    def solve_fixed_cover(
        self, keep: BoolArray, start: IntArray, seconds: float
    ) -> IntArray | None:
        """The MIP with exactly the new customers ``start`` covers covered."""
        idx = np.flatnonzero(self.in_model & (self.prob.cur < 0))
        rows = self.assign_row[idx].astype(np.int32)
        covered = (start[idx] >= 0).astype(np.float64)
        self.h.changeRowsBounds(len(rows), rows, covered, covered)
        try:
            found, _, _ = self.solve_mip(keep, start, seconds)
        finally:
            lower = self.must[idx].astype(np.float64)
            self.h.changeRowsBounds(len(rows), rows, lower, np.ones(len(rows)))
        return found


@dataclass(slots=True)
class _Pricing:
    bound: float  # Lagrangian bound of the whole problem at these duals
    added: int  # columns (or customers) added to the model
    inside: IntArray  # keys of the pairs chosen for the MIP
    delta_out: float  # smallest Lagrangian reduced cost of a pair outside them


@dataclass(slots=True)
class _Level:
    rep_of: IntArray
    value: float
    bound: float
    proven: bool
    method: str


# -- the engine ---------------------------------------------------------------------------------
class _Engine:
    def __init__(self, prob: _Problem, params: AssignParams, started: float) -> None:
        self.prob = prob
        self.params = params
        self.started = started
        self.deadline = started + params.time_limit_seconds
        self.model = _Model(prob, params)
        self.new_idx = np.flatnonzero(prob.is_new)
        self.old_idx = np.flatnonzero(~prob.is_new)
        # customers who choose a rep in the Lagrangian: the new ones, and with moves everyone
        self.choosers = np.arange(prob.n) if prob.max_moves > 0 else self.new_idx
        self.dense = len(self.choosers) * prob.n_reps <= params.dense_below
        self.reps_range = np.arange(prob.n_reps)
        self.notes: list[str] = []
        self.converged = True

    def seconds_left(self) -> float:
        return max(0.0, self.deadline - time.perf_counter())

    # ---- pairs
    def allowed(self, idx: IntArray) -> BoolArray:
        """Which reps customers ``idx`` may have (their own always)."""
        prob, model = self.prob, self.model
        own = prob.cur[idx, None] == self.reps_range[None, :]
        ok = prob.w[idx, None] <= model.room[None, :] + _CAP_TOL
        ok &= ~model.overloaded[None, :]
        creg = prob.creg[idx]
        if np.any(creg >= 0) and np.any(prob.rreg >= 0):
            ok &= (creg[:, None] < 0) | (prob.rreg[None, :] < 0) | (creg[:, None] == prob.rreg)
        return np.asarray(ok | own, dtype=np.bool_)

    def blocks(self, idx: IntArray) -> list[IntArray]:
        size = max(64, _BLOCK_CELLS // max(1, self.prob.n_reps))
        return [idx[s : s + size] for s in range(0, len(idx), size)]

    def nearest_pairs(self, idx: IntArray, k: int) -> tuple[IntArray, IntArray]:
        """The ``k`` nearest allowed reps of each customer of ``idx``."""
        prob = self.prob
        out_i: list[IntArray] = []
        out_r: list[IntArray] = []
        for block in self.blocks(idx):
            d = np.where(self.allowed(block), prob.dist(block), _INF)
            if k < prob.n_reps:
                near = np.argpartition(d, k - 1, axis=1)[:, :k]
            else:
                near = np.broadcast_to(self.reps_range, d.shape)
            rows = np.repeat(np.arange(len(block)), near.shape[1])
            reps = near.ravel().astype(np.int64)
            fine = np.isfinite(d[rows, reps])
            out_i.append(block[rows[fine]])
            out_r.append(reps[fine])
        if not out_i:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(out_i), np.concatenate(out_r)

    def seed_model(self) -> None:
        """New customers with their nearest reps; with moves, the existing customers most
        likely to move (all those of reps over capacity, the most travel saved)."""
        prob, model, params = self.prob, self.model, self.params
        model.add_customers(self.new_idx)
        if prob.max_moves > 0 and self.dense:
            model.add_customers(self.old_idx)  # small: every existing customer may move
        elif prob.max_moves > 0 and len(self.old_idx):
            first = self.old_idx[model.overloaded[prob.cur[self.old_idx]]]
            saving = np.empty(len(self.old_idx))
            at = 0
            for block in self.blocks(self.old_idx):
                rows = np.arange(len(block))
                d = prob.dist(block)
                stay = d[rows, prob.cur[block]].copy()
                d = np.where(self.allowed(block), d, _INF)
                d[rows, prob.cur[block]] = _INF
                saving[at : at + len(block)] = stay - d.min(axis=1)
                at += len(block)
            budget = params.move_candidates or max(200, 20 * prob.max_moves)
            order = np.argsort(-saving, kind="stable")[:budget]
            best = self.old_idx[order[saving[order] > 0]]
            model.add_customers(np.concatenate([first, best]))
        k = prob.n_reps if self.dense else min(params.candidates_per_customer, prob.n_reps)
        model.add_columns(*self.nearest_pairs(np.flatnonzero(model.in_model), k))

    # ---- pricing
    def duals(self, row_dual: FloatArray) -> tuple[FloatArray, float, list[float]]:
        """Capacity, moves and level duals, with the sign a ≤ row's multiplier must have."""
        model = self.model
        y_cap = np.minimum(row_dual[: self.prob.n_reps], 0.0)
        y_mv = min(float(row_dual[model.moves_row]), 0.0) if model.moves_row >= 0 else 0.0
        y_lex = [min(float(row_dual[row]), 0.0) for row, _, _ in model.lex]
        return y_cap, y_mv, y_lex

    def price(
        self,
        form: _Form,
        row_dual: FloatArray,
        *,
        grow: bool,
        window: float | None = None,
        budget: int | None = None,
        per_customer: int = _MIP_PER_CUSTOMER,
    ) -> _Pricing:
        """Price every allowed pair against the LP duals.

        Returns the Lagrangian bound of the level (of the whole problem, the customers outside
        the model included). With ``grow``, pairs of negative reduced cost join the model (and,
        with moves, the existing customers worth moving). With ``window`` (a reduced cost) or
        ``budget`` (a number of pairs), chooses the MIP's pairs — among the few best of each
        customer, those of reduced cost ≤ window — and adds them to the model.
        """
        prob, model = self.prob, self.model
        y_cap, y_mv, y_lex = self.duals(row_dual)
        alpha = np.zeros(prob.n) if form.alpha is None else form.alpha.copy()
        beta, over = form.beta, form.over
        for y, (_, lex_form, _) in zip(y_lex, model.lex, strict=True):
            if lex_form.alpha is not None:
                alpha -= y * lex_form.alpha
            beta -= y * lex_form.beta
            over -= y * lex_form.over
        rows = model.assign_row
        y_assign = np.zeros(prob.n)
        y_assign[rows >= 0] = row_dual[rows[rows >= 0]]
        scale = max(1.0, float(np.max(np.abs(alpha), initial=0.0)), abs(beta) * 100.0)
        eps = _EPS_RC * scale
        mip = window is not None or budget is not None
        bound = 0.0
        new_i: list[IntArray] = []
        new_r: list[IntArray] = []
        got: list[tuple[IntArray, IntArray, FloatArray, FloatArray]] = []
        delta_rest = _INF
        activate: list[IntArray] = []
        for block in self.blocks(self.choosers):
            n_b = len(block)
            at = np.arange(n_b)
            d = prob.dist(block)
            ok = self.allowed(block)
            cur = prob.cur[block]
            own = np.flatnonzero(cur >= 0)
            price = alpha[block, None] + beta * d - y_cap[None, :] * prob.w[block, None]
            if y_mv != 0.0:
                price -= y_mv * ((cur[:, None] >= 0) & (cur[:, None] != self.reps_range[None, :]))
            price = np.where(ok, price, _INF)
            best = price.min(axis=1)
            free = (cur < 0) & ~model.must[block]
            best[free] = np.minimum(best[free], 0.0)  # a new customer may stay unassigned
            bound += float(best.sum())
            inm = rows[block] >= 0
            rc = np.where(inm[:, None], price - y_assign[block, None], _INF)
            if grow:
                neg = rc < -eps
                if np.any(neg):
                    ii, rr = _best_per_row(np.where(neg, rc, _INF), _NEW_COLUMNS_PER_ROUND)
                    new_i.append(block[ii])
                    new_r.append(rr)
                out = ~inm & (cur >= 0)
                if prob.max_moves > 0 and np.any(out):
                    stay = price[at, np.maximum(cur, 0)]
                    moving = price.copy()
                    moving[at, np.maximum(cur, 0)] = _INF
                    worth = out & (moving.min(axis=1) < stay - eps)
                    if np.any(worth):
                        activate.append(block[worth])
            if mip:
                rcm = np.where(inm[:, None] & ok, rc, _INF)
                # coverage levels have many ties: the nearest reps win them
                rank = rcm + 1e-7 * np.minimum(d, 1e5) if beta == 0.0 else rcm
                ti, tr = _best_per_row(rank, min(per_customer, prob.n_reps))
                delta = price - best[:, None]
                got.append((block[ti], tr, rank[ti, tr], delta[ti, tr]))
                rest = np.where(ok, delta, _INF)
                rest[ti, tr] = _INF
                rest[own, cur[own]] = _INF  # staying is never left out
                if rest.size:
                    delta_rest = min(delta_rest, float(rest.min()))
        added = 0
        if activate:
            fresh = np.concatenate(activate)
            model.add_customers(fresh)
            added += len(fresh)
            ii, rr = self.nearest_pairs(
                fresh, min(self.params.candidates_per_customer, prob.n_reps)
            )
            new_i.append(ii)
            new_r.append(rr)
        if new_i:
            added += model.add_columns(np.concatenate(new_i), np.concatenate(new_r))
        # customers outside the choosers (existing ones, no move allowed) are constants
        if prob.max_moves == 0 and len(self.old_idx):
            old = self.old_idx
            d_old = prob.pair_dist(old, prob.cur[old])
            bound += float(np.sum(beta * d_old - y_cap[prob.cur[old]] * prob.w[old]))
            b_full = model.cap_rhs + model.load_out
        else:
            b_full = prob.cap
        bound += float(np.dot(y_cap, b_full)) + y_mv * prob.max_moves
        bound += sum(y * rhs for y, (_, _, rhs) in zip(y_lex, model.lex, strict=True))
        if model.o_ub is not None:
            bound += float(np.sum(np.minimum(over + y_cap, 0.0) * model.o_ub))
        inside = np.zeros(0, dtype=np.int64)
        delta_out = _INF
        if mip and got:
            gi = np.concatenate([g[0] for g in got])
            gr = np.concatenate([g[1] for g in got])
            grc = np.concatenate([g[2] for g in got])
            gdelta = np.concatenate([g[3] for g in got])
            if window is None:
                assert budget is not None
                window = _INF
                if 0 < budget < len(grc):
                    window = max(float(np.partition(grc, budget - 1)[budget - 1]), 1e-9)
            chosen = grc <= window
            added += model.add_columns(gi[chosen], gr[chosen])
            inside = gi[chosen] * prob.n_reps + gr[chosen]
            left_out = gdelta[~chosen]
            delta_out = min(delta_rest, float(left_out.min()) if len(left_out) else _INF)
            log.debug("MIP pairs: %d (window %.4g)", int(chosen.sum()), window)
        return _Pricing(bound=bound, added=added, inside=inside, delta_out=delta_out)

    def column_generation(self, form: _Form) -> tuple[float, FloatArray, FloatArray]:
        """The level's LP over a model grown until no pair prices out negative.

        Returns (Lagrangian bound, row duals, column values)."""
        model = self.model
        model.set_form(form)
        bound = -_INF
        for _ in range(_MAX_PRICING_ROUNDS):
            row_dual, values = model.solve_lp(self.lp_seconds())
            pricing = self.price(form, row_dual, grow=True)
            bound = max(bound, pricing.bound)
            if pricing.added == 0 and not model.lp_interrupted:
                break
            if self.seconds_left() <= 0 or model.lp_interrupted:
                # the Lagrangian bound holds at any duals: stop at the time limit
                self.converged = False
                self.notes.append(
                    f"the LP of the {form.name} level stopped at the time limit: its bound is "
                    "the Lagrangian one at the duals reached"
                )
                break
        else:
            self.converged = False
            self.notes.append(f"the pricing of the {form.name} level stopped before the end")
        # rows added by the last pricing (customers joining the model) have no dual yet
        row_dual = np.pad(row_dual, (0, max(0, model.n_rows - len(row_dual))))
        return bound, row_dual, values

    def lp_seconds(self) -> float:
        """Time an LP may take: what is left, but at least a few seconds so that every level
        gets duals to work with."""
        return max(3.0, self.seconds_left())

    # ---- primal
    def greedy(
        self, row_dual: FloatArray | None, values: FloatArray | None, *, by_priority: bool
    ) -> IntArray:
        """Existing customers stay; a new customer whose LP assignment is integral takes that
        rep if it has room; the others — by priority (when asked), then regret — take the
        cheapest rep with room (distance + capacity price × workload), else the nearest allowed
        rep with room, else none."""
        prob, model = self.prob, self.model
        y_cap = np.zeros(prob.n_reps) if row_dual is None else self.duals(row_dual)[0]
        rep_of = np.where(prob.cur >= 0, prob.cur, -1).astype(np.int64)
        left = prob.cap - _loads(prob, rep_of)
        x = (model.col_i >= 0) & (prob.cur[np.maximum(model.col_i, 0)] < 0)
        ci, cr, cd = model.col_i[x], model.col_r[x], model.col_d[x]
        if values is None or len(values) < model.n_cols:
            cv = np.zeros(len(ci))
        else:
            cv = values[: model.n_cols][x]
        adj = cd - y_cap[cr] * prob.w[ci]
        order = np.lexsort((adj, ci))
        ci, cr, cv, adj = ci[order], cr[order], cv[order], adj[order]
        starts = np.searchsorted(ci, self.new_idx)
        ends = np.searchsorted(ci, self.new_idx, side="right")
        count = ends - starts
        regret = np.full(len(self.new_idx), 1e12)
        two = count > 1
        regret[two] = adj[starts[two] + 1] - adj[starts[two]]
        top_x = np.zeros(prob.n)
        np.maximum.at(top_x, ci, cv)
        integral = top_x[self.new_idx] >= 1.0 - 1e-6
        priority = prob.p[self.new_idx] if by_priority else np.zeros(len(self.new_idx))
        sequence = np.lexsort((-regret, -integral.astype(np.float64), -priority))
        w = prob.w
        stranded: list[int] = []
        for pos in sequence.tolist():
            i = int(self.new_idx[pos])
            s, e = int(starts[pos]), int(ends[pos])
            choice = -1
            if integral[pos]:
                r = int(cr[s + int(np.argmax(cv[s:e]))])
                if left[r] >= w[i] - _CAP_TOL:
                    choice = r
            if choice < 0:
                for j in range(s, e):
                    r = int(cr[j])
                    if left[r] >= w[i] - _CAP_TOL:
                        choice = r
                        break
            if choice >= 0:
                rep_of[i] = choice
                left[choice] -= w[i]
            else:
                stranded.append(i)
        if stranded:
            idx = np.asarray(stranded, dtype=np.int64)
            for block in self.blocks(idx):
                d = np.where(self.allowed(block), prob.dist(block), _INF)
                for row, i in enumerate(block.tolist()):
                    dd = np.where(left >= w[i] - _CAP_TOL, d[row], _INF)
                    r = int(np.argmin(dd))
                    if np.isfinite(dd[r]):
                        rep_of[i] = r
                        left[r] -= w[i]
            placed = idx[rep_of[idx] >= 0]
            model.add_columns(placed, rep_of[placed])
        return rep_of

    def value(self, form: _Form, rep_of: IntArray) -> float:
        """``form`` of an assignment, over every customer."""
        prob, model = self.prob, self.model
        idx = np.flatnonzero(rep_of >= 0)
        total = float(np.sum(form.x_coef(idx, prob.pair_dist(idx, rep_of[idx]))))
        if model.o_ub is not None and form.over != 0.0:
            excess = np.clip(_loads(prob, rep_of) - prob.cap, 0.0, None)
            total += form.over * float(np.sum(excess[model.overloaded]))
        return total

    def constant(self, form: _Form) -> float:
        """What the customers outside the model (they keep their rep) add to ``form``."""
        prob = self.prob
        out = np.flatnonzero(~self.model.in_model & (prob.cur >= 0))
        return float(np.sum(form.x_coef(out, prob.pair_dist(out, prob.cur[out]))))

    def satisfies(self, rep_of: IntArray) -> bool:
        """Does the assignment hold the levels already decided (and the required covers)?"""
        model = self.model
        if np.any(model.must & (rep_of < 0)):
            return False
        return all(
            self.value(form, rep_of) <= rhs + 1e-9 * max(1.0, abs(rhs))
            for _, form, rhs in model.lex
        )

    def tie_break(self, form: _Form) -> _Form:
        """A coverage ``form`` plus the distance, weighted so that a customer's distance is
        worth at most ``_TIE_BREAK`` of the smallest coverage weight: covering less could only
        pay by saving over 100 times the longest distance in the model."""
        assert form.alpha is not None
        weights = np.abs(form.alpha[form.alpha != 0])
        d_max = float(self.model.col_d.max(initial=0.0))
        if len(weights) == 0 or d_max <= 0:
            return form
        return _Form(form.name, form.alpha, _TIE_BREAK * float(weights.min()) / d_max, form.over)

    # ---- one level
    def solve_level(
        self, form: _Form, start: IntArray | None, share: float, *, by_priority: bool
    ) -> _Level:
        """Optimise ``form`` under the levels decided; its MIPs take ``share`` of the time
        left."""
        model, prob = self.model, self.prob
        bound, row_dual, values = self.column_generation(form)
        candidates = [] if start is None else [start]
        guess = self.greedy(row_dual, values, by_priority=by_priority)
        if self.satisfies(guess):
            candidates.append(guess)
        if not candidates:  # pragma: no cover - the previous level's solution qualifies
            raise RuntimeError("no assignment holds the levels decided")
        best = min(candidates, key=lambda c: self.value(form, c))
        value = self.value(form, best)
        log.debug(
            "level %s: bound %.6g, starts %s",
            form.name,
            bound,
            ", ".join(f"{self.value(form, c):.6g}" for c in candidates),
        )
        tol = max(self.params.gap_tolerance * max(1.0, abs(value)), 1e-9)
        method = (
            "full LP relaxation (Lagrangian at its duals)"
            if self.converged
            else "Lagrangian at the LP duals"
        )
        if value - bound <= tol:
            return _Level(best, value, bound, True, method)
        x_cols = model.col_i >= 0
        keep = np.zeros(model.n_cols, dtype=np.bool_)

        def take(found: IntArray | None) -> None:
            nonlocal best, value, keep, x_cols
            if found is not None and self.satisfies(found):
                found_value = self.value(form, found)
                if found_value <= value:
                    best, value = found, found_value
            x_cols = model.col_i >= 0
            if len(keep) < model.n_cols:
                keep = np.concatenate([keep, np.zeros(model.n_cols - len(keep), dtype=np.bool_)])
            keep[x_cols] |= best[model.col_i[x_cols]] == model.col_r[x_cols]

        # a coverage level of a large instance carries the distance as a tie-break, so that
        # the customers it covers are near their reps (the distance level could hardly change
        # the covered set afterwards); small instances are solved exactly, level by level
        coverage = form.beta == 0.0 and form.alpha is not None
        # (a small dense level needs none: its distance level is solved exactly, quickly)
        tie = (form.beta != 0.0 or coverage) and (
            not self.dense or model.n_cols > _TIE_BREAK_DENSE_PAIRS
        )
        mip_form = self.tie_break(form) if tie and coverage else form
        # large distance levels without moves end with a neighbourhood search
        lns = form.beta != 0.0 and prob.max_moves == 0
        y_cap_lp = self.duals(row_dual)[0]
        factor, per_customer = _MIP_PAIRS_PER_CUSTOMER, _MIP_PER_CUSTOMER
        first, pairs = True, -1
        while True:
            # the MIP's pairs: every one when the instance is small, else the few best of each
            # customer by LP reduced cost; widened while the MIP proves its optimum early
            window = self.params.mip_window
            budget: int | None = None
            if self.dense:
                window, per_customer = _INF, prob.n_reps
            elif window is None or form.beta == 0.0:
                window = None
                budget = int(factor * np.count_nonzero(model.in_model))
            pricing = self.price(
                form, row_dual, grow=False, window=window, budget=budget, per_customer=per_customer
            )
            if len(pricing.inside) <= pairs:
                break  # nothing wider to try
            pairs = len(pricing.inside)
            x_cols = model.col_i >= 0
            keep = np.zeros(model.n_cols, dtype=np.bool_)
            keep[x_cols] = np.isin(model.col_key[x_cols], pricing.inside)
            take(None)
            if first and model.lex and form.beta != 0.0 and (not self.dense or tie):
                # the coverage levels were decided without the distance: first re-place the
                # customers they cover, as a plain assignment problem (far easier for the MIP)
                take(model.solve_fixed_cover(keep, best, 0.4 * share * self.seconds_left()))
            first = False
            if value - bound <= tol:
                break
            model.set_form(mip_form)
            seconds = share * self.seconds_left() * (_LNS_SHARE_MIP if lns else 1.0)
            if mip_form is not form and self.dense:
                seconds *= 0.5  # the exact MIP below proves the level from this start
            found, mip_bound, finished = model.solve_mip(keep, best, seconds)
            model.set_form(form)
            take(found)
            mip_full = mip_bound + self.constant(form) if mip_form is form else -_INF
            if mip_form is not form and self.dense and value - bound > tol:
                found, mip_bound, finished = model.solve_mip(
                    keep, best, share * self.seconds_left()
                )
                take(found)
                mip_full = mip_bound + self.constant(form)
            outside = pricing.bound + pricing.delta_out
            if min(mip_full, outside) > bound:
                bound = min(mip_full, outside)
                method = (
                    "MIP bound over the pairs kept, no pair left out able to do better"
                    if mip_full <= outside
                    else "LP bound + the least reduced cost of a pair left out of the MIP"
                )
            wider = budget is not None or per_customer < prob.n_reps
            if (
                value - bound <= tol
                or not finished
                or math.isinf(pricing.delta_out)
                or not wider
                or share * self.seconds_left() < 0.5
            ):
                break
            factor, per_customer = 2.0 * factor, min(prob.n_reps, 2 * per_customer)
            if self.params.mip_window is not None:
                break
        if lns and value - bound > tol and self.seconds_left() > 1.0:
            best = self.lns(best, y_cap_lp, self.seconds_left())
            value = self.value(form, best)
        bound = min(bound, value)
        return _Level(best, value, bound, value - bound <= tol, method)

    def lns(self, rep_of: IntArray, y_cap: FloatArray, seconds: float) -> IntArray:
        """Large-neighbourhood search on the distance (no moves): a rep and its nearest
        neighbours at a time, the new customers they hold or could take are re-placed by an
        exact small MIP, each decided level held within the neighbourhood. Reps under the
        most capacity pressure (LP dual) first; sweeps until nothing improves or time is up."""
        prob, model = self.prob, self.model
        deadline = time.perf_counter() + seconds
        rep_of = rep_of.copy()
        n_reps = prob.n_reps
        m = min(n_reps, _LNS_REPS)
        rep_d = np.stack([prob.pair_dist_rep(r) for r in range(n_reps)])
        near = np.argsort(rep_d, axis=1, kind="stable")[:, :m]
        order = np.argsort(y_cap, kind="stable")  # the most negative dual first
        new = prob.cur < 0
        x = model.col_i >= 0
        col_i, col_r = model.col_i[x], model.col_r[x]
        new_cols = new[col_i]
        col_i, col_r = col_i[new_cols], col_r[new_cols]
        # an unassigned customer is tried with the neighbourhood of its nearest model rep
        col_d = model.col_d[x][new_cols]
        nearest = np.full(prob.n, -1, dtype=np.int64)
        by_d = np.lexsort((col_d, col_i))
        first = np.ones(len(by_d), dtype=np.bool_)
        first[1:] = col_i[by_d][1:] != col_i[by_d][:-1]
        nearest[col_i[by_d][first]] = col_r[by_d][first]
        lex = [form for _, form, _ in model.lex]
        improved = True
        solved = better = 0
        while improved and time.perf_counter() < deadline - 0.1:
            improved = False
            for seed in order.tolist():
                if time.perf_counter() > deadline - 0.1:
                    break
                hood = near[seed]
                in_hood = np.zeros(n_reps, dtype=np.bool_)
                in_hood[hood] = True
                held = new & (rep_of >= 0) & in_hood[np.maximum(rep_of, 0)]
                could = new & (rep_of < 0) & (nearest >= 0) & in_hood[np.maximum(nearest, 0)]
                free = np.flatnonzero(held | could)
                if len(free) < 2:
                    continue
                found = self._neighbourhood(rep_of, free, hood, lex, deadline)
                solved += 1
                if found is not None:
                    rep_of = found
                    improved = True
                    better += 1
        log.debug("LNS: %d neighbourhoods solved, %d improved", solved, better)
        return rep_of

    def _neighbourhood(
        self,
        rep_of: IntArray,
        free: IntArray,
        hood: IntArray,
        lex: list[_Form],
        deadline: float,
    ) -> IntArray | None:
        """The best re-placement of customers ``free`` among reps ``hood`` (or None if no
        better than today's)."""
        prob, model = self.prob, self.model
        n_f, n_h = len(free), len(hood)
        d = prob.dist(free)[:, hood]
        ok = self.allowed(free)[:, hood]
        fi, hj = np.nonzero(ok)
        m = len(fi)
        if m == 0:
            return None
        current = rep_of[free]
        load = _loads(prob, rep_of)
        mine = current >= 0
        freed = np.bincount(current[mine], weights=prob.w[free][mine], minlength=prob.n_reps)
        # a rep over capacity with its own customers today has no room (and gets nobody)
        room = np.maximum(prob.cap[hood] - (load[hood] - freed[hood]), 0.0)
        lex_coef = [f.alpha[free] if f.alpha is not None else np.zeros(n_f) for f in lex]
        # columns: pairs; rows: customers, reps of the neighbourhood, decided levels
        rows = [fi, n_f + hj]
        vals = [np.ones(m), prob.w[free][fi]]
        cols = [np.arange(m), np.arange(m)]
        rhs_lex = []
        for k, coef in enumerate(lex_coef):
            nz = coef[fi] != 0
            rows.append(np.full(int(nz.sum()), n_f + n_h + k))
            vals.append(coef[fi][nz])
            cols.append(np.arange(m)[nz])
            now = float(np.sum(coef[mine]))
            rhs_lex.append(now + 1e-9 * max(1.0, abs(now)))
        all_cols = np.concatenate(cols)
        order = np.argsort(all_cols, kind="stable")
        lp = highspy.HighsLp()
        lp.num_col_ = m
        lp.num_row_ = n_f + n_h + len(lex)
        lp.col_cost_ = d[fi, hj]
        lp.col_lower_ = np.zeros(m)
        lp.col_upper_ = np.ones(m)
        must = model.must[free]
        lp.row_lower_ = np.concatenate([must.astype(np.float64), np.full(n_h + len(lex), -_HINF)])
        lp.row_upper_ = np.concatenate([np.ones(n_f), room, np.asarray(rhs_lex)])
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.searchsorted(all_cols[order], np.arange(m + 1)).astype(np.int32)
        lp.a_matrix_.index_ = np.concatenate(rows)[order].astype(np.int32)
        lp.a_matrix_.value_ = np.concatenate(vals)[order]
        lp.integrality_ = [highspy.HighsVarType.kInteger] * m
        h = highspy._Highs()  # type: ignore[attr-defined]
        h.setOptionValue("output_flag", False)
        h.setOptionValue("mip_rel_gap", 1e-6)
        h.setOptionValue("mip_feasibility_tolerance", 1e-7)
        h.setOptionValue("random_seed", int(self.params.seed))
        h.setOptionValue("time_limit", max(0.05, min(_LNS_SECONDS, deadline - time.perf_counter())))
        h.passModel(lp)
        at = {(int(a), int(b)): k for k, (a, b) in enumerate(zip(fi, hj, strict=True))}
        local_rep = {int(r): j for j, r in enumerate(hood.tolist())}
        start = np.zeros(m)
        for a, r in enumerate(current.tolist()):
            if r >= 0 and r in local_rep and (a, local_rep[r]) in at:
                start[at[(a, local_rep[r])]] = 1.0
        now_km = float(np.sum(d[fi, hj] * start))
        sol = highspy.HighsSolution()
        sol.col_value = start.tolist()
        sol.value_valid = True
        h.setSolution(sol)
        h.run()
        if h.getInfo().primal_solution_status != highspy.kSolutionStatusFeasible:
            return None
        values = np.asarray(h.getSolution().col_value) > 0.5
        if float(np.sum(d[fi, hj][values])) >= now_km - 1e-9:
            return None
        found = rep_of.copy()
        found[free] = -1
        found[free[fi[values]]] = hood[hj[values]]
        kept = load[hood] - freed[hood]  # what the neighbourhood's reps hold besides ``free``
        if not self.satisfies(found) or np.any(_loads(prob, found)[hood] - kept > room + _CAP_TOL):
            return None
        return found


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


@dataclass(slots=True)
class _Solved:
    engine: _Engine
    rep_of: IntArray
    lower: float
    method: str
    proven: bool
    priority_bound: float


def _solve(
    prob: _Problem,
    params: AssignParams,
    started: float,
    deadline: float,
    start: IntArray | None = None,
) -> _Solved:
    """The lexicographic levels of the module's docstring, solved one after the other.

    ``start`` (an assignment feasible for this problem, e.g. the zero-move solution) is the
    first candidate of the first level: what is found is never worse than it on that level.
    """
    engine = _Engine(prob, params, started)
    engine.deadline = deadline
    model = engine.model
    new = prob.is_new
    p_new = np.where(new, prob.p, 0.0)
    zero = new & (prob.p == 0)
    distance = _Form("distance", None, 1.0, 0.0)
    levels: list[tuple[_Form, bool]] = []
    if np.any(p_new > 0):
        levels.append((_Form("priority", -p_new, 0.0, 0.0), True))
    if prob.max_moves > 0 and np.any(model.overloaded):
        # after the priority: relieving today's overload never costs a new customer
        levels.append((_Form("overload", None, 0.0, 1.0), False))
    if np.any(zero):
        levels.append((_Form("zero-priority coverage", -zero.astype(np.float64), 0.0, 0.0), True))
    levels.append((distance, False))

    rep_of = np.where(prob.cur >= 0, prob.cur, -1).astype(np.int64)
    proven_all = True
    lower = 0.0
    method = "nothing to decide: every customer keeps its rep"
    priority_bound = float(p_new.sum())
    if len(engine.choosers) > 0:
        engine.seed_model()
        if start is not None:
            placed = np.flatnonzero((start >= 0) & (start != prob.cur))
            model.add_customers(placed)
            model.add_columns(placed, start[placed])
        if any(by_priority for _, by_priority in levels):
            # when a plain greedy covers them, the coverage levels are decided: their
            # customers must be covered (Σx = 1) and no MIP of theirs is needed
            guess = engine.greedy(None, None, by_priority=True)
            covered = new & (guess >= 0)
            if np.all(covered[p_new > 0]):
                model.require(np.flatnonzero(new & (p_new > 0)))
                levels = [lv for lv in levels if lv[0].name != "priority"]
                start = guess if start is None or np.any(new & (start < 0)) else start
            if np.all(covered[zero]):
                model.require(np.flatnonzero(zero))
                levels = [lv for lv in levels if not lv[0].name.startswith("zero")]
                start = guess if start is None or np.any(zero & (start < 0)) else start
        for n_level, (form, by_priority) in enumerate(levels):
            last = n_level == len(levels) - 1
            level = engine.solve_level(
                form, start, 1.0 if last else 1.0 / 3.0, by_priority=by_priority
            )
            proven_all &= level.proven
            if form.name == "priority":
                priority_bound = -level.bound
            if last:
                lower, method = level.bound, level.method
            else:
                model.add_lex_row(form, level.value + 1e-7 * max(1.0, abs(level.value)))
            start = rep_of = level.rep_of
    rep_of = _enforce_capacity(prob, rep_of, engine.notes)
    return _Solved(engine, rep_of, lower, method, proven_all, priority_bound)


def assign(
    reps: pl.DataFrame, customers: pl.DataFrame, params: AssignParams | None = None
) -> AssignmentResult:
    """Assign customers to reps (the model and the algorithm are in the module's docstring).

    ``reps``: rep_id, latitude, longitude, capacity_minutes [, region]. ``customers``:
    customer_id, latitude, longitude, workload_minutes [, rep_id, priority, region]. Raises
    ``ValueError`` on inputs that break these rules (the services check files beforehand).

    With ``max_moves`` K > 0 the zero-move solution is found first (``_ZERO_MOVE_SHARE`` of the
    time); the solution with moves starts from it, so it never covers less priority, and it
    is kept only if it does at least as well (else the zero-move solution is returned, with a
    note). A move that neither frees capacity nor cuts the shop's travel is undone.
    """
    params = params or AssignParams()
    started = time.perf_counter()
    prob = _problem(reps, customers, params.max_moves)
    deadline = started + params.time_limit_seconds
    if prob.max_moves == 0:
        solved = _solve(prob, params, started, deadline)
        return _result(prob, params, solved)
    fixed = _problem(reps, customers, 0)
    if _greedy_covers_all(fixed, params, started):
        # nothing left out without moves: moves cannot cover less, all the time goes to them
        solved = _solve(prob, params, started, deadline)
        solved.rep_of = _undo_useless_moves(prob, solved.rep_of, solved.engine.notes)
        return _result(prob, params, solved)
    share = started + _ZERO_MOVE_SHARE * params.time_limit_seconds
    baseline = _solve(fixed, params, started, share)
    solved = _solve(prob, params, started, deadline, start=baseline.rep_of)
    rep_of = _undo_useless_moves(prob, solved.rep_of, solved.engine.notes)
    solved.rep_of = rep_of
    new = prob.is_new
    covered = float(np.sum(prob.p[new & (rep_of >= 0)]))
    covered_fixed = float(np.sum(prob.p[new & (baseline.rep_of >= 0)]))
    over = float(np.sum(np.clip(_loads(prob, rep_of) - prob.cap, 0.0, None)))
    over_fixed = float(np.sum(np.clip(_loads(prob, baseline.rep_of) - prob.cap, 0.0, None)))
    if covered < covered_fixed - 1e-9 or (
        covered <= covered_fixed + 1e-9
        and over >= over_fixed - 1e-9
        and _km_total(prob, rep_of) > _km_total(prob, baseline.rep_of) + 1e-6
    ):
        baseline.engine.notes.append(
            "no move improved on the solution without moves within the time limit: none made"
        )
        baseline.engine.started = started
        return _result(fixed, params, baseline)
    return _result(prob, params, solved)


def _greedy_covers_all(prob: _Problem, params: AssignParams, started: float) -> bool:
    """Does a plain greedy, without moves, place every new customer of priority > 0?"""
    engine = _Engine(prob, params, started)
    if len(engine.new_idx) == 0:
        return True
    engine.seed_model()
    guess = engine.greedy(None, None, by_priority=True)
    new = prob.is_new
    return bool(np.all(guess[new & (prob.p > 0)] >= 0))


def _km_total(prob: _Problem, rep_of: IntArray) -> float:
    on = np.flatnonzero(rep_of >= 0)
    return float(np.sum(prob.pair_dist(on, rep_of[on])))


def _undo_useless_moves(prob: _Problem, rep_of: IntArray, notes: list[str]) -> IntArray:
    """A moved shop goes back to its previous rep when that rep has room for it again and the
    move did not cut its travel: every move left frees capacity or shortens a trip."""
    rep_of = rep_of.copy()
    moved = np.flatnonzero((prob.cur >= 0) & (rep_of >= 0) & (rep_of != prob.cur))
    if len(moved) == 0:
        return rep_of
    gain = prob.pair_dist(moved, prob.cur[moved]) - prob.pair_dist(moved, rep_of[moved])
    load = _loads(prob, rep_of)
    undone = 0
    for k in np.argsort(gain, kind="stable").tolist():  # the moves that added most travel first
        i = int(moved[k])
        back, now = int(prob.cur[i]), int(rep_of[i])
        if gain[k] <= 1e-9 and load[back] + prob.w[i] <= prob.cap[back] + _CAP_TOL:
            rep_of[i] = back
            load[back] += prob.w[i]
            load[now] -= prob.w[i]
            undone += 1
    if undone:
        notes.append(f"{undone} move(s) that neither freed capacity nor cut travel undone")
    return rep_of


def _result(prob: _Problem, params: AssignParams, solved: _Solved) -> AssignmentResult:
    engine, rep_of, lower = solved.engine, solved.rep_of, solved.lower
    method, proven, priority_bound = solved.method, solved.proven, solved.priority_bound
    new, old = prob.is_new, ~prob.is_new
    on = rep_of >= 0
    d_all = np.full(prob.n, np.nan)
    d_all[on] = prob.pair_dist(np.flatnonzero(on), rep_of[on])
    total_km = float(np.nansum(d_all))
    fixed_km = float(np.nansum(d_all[old])) if prob.max_moves == 0 else 0.0
    lower_km = min(lower, total_km) if len(engine.choosers) else total_km
    excess = total_km - lower_km
    decided = lower_km - fixed_km
    gap = 0.0 if excess <= 1e-9 else (excess / decided if decided > 1e-12 else _INF)
    load = _loads(prob, rep_of)
    today = prob.existing_load()
    notes = list(engine.notes)
    overloaded = np.flatnonzero(engine.model.overloaded)  # reported as overloaded_today
    unassigned = int(np.sum(new & ~on))
    if unassigned:
        notes.append(f"{unassigned:,} new customer(s) left unassigned for lack of capacity")
    covered = float(np.sum(prob.p[new & on]))
    objective = AssignObjective(
        distance_km=total_km,
        fixed_km=fixed_km,
        priority_covered=covered,
        priority_total=float(np.sum(prob.p[new])),
        priority_bound=max(priority_bound, covered),
        customers_covered=int(np.sum(new & on)),
        customers_new=int(new.sum()),
        overload_minutes=float(np.sum(np.clip(load - prob.cap, 0.0, None))),
    )
    rep_names = pl.Series("rep_id", prob.rep_ids, dtype=pl.String)
    d_prev = np.full(prob.n, np.nan)
    d_prev[old] = prob.pair_dist(np.flatnonzero(old), prob.cur[old])
    assignments = pl.DataFrame(
        {
            "customer_id": prob.cust_ids,
            "rep_id": rep_names.gather(np.maximum(rep_of, 0)).scatter(np.flatnonzero(~on), None),
            "previous_rep_id": prob.previous,
            "distance_km": pl.Series("distance_km", d_all, dtype=pl.Float64).fill_nan(None),
            "previous_distance_km": pl.Series(d_prev, dtype=pl.Float64).fill_nan(None),
            "distance_change_km": pl.Series(d_all - d_prev, dtype=pl.Float64).fill_nan(None),
            "move_reason": _move_reasons(prob, rep_of, d_all, d_prev, engine.model.overloaded),
        }
    )
    loads = pl.DataFrame(
        {
            "rep_id": rep_names,
            "capacity_minutes": prob.cap,
            "load_today_minutes": today,
            "load_minutes": load,
            "customers": np.bincount(rep_of[on], minlength=prob.n_reps).astype(np.int64),
            "new_customers": np.bincount(rep_of[on & new], minlength=prob.n_reps).astype(np.int64),
        }
    )
    return AssignmentResult(
        assignments=assignments,
        loads=loads,
        objective=objective,
        lower_bound=lower_km,
        bound_method=method,
        gap=gap,
        optimal=proven and gap <= max(params.gap_tolerance, 1e-9),
        moves=int(np.sum(old & (rep_of != prob.cur))),
        unassigned=unassigned,
        overloaded_reps=tuple(prob.rep_ids[r] for r in np.flatnonzero(load > prob.cap + _CAP_TOL)),
        seconds=time.perf_counter() - engine.started,
        notes=tuple(notes),
        overloaded_today=tuple(prob.rep_ids[r] for r in overloaded),
    )


def _move_reasons(
    prob: _Problem,
    rep_of: IntArray,
    d_new: FloatArray,
    d_prev: FloatArray,
    overloaded: BoolArray,
) -> pl.Series:
    """Why each moved shop moved (null for the others), in a manager's words."""
    moved = (prob.cur >= 0) & (rep_of >= 0) & (rep_of != prob.cur)
    reasons: list[str | None] = [None] * prob.n
    for i in np.flatnonzero(moved).tolist():
        before = prob.rep_ids[int(prob.cur[i])]
        minutes = f"{prob.w[i]:,.0f} min"
        if overloaded[prob.cur[i]]:
            why = f"frees {minutes} of {before}, over capacity today"
        else:
            why = f"frees {minutes} of {before} for new customers"
        if d_new[i] < d_prev[i] - 1e-9:
            reasons[i] = f"cuts travel by {d_prev[i] - d_new[i]:,.1f} km and {why}"
        else:
            reasons[i] = f"{why}; {d_new[i] - d_prev[i]:,.1f} km farther from its new rep"
    return pl.Series("move_reason", reasons, dtype=pl.String)


def _enforce_capacity(prob: _Problem, rep_of: IntArray, notes: list[str]) -> IntArray:
    """Safety net against solver tolerances: a rep over capacity (beyond ``_CAP_TOL``) that
    received customers gives back the farthest of them."""
    rep_of = rep_of.copy()
    load = _loads(prob, rep_of)
    undone = 0
    for r in np.flatnonzero(load > prob.cap + _CAP_TOL).tolist():
        mine = np.flatnonzero((rep_of == r) & (prob.cur != r))
        far = mine[np.argsort(-prob.pair_dist(mine, np.full(len(mine), r)))]
        for i in far.tolist():
            if load[r] <= prob.cap[r] + _CAP_TOL:
                break
            back = int(prob.cur[i])
            rep_of[i] = back
            if back >= 0:
                load[back] += prob.w[i]
            load[r] -= prob.w[i]
            undone += 1
    if undone:
        notes.append(f"{undone} assignment(s) undone to keep every rep within capacity")
    return rep_of


__all__ = ["AssignObjective", "AssignParams", "AssignmentResult", "assign", "haversine_km"]
