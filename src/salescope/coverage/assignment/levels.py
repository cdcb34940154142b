"""One lexicographic level of the assignment: LP, greedy start, MIPs over the best pairs."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from salescope.coverage.assignment.highs import _Form
from salescope.coverage.assignment.problem import (
    _INF,
    _LNS_SHARE_MIP,
    _MIP_PAIRS_PER_CUSTOMER,
    _MIP_PER_CUSTOMER,
    _TIE_BREAK_DENSE_PAIRS,
    IntArray,
)
from salescope.coverage.assignment.search import _Searcher

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Level:
    rep_of: IntArray
    value: float
    bound: float
    proven: bool
    method: str


class _Engine(_Searcher):
    """One lexicographic level at a time: column generation, greedy start, MIPs over the best
    pairs, search."""

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
