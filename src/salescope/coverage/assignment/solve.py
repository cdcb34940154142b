"""``assign``: the lexicographic levels solved one after the other, and the result."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import polars as pl

from salescope.coverage.assignment.highs import _Form
from salescope.coverage.assignment.levels import _Engine
from salescope.coverage.assignment.problem import (
    _CAP_TOL,
    _INF,
    _ZERO_MOVE_SHARE,
    AssignmentResult,
    AssignObjective,
    AssignParams,
    BoolArray,
    FloatArray,
    IntArray,
    _loads,
    _Problem,
    _problem,
)


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
