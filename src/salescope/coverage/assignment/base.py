"""The state of one solve of the assignment and what every part of the algorithm shares."""

from __future__ import annotations

import time

import numpy as np

from salescope.coverage.assignment.highs import _Form, _Model
from salescope.coverage.assignment.problem import (
    _BLOCK_CELLS,
    _CAP_TOL,
    _INF,
    _TIE_BREAK,
    AssignParams,
    BoolArray,
    FloatArray,
    IntArray,
    _loads,
    _Problem,
)


# -- the engine ---------------------------------------------------------------------------------
class _EngineBase:
    """The state of one solve: the problem, the HiGHS model, the time left; the pairs a
    customer may take and the value of an assignment."""

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
