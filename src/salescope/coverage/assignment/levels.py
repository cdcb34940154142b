"""One lexicographic level of the assignment: LP, greedy start, MIPs over the best pairs."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from salescope.coverage.assignment.highs import _Form
from salescope.coverage.assignment.pricing import _Pricing
from salescope.coverage.assignment.problem import (
    _INF,
    _LNS_SHARE_MIP,
    _MIP_PAIRS_PER_CUSTOMER,
    _MIP_PER_CUSTOMER,
    _TIE_BREAK_DENSE_PAIRS,
    FloatArray,
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


class _Incumbent:
    """The best assignment of a level so far, and the model's pairs a MIP starts from."""

    def __init__(self, engine: _Searcher, form: _Form, best: IntArray) -> None:
        self.engine = engine
        self.form = form
        self.best = best
        self.value = engine.value(form, best)
        self.keep = np.zeros(engine.model.n_cols, dtype=np.bool_)

    def take(self, found: IntArray | None) -> None:
        """Keep ``found`` when it holds the levels decided and is no worse; the incumbent's
        pairs are kept for the next MIP."""
        engine, model = self.engine, self.engine.model
        if found is not None and engine.satisfies(found):
            found_value = engine.value(self.form, found)
            if found_value <= self.value:
                self.best, self.value = found, found_value
        x_cols = model.col_i >= 0
        if len(self.keep) < model.n_cols:
            grown = np.zeros(model.n_cols - len(self.keep), dtype=np.bool_)
            self.keep = np.concatenate([self.keep, grown])
        self.keep[x_cols] |= self.best[model.col_i[x_cols]] == model.col_r[x_cols]


@dataclass
class _Rounds:
    """The MIP rounds of a level: the MIP's pairs are the few best of each customer by LP
    reduced cost (every pair on a small instance), widened while the MIP proves its optimum
    early."""

    engine: _Searcher
    form: _Form
    mip_form: _Form  # the form the MIP optimises (with a tie-break on coverage levels)
    inc: _Incumbent
    row_dual: FloatArray
    bound: float
    method: str
    tol: float
    share: float
    tie: bool
    lns: bool
    factor: float = _MIP_PAIRS_PER_CUSTOMER
    per_customer: int = _MIP_PER_CUSTOMER
    first: bool = True
    pairs: int = -1

    def run(self) -> None:
        while self.round():
            pass

    def window(self) -> tuple[float | None, int | None]:
        """The reduced-cost window, or the number of pairs, of this round's MIP."""
        engine, form = self.engine, self.form
        window = engine.params.mip_window
        budget: int | None = None
        if engine.dense:
            window, self.per_customer = _INF, engine.prob.n_reps
        elif window is None or form.beta == 0.0:
            window = None
            budget = int(self.factor * np.count_nonzero(engine.model.in_model))
        return window, budget

    def round(self) -> bool:
        """One round: the pairs, a start, the MIPs; whether to try again with more pairs."""
        engine, model, form, inc = self.engine, self.engine.model, self.form, self.inc
        window, budget = self.window()
        pricing = engine.price(
            form,
            self.row_dual,
            grow=False,
            window=window,
            budget=budget,
            per_customer=self.per_customer,
        )
        if len(pricing.inside) <= self.pairs:
            return False  # nothing wider to try
        self.pairs = len(pricing.inside)
        x_cols = model.col_i >= 0
        inc.keep = np.zeros(model.n_cols, dtype=np.bool_)
        inc.keep[x_cols] = np.isin(model.col_key[x_cols], pricing.inside)
        inc.take(None)
        if self.first and model.lex and form.beta != 0.0 and (not engine.dense or self.tie):
            # the coverage levels were decided without the distance: first re-place the
            # customers they cover, as a plain assignment problem (far easier for the MIP)
            seconds = 0.4 * self.share * engine.seconds_left()
            inc.take(model.solve_fixed_cover(inc.keep, inc.best, seconds))
        self.first = False
        if inc.value - self.bound <= self.tol:
            return False
        finished = self.solve_mips(pricing)
        wider = budget is not None or self.per_customer < engine.prob.n_reps
        if (
            inc.value - self.bound <= self.tol
            or not finished
            or math.isinf(pricing.delta_out)
            or not wider
            or self.share * engine.seconds_left() < 0.5
        ):
            return False
        self.factor = 2.0 * self.factor
        self.per_customer = min(engine.prob.n_reps, 2 * self.per_customer)
        return engine.params.mip_window is None

    def solve_mips(self, pricing: _Pricing) -> bool:
        """The round's MIP (and, on a small instance with a tie-break, the exact one after
        it); the bound they prove. Whether the last MIP finished."""
        engine, model, form, inc = self.engine, self.engine.model, self.form, self.inc
        model.set_form(self.mip_form)
        seconds = self.share * engine.seconds_left() * (_LNS_SHARE_MIP if self.lns else 1.0)
        if self.mip_form is not form and engine.dense:
            seconds *= 0.5  # the exact MIP below proves the level from this start
        found, mip_bound, finished = model.solve_mip(inc.keep, inc.best, seconds)
        model.set_form(form)
        inc.take(found)
        mip_full = mip_bound + engine.constant(form) if self.mip_form is form else -_INF
        if self.mip_form is not form and engine.dense and inc.value - self.bound > self.tol:
            found, mip_bound, finished = model.solve_mip(
                inc.keep, inc.best, self.share * engine.seconds_left()
            )
            inc.take(found)
            mip_full = mip_bound + engine.constant(form)
        outside = pricing.bound + pricing.delta_out
        if min(mip_full, outside) > self.bound:
            self.bound = min(mip_full, outside)
            self.method = (
                "MIP bound over the pairs kept, no pair left out able to do better"
                if mip_full <= outside
                else "LP bound + the least reduced cost of a pair left out of the MIP"
            )
        return bool(finished)


class _Engine(_Searcher):
    """One lexicographic level at a time: column generation, greedy start, MIPs over the best
    pairs, search."""

    def solve_level(
        self, form: _Form, start: IntArray | None, share: float, *, by_priority: bool
    ) -> _Level:
        """Optimise ``form`` under the levels decided; its MIPs take ``share`` of the time
        left."""
        bound, row_dual, values = self.column_generation(form)
        candidates = [] if start is None else [start]
        guess = self.greedy(row_dual, values, by_priority=by_priority)
        if self.satisfies(guess):
            candidates.append(guess)
        if not candidates:  # pragma: no cover - the previous level's solution qualifies
            raise RuntimeError("no assignment holds the levels decided")
        inc = _Incumbent(self, form, min(candidates, key=lambda c: self.value(form, c)))
        log.debug(
            "level %s: bound %.6g, starts %s",
            form.name,
            bound,
            ", ".join(f"{self.value(form, c):.6g}" for c in candidates),
        )
        tol = max(self.params.gap_tolerance * max(1.0, abs(inc.value)), 1e-9)
        method = (
            "full LP relaxation (Lagrangian at its duals)"
            if self.converged
            else "Lagrangian at the LP duals"
        )
        if inc.value - bound <= tol:
            return _Level(inc.best, inc.value, bound, True, method)
        # a coverage level of a large instance carries the distance as a tie-break, so that
        # the customers it covers are near their reps (the distance level could hardly change
        # the covered set afterwards); small instances are solved exactly, level by level
        coverage = form.beta == 0.0 and form.alpha is not None
        # (a small dense level needs none: its distance level is solved exactly, quickly)
        tie = (form.beta != 0.0 or coverage) and (
            not self.dense or self.model.n_cols > _TIE_BREAK_DENSE_PAIRS
        )
        # large distance levels without moves end with a neighbourhood search
        lns = form.beta != 0.0 and self.prob.max_moves == 0
        rounds = _Rounds(
            engine=self,
            form=form,
            mip_form=self.tie_break(form) if tie and coverage else form,
            inc=inc,
            row_dual=row_dual,
            bound=bound,
            method=method,
            tol=tol,
            share=share,
            tie=tie,
            lns=lns,
        )
        y_cap_lp = self.duals(row_dual)[0]
        rounds.run()
        best, value, bound = inc.best, inc.value, rounds.bound
        if lns and value - bound > tol and self.seconds_left() > 1.0:
            best = self.lns(best, y_cap_lp, self.seconds_left())
            value = self.value(form, best)
        bound = min(bound, value)
        return _Level(best, value, bound, value - bound <= tol, rounds.method)
