"""Column generation: pricing every allowed pair against the LP duals, and the Lagrangian bound."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

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


@dataclass(slots=True)
class _Duals:
    """The costs of a level and the LP duals a pricing sweep prices pairs with."""

    alpha: FloatArray  # cost per customer assigned (levels dualised)
    beta: float  # cost per km
    y_cap: FloatArray  # capacity duals
    y_mv: float  # moves dual
    y_assign: FloatArray  # assignment-row duals of the customers in the model
    eps: float  # reduced costs below -eps are negative


@dataclass(slots=True)
class _Sweep:
    """What a pricing sweep over the customers' blocks gathers."""

    duals: _Duals
    grow: bool
    mip: bool
    per_customer: int
    bound: float = 0.0
    new_i: list[IntArray] = field(default_factory=list)
    new_r: list[IntArray] = field(default_factory=list)
    activate: list[IntArray] = field(default_factory=list)
    got: list[tuple[IntArray, IntArray, FloatArray, FloatArray]] = field(default_factory=list)
    delta_rest: float = _INF


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
        alpha, beta, over = self._level_costs(form, y_lex)
        rows = model.assign_row
        y_assign = np.zeros(prob.n)
        y_assign[rows >= 0] = row_dual[rows[rows >= 0]]
        scale = max(1.0, float(np.max(np.abs(alpha), initial=0.0)), abs(beta) * 100.0)
        acc = _Sweep(
            duals=_Duals(alpha, beta, y_cap, y_mv, y_assign, _EPS_RC * scale),
            grow=grow,
            mip=window is not None or budget is not None,
            per_customer=per_customer,
        )
        for block in self.blocks(self.choosers):
            self._price_block(block, acc)
        added = self._grow_model(acc)
        bound = acc.bound + self._bound_rest(beta, over, y_cap, y_mv, y_lex)
        inside = np.zeros(0, dtype=np.int64)
        delta_out = _INF
        if acc.mip and acc.got:
            more, inside, delta_out = self._mip_pairs(acc, window, budget)
            added += more
        return _Pricing(bound=bound, added=added, inside=inside, delta_out=delta_out)

    def _level_costs(self, form: _Form, y_lex: list[float]) -> tuple[FloatArray, float, float]:
        """The level's costs (per customer, per km, per minute of overload) with the decided
        levels' rows dualised."""
        alpha = np.zeros(self.prob.n) if form.alpha is None else form.alpha.copy()
        beta, over = form.beta, form.over
        for y, (_, lex_form, _) in zip(y_lex, self.model.lex, strict=True):
            if lex_form.alpha is not None:
                alpha -= y * lex_form.alpha
            beta -= y * lex_form.beta
            over -= y * lex_form.over
        return alpha, beta, over

    def _price_block(self, block: IntArray, acc: _Sweep) -> None:
        """Price the pairs of the customers ``block``: their share of the bound, the pairs to
        add, the customers to activate and the MIP's candidates."""
        prob, model, du = self.prob, self.model, acc.duals
        n_b = len(block)
        at = np.arange(n_b)
        d = prob.dist(block)
        ok = self.allowed(block)
        cur = prob.cur[block]
        own = np.flatnonzero(cur >= 0)
        price = du.alpha[block, None] + du.beta * d - du.y_cap[None, :] * prob.w[block, None]
        if du.y_mv != 0.0:
            price -= du.y_mv * ((cur[:, None] >= 0) & (cur[:, None] != self.reps_range[None, :]))
        price = np.where(ok, price, _INF)
        best = price.min(axis=1)
        free = (cur < 0) & ~model.must[block]
        best[free] = np.minimum(best[free], 0.0)  # a new customer may stay unassigned
        acc.bound += float(best.sum())
        inm = model.assign_row[block] >= 0
        rc = np.where(inm[:, None], price - du.y_assign[block, None], _INF)
        if acc.grow:
            neg = rc < -du.eps
            if np.any(neg):
                ii, rr = _best_per_row(np.where(neg, rc, _INF), _NEW_COLUMNS_PER_ROUND)
                acc.new_i.append(block[ii])
                acc.new_r.append(rr)
            out = ~inm & (cur >= 0)
            if prob.max_moves > 0 and np.any(out):
                stay = price[at, np.maximum(cur, 0)]
                moving = price.copy()
                moving[at, np.maximum(cur, 0)] = _INF
                worth = out & (moving.min(axis=1) < stay - du.eps)
                if np.any(worth):
                    acc.activate.append(block[worth])
        if acc.mip:
            rcm = np.where(inm[:, None] & ok, rc, _INF)
            # coverage levels have many ties: the nearest reps win them
            rank = rcm + 1e-7 * np.minimum(d, 1e5) if du.beta == 0.0 else rcm
            ti, tr = _best_per_row(rank, min(acc.per_customer, prob.n_reps))
            delta = price - best[:, None]
            acc.got.append((block[ti], tr, rank[ti, tr], delta[ti, tr]))
            rest = np.where(ok, delta, _INF)
            rest[ti, tr] = _INF
            rest[own, cur[own]] = _INF  # staying is never left out
            if rest.size:
                acc.delta_rest = min(acc.delta_rest, float(rest.min()))

    def _grow_model(self, acc: _Sweep) -> int:
        """Add the customers worth moving and the pairs of negative reduced cost; how many."""
        prob, model = self.prob, self.model
        added = 0
        if acc.activate:
            fresh = np.concatenate(acc.activate)
            model.add_customers(fresh)
            added += len(fresh)
            ii, rr = self.nearest_pairs(
                fresh, min(self.params.candidates_per_customer, prob.n_reps)
            )
            acc.new_i.append(ii)
            acc.new_r.append(rr)
        if acc.new_i:
            added += model.add_columns(np.concatenate(acc.new_i), np.concatenate(acc.new_r))
        return added

    def _bound_rest(
        self, beta: float, over: float, y_cap: FloatArray, y_mv: float, y_lex: list[float]
    ) -> float:
        """The Lagrangian bound's terms outside the choosers' pairs: the customers that keep
        their rep, the dualised right-hand sides and the overload."""
        prob, model = self.prob, self.model
        bound = 0.0
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
        return bound

    def _mip_pairs(
        self, acc: _Sweep, window: float | None, budget: int | None
    ) -> tuple[int, IntArray, float]:
        """The MIP's pairs (reduced cost within ``window``, or the ``budget`` best) added to
        the model: how many were added, their keys, and the least Lagrangian reduced cost of
        a pair left out."""
        prob = self.prob
        gi = np.concatenate([g[0] for g in acc.got])
        gr = np.concatenate([g[1] for g in acc.got])
        grc = np.concatenate([g[2] for g in acc.got])
        gdelta = np.concatenate([g[3] for g in acc.got])
        if window is None:
            assert budget is not None
            window = _INF
            if 0 < budget < len(grc):
                window = max(float(np.partition(grc, budget - 1)[budget - 1]), 1e-9)
        chosen = grc <= window
        added = self.model.add_columns(gi[chosen], gr[chosen])
        inside = gi[chosen] * prob.n_reps + gr[chosen]
        left_out = gdelta[~chosen]
        delta_out = min(acc.delta_rest, float(left_out.min()) if len(left_out) else _INF)
        log.debug("MIP pairs: %d (window %.4g)", int(chosen.sum()), window)
        return added, inside, delta_out

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
