"""The HiGHS model of the assignment over a restricted set of customer-rep pairs: LP and MIP."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import highspy
import numpy as np

from salescope.coverage.assignment.problem import (
    _CAP_TOL,
    _HINF,
    _INF,
    AssignParams,
    BoolArray,
    FloatArray,
    IntArray,
    _loads,
    _Problem,
)

log = logging.getLogger(__name__)


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
