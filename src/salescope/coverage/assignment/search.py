"""Primal solutions of the assignment: the LP-guided greedy and the large-neighbourhood search."""

from __future__ import annotations

import logging
import time

import highspy
import numpy as np

from salescope.coverage.assignment.highs import _Form
from salescope.coverage.assignment.pricing import _Pricer
from salescope.coverage.assignment.problem import (
    _CAP_TOL,
    _HINF,
    _INF,
    _LNS_REPS,
    _LNS_SECONDS,
    BoolArray,
    FloatArray,
    IntArray,
    _loads,
)

log = logging.getLogger(__name__)


class _Searcher(_Pricer):
    """Primal solutions: the LP-guided greedy and the large-neighbourhood search."""

    # ---- primal
    def greedy(
        self, row_dual: FloatArray | None, values: FloatArray | None, *, by_priority: bool
    ) -> IntArray:
        """Existing customers stay; a new customer whose LP assignment is integral takes that
        rep if it has room; the others — by priority (when asked), then regret — take the
        cheapest rep with room (distance + capacity price × workload), else the nearest allowed
        rep with room, else none."""
        prob = self.prob
        y_cap = np.zeros(prob.n_reps) if row_dual is None else self.duals(row_dual)[0]
        rep_of = np.where(prob.cur >= 0, prob.cur, -1).astype(np.int64)
        left = prob.cap - _loads(prob, rep_of)
        ci, cr, cv, adj = self._greedy_columns(y_cap, values)
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
                choice = next((int(r) for r in cr[s:e] if left[r] >= w[i] - _CAP_TOL), -1)
            if choice >= 0:
                rep_of[i] = choice
                left[choice] -= w[i]
            else:
                stranded.append(i)
        if stranded:
            self._place_stranded(np.asarray(stranded, dtype=np.int64), rep_of, left)
        return rep_of

    def _greedy_columns(
        self, y_cap: FloatArray, values: FloatArray | None
    ) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
        """The model's pairs of new customers (customer, rep, LP value, distance + capacity
        price × workload), by customer and then by that cost."""
        prob, model = self.prob, self.model
        x = (model.col_i >= 0) & (prob.cur[np.maximum(model.col_i, 0)] < 0)
        ci, cr, cd = model.col_i[x], model.col_r[x], model.col_d[x]
        if values is None or len(values) < model.n_cols:
            cv = np.zeros(len(ci))
        else:
            cv = values[: model.n_cols][x]
        adj = cd - y_cap[cr] * prob.w[ci]
        order = np.lexsort((adj, ci))
        return ci[order], cr[order], cv[order], adj[order]

    def _place_stranded(self, idx: IntArray, rep_of: IntArray, left: FloatArray) -> None:
        """Customers none of whose model pairs had room: the nearest allowed rep with room,
        else none (``rep_of`` and ``left`` are updated; the pairs join the model)."""
        prob, w = self.prob, self.prob.w
        for block in self.blocks(idx):
            d = np.where(self.allowed(block), prob.dist(block), _INF)
            for row, i in enumerate(block.tolist()):
                dd = np.where(left >= w[i] - _CAP_TOL, d[row], _INF)
                r = int(np.argmin(dd))
                if np.isfinite(dd[r]):
                    rep_of[i] = r
                    left[r] -= w[i]
        placed = idx[rep_of[idx] >= 0]
        self.model.add_columns(placed, rep_of[placed])

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
        n_f = len(free)
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
        lp = _neighbourhood_lp(
            d[fi, hj], fi, hj, prob.w[free], model.must[free], room, lex_coef, mine
        )
        at = {(int(a), int(b)): k for k, (a, b) in enumerate(zip(fi, hj, strict=True))}
        local_rep = {int(r): j for j, r in enumerate(hood.tolist())}
        start = np.zeros(m)
        for a, r in enumerate(current.tolist()):
            if r >= 0 and r in local_rep and (a, local_rep[r]) in at:
                start[at[(a, local_rep[r])]] = 1.0
        now_km = float(np.sum(d[fi, hj] * start))
        seconds = max(0.05, min(_LNS_SECONDS, deadline - time.perf_counter()))
        values = _run_mip(lp, start, int(self.params.seed), seconds)
        if values is None or float(np.sum(d[fi, hj][values])) >= now_km - 1e-9:
            return None
        found = rep_of.copy()
        found[free] = -1
        found[free[fi[values]]] = hood[hj[values]]
        kept = load[hood] - freed[hood]  # what the neighbourhood's reps hold besides ``free``
        if not self.satisfies(found) or np.any(_loads(prob, found)[hood] - kept > room + _CAP_TOL):
            return None
        return found


def _neighbourhood_lp(
    cost: FloatArray,
    fi: IntArray,
    hj: IntArray,
    w: FloatArray,
    must: BoolArray,
    room: FloatArray,
    lex_coef: list[FloatArray],
    mine: BoolArray,
) -> highspy.HighsLp:
    """The neighbourhood's MIP: columns are the pairs (customer ``fi``, rep ``hj``); rows the
    customers (at most one rep; exactly one when ``must``), the reps' room and the decided
    levels (held at their value today: ``mine``, the customers placed today)."""
    n_f, n_h, m = len(w), len(room), len(fi)
    rows = [fi, n_f + hj]
    vals = [np.ones(m), w[fi]]
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
    lp.num_row_ = n_f + n_h + len(lex_coef)
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(m)
    lp.col_upper_ = np.ones(m)
    lp.row_lower_ = np.concatenate([must.astype(np.float64), np.full(n_h + len(lex_coef), -_HINF)])
    lp.row_upper_ = np.concatenate([np.ones(n_f), room, np.asarray(rhs_lex)])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.searchsorted(all_cols[order], np.arange(m + 1)).astype(np.int32)
    lp.a_matrix_.index_ = np.concatenate(rows)[order].astype(np.int32)
    lp.a_matrix_.value_ = np.concatenate(vals)[order]
    lp.integrality_ = [highspy.HighsVarType.kInteger] * m
    return lp


def _run_mip(lp: highspy.HighsLp, start: FloatArray, seed: int, seconds: float) -> BoolArray | None:
    """Solve a small MIP from ``start``: the columns at one, or None without a solution."""
    h = highspy._Highs()  # type: ignore[attr-defined]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 1e-6)
    h.setOptionValue("mip_feasibility_tolerance", 1e-7)
    h.setOptionValue("random_seed", seed)
    h.setOptionValue("time_limit", seconds)
    h.passModel(lp)
    sol = highspy.HighsSolution()
    sol.col_value = start.tolist()
    sol.value_valid = True
    h.setSolution(sol)
    h.run()
    if h.getInfo().primal_solution_status != highspy.kSolutionStatusFeasible:
        return None
    return np.asarray(h.getSolution().col_value) > 0.5
