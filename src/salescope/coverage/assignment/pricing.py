"""Column generation: pricing every allowed pair against the LP duals, and the Lagrangian bound."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from salescope.coverage.assignment.base import _EngineBase
from salescope.coverage.assignment.highs import _Form
from salescope.coverage.assignment.problem import (
    _EPS_RC,
    _INF,
    _MAX_PRICING_ROUNDS,
    _MIP_PER_CUSTOMER,
    _NEW_COLUMNS_PER_ROUND,
    FloatArray,
    IntArray,
    _best_per_row,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Pricing:
    bound: float  # Lagrangian bound of the whole problem at these duals
    added: int  # columns (or customers) added to the model
    inside: IntArray  # keys of the pairs chosen for the MIP
    delta_out: float  # smallest Lagrangian reduced cost of a pair outside them


class _Pricer(_EngineBase):
    """Column generation: every allowed pair priced against the LP duals, the model grown
    until the restricted LP is the full LP."""

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
