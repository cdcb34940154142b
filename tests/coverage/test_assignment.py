"""Rep assignment: capacity, kept reps, moves, priority, regions, optimality, bound and the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp
from tests.cli_runner import run

from salescope.coverage.assignment import AssignmentResult, AssignParams, assign

R_EARTH = 6371.0088


# -- helpers -----------------------------------------------------------------------------------
def km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle km, written here independently of the engine."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    h = (
        np.sin((p2 - p1) / 2) ** 2
        + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    )
    return np.asarray(2 * R_EARTH * np.arcsin(np.sqrt(np.clip(h, 0, 1))))


def reps_frame(
    rows: list[tuple[str, float, float, float]], regions: list[str | None] | None = None
) -> pl.DataFrame:
    frame = pl.DataFrame(
        rows, schema=["rep_id", "latitude", "longitude", "capacity_minutes"], orient="row"
    )
    if regions is not None:
        frame = frame.with_columns(pl.Series("region", regions, dtype=pl.String))
    return frame


def customers_frame(
    rows: list[tuple[str, float, float, float, str | None]],
    priority: list[float] | None = None,
    regions: list[str | None] | None = None,
) -> pl.DataFrame:
    frame = pl.DataFrame(
        rows,
        schema={
            "customer_id": pl.String,
            "latitude": pl.Float64,
            "longitude": pl.Float64,
            "workload_minutes": pl.Float64,
            "rep_id": pl.String,
        },
        orient="row",
    )
    if priority is not None:
        frame = frame.with_columns(pl.Series("priority", priority, dtype=pl.Float64))
    if regions is not None:
        frame = frame.with_columns(pl.Series("region", regions, dtype=pl.String))
    return frame


def random_instance(
    seed: int, n: int = 30, n_reps: int = 4, existing: int = 8, tight: float = 0.8
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Customers around a small area, unequal workloads and priorities 1–3, the first
    ``existing`` of them with a rep; capacities about ``tight`` × the total workload."""
    rng = np.random.default_rng(seed)
    rep_ids = [f"r{k}" for k in range(n_reps)]
    w = rng.choice([10.0, 15.0, 20.0, 30.0, 45.0, 60.0], n) + rng.uniform(0, 5, n).round(1)
    cap = rng.uniform(0.6, 1.4, n_reps)
    cap = (cap / cap.sum() * tight * w.sum()).round(1)
    reps = reps_frame(
        list(
            zip(
                rep_ids,
                rng.uniform(45.0, 46.0, n_reps).tolist(),
                rng.uniform(9.0, 10.5, n_reps).tolist(),
                cap.tolist(),
                strict=True,
            )
        )
    )
    current = [rep_ids[int(rng.integers(n_reps))] if k < existing else None for k in range(n)]
    customers = customers_frame(
        list(
            zip(
                [f"c{k:02d}" for k in range(n)],
                rng.uniform(45.0, 46.0, n).tolist(),
                rng.uniform(9.0, 10.5, n).tolist(),
                w.tolist(),
                current,
                strict=True,
            )
        ),
        priority=rng.choice([1.0, 2.0, 3.0], n).tolist(),
    )
    return reps, customers


def _allowed(
    reps: pl.DataFrame,
    customers: pl.DataFrame,
    cur: np.ndarray,
    over: np.ndarray,
    max_moves: int,
) -> np.ndarray:
    """Customers × reps: the pair may be chosen (same region, rep not overloaded today, an
    existing customer keeps its rep unless moves are allowed)."""
    n, n_reps = customers.height, reps.height
    old = cur >= 0
    allowed = np.ones((n, n_reps), dtype=bool)
    allowed[:, over] = False
    if "region" in customers.columns and "region" in reps.columns:
        cr = np.array(customers["region"].to_list(), dtype=object)
        rr = np.array(reps["region"].to_list(), dtype=object)
        for i in range(n):
            for r in range(n_reps):
                if cr[i] is not None and rr[r] is not None and cr[i] != rr[r]:
                    allowed[i, r] = False
    for i in np.flatnonzero(old):
        if max_moves == 0:
            allowed[i, :] = False
        allowed[i, cur[i]] = True
    return allowed


def _rows(
    n_reps: int,
    nv: int,
    n_o: int,
    cur: np.ndarray,
    w: np.ndarray,
    cap: np.ndarray,
    over: np.ndarray,
    max_moves: int,
) -> tuple[list[np.ndarray], list[float], list[float]]:
    """The constraint rows (one rep per customer, capacity, moves) with their bounds."""
    n = len(cur)
    nx = n * n_reps
    old = cur >= 0
    rows: list[np.ndarray] = []
    lo: list[float] = []
    hi: list[float] = []
    for i in range(n):
        a = np.zeros(nv)
        a[i * n_reps : (i + 1) * n_reps] = 1
        rows.append(a)
        lo.append(1.0 if old[i] else 0.0)
        hi.append(1.0)
    for r in range(n_reps):
        if max_moves == 0 and over[r]:
            continue
        a = np.zeros(nv)
        a[r:nx:n_reps] = w
        if n_o:
            a[nx + r] = -1.0
        rows.append(a)
        lo.append(-np.inf)
        hi.append(cap[r])
    if max_moves > 0:
        a = np.zeros(nv)
        for i in np.flatnonzero(old):
            a[i * n_reps : (i + 1) * n_reps] = 1
            a[i * n_reps + cur[i]] = 0
        rows.append(a)
        lo.append(-np.inf)
        hi.append(float(max_moves))
    return rows, lo, hi


def exact(reps: pl.DataFrame, customers: pl.DataFrame, max_moves: int) -> tuple[float, float]:
    """(priority covered, total km) of the lexicographic optimum, from a dense MIP (scipy's
    milp) over every customer × rep pair: most priority, least overload, most zero-priority
    customers, least distance — each level held before the next."""
    n, n_reps = customers.height, reps.height
    index = {r: k for k, r in enumerate(reps["rep_id"].to_list())}
    cur = np.array([index[r] if r is not None else -1 for r in customers["rep_id"].to_list()])
    w = customers["workload_minutes"].to_numpy()
    cap = reps["capacity_minutes"].to_numpy()
    p = (
        customers["priority"].fill_null(1.0).to_numpy()
        if "priority" in customers.columns
        else np.ones(n)
    )
    d = km(
        customers["latitude"].to_numpy()[:, None],
        customers["longitude"].to_numpy()[:, None],
        reps["latitude"].to_numpy()[None, :],
        reps["longitude"].to_numpy()[None, :],
    )
    old = cur >= 0
    load = np.bincount(cur[old], weights=w[old], minlength=n_reps)
    over = load > cap + 1e-6
    allowed = _allowed(reps, customers, cur, over, max_moves)
    nx = n * n_reps
    n_o = n_reps if max_moves > 0 else 0
    nv = nx + n_o
    rows, lo, hi = _rows(n_reps, nv, n_o, cur, w, cap, over, max_moves)
    upper = np.concatenate([allowed.ravel().astype(float), np.where(over, load - cap, 0.0)[:n_o]])
    bounds = Bounds(np.zeros(nv), upper)
    integrality = np.concatenate([np.ones(nx), np.zeros(n_o)])
    new = ~old
    levels = [np.concatenate([-np.repeat(np.where(new, p, 0.0), n_reps), np.zeros(n_o)])]
    if n_o and over.any():
        levels.append(np.concatenate([np.zeros(nx), np.ones(n_o)]))
    zero = new & (p == 0)
    if zero.any():
        levels.append(np.concatenate([-np.repeat(zero.astype(float), n_reps), np.zeros(n_o)]))
    levels.append(np.concatenate([d.ravel(), np.zeros(n_o)]))
    x = np.zeros(nv)
    for level, cost in enumerate(levels):
        result = milp(
            cost,
            constraints=LinearConstraint(np.array(rows), lo, hi),
            integrality=integrality,
            bounds=bounds,
            options={"mip_rel_gap": 0.0},
        )
        assert result.success, result.message
        x = result.x
        if level < len(levels) - 1:
            rows.append(cost)
            lo.append(-np.inf)
            hi.append(float(result.fun) + 1e-6 * max(1.0, abs(result.fun)))
    chosen = x[:nx].reshape(n, n_reps) > 0.5
    return float(np.sum(p[new] * chosen[new].any(axis=1))), float(np.sum(d[chosen]))


def loads_ok(result: AssignmentResult, customers: pl.DataFrame | None = None) -> bool:
    """No rep above capacity — but a rep its current customers already overload, which may
    keep them and take nobody else."""
    loads = result.loads
    if customers is not None:
        existing = (
            customers.filter(pl.col("rep_id").is_not_null())
            .group_by("rep_id")
            .agg(pl.col("workload_minutes").sum().alias("existing"))
        )
        loads = loads.join(existing, on="rep_id", how="left").with_columns(
            pl.col("existing").fill_null(0.0)
        )
        over = pl.col("existing") > pl.col("capacity_minutes")
        kept = (
            over
            & (pl.col("new_customers") == 0)
            & (pl.col("load_minutes") <= pl.col("existing") + 1e-6)
        )
        return bool(
            loads.select(
                ((pl.col("load_minutes") <= pl.col("capacity_minutes") + 1e-6) | kept).all()
            ).item()
        )
    return bool((loads["load_minutes"] <= loads["capacity_minutes"] + 1e-6).all())


# -- properties --------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(2))
def test_capacity_is_never_exceeded(seed: int) -> None:
    """With capacity short, no rep ends above its capacity and the shortfall is unassigned."""
    reps, customers = random_instance(seed, n=120, n_reps=6, existing=40, tight=0.7)
    result = assign(reps, customers, AssignParams(time_limit_seconds=1.0))
    assert loads_ok(result, customers)
    assert result.unassigned > 0
    assert (
        result.assignments.filter(pl.col("rep_id").is_null())["previous_rep_id"].null_count()
        == result.unassigned
    )


def test_existing_customers_keep_their_rep_without_moves() -> None:
    """With max_moves 0 every existing customer keeps its rep, even when another is nearer."""
    reps = reps_frame([("near", 45.0, 9.0, 100.0), ("far", 46.0, 10.0, 100.0)])
    customers = customers_frame(
        [
            ("a", 45.0, 9.01, 10.0, "far"),
            ("b", 45.99, 10.0, 10.0, "near"),
            ("c", 45.0, 9.0, 10.0, None),
        ]
    )
    result = assign(reps, customers)
    out = result.assignments
    assert out["rep_id"].to_list() == ["far", "near", "near"]
    assert result.moves == 0
    assert out["previous_rep_id"].to_list() == ["far", "near", None]


def test_at_most_k_customers_move() -> None:
    """With max_moves K, exactly the K moves that cut the most travel are made, no more."""
    reps = reps_frame([("west", 45.0, 9.0, 1000.0), ("east", 45.0, 11.0, 1000.0)])
    # five customers beside "west" served by "east", with more to gain the nearer they are
    rows = [(f"x{k}", 45.0, 9.0 + 0.1 * k, 10.0, "east") for k in range(5)]
    customers = customers_frame(rows)
    result = assign(reps, customers, AssignParams(max_moves=2))
    out = result.assignments
    assert result.moves == 2
    assert out.filter(pl.col("rep_id") != pl.col("previous_rep_id"))["customer_id"].to_list() == [
        "x0",
        "x1",
    ]
    assert assign(reps, customers, AssignParams(max_moves=10)).moves == 5


def test_moves_first_relieve_a_rep_over_capacity() -> None:
    """A rep over capacity with its current customers takes nobody new; moves relieve it first."""
    reps = reps_frame([("full", 45.0, 9.0, 50.0), ("free", 45.5, 9.5, 500.0)])
    rows = [(f"e{k}", 45.0, 9.0 + 0.01 * k, 20.0, "full") for k in range(4)]  # 80 of 50 minutes
    rows.append(("n", 45.0, 9.0, 5.0, None))
    customers = customers_frame(rows)
    kept = assign(reps, customers)
    assert kept.assignments.filter(pl.col("customer_id") == "n")["rep_id"].item() == "free"
    assert kept.overloaded_reps == ("full",)
    assert kept.overloaded_today == ("full",)
    moved = assign(reps, customers, AssignParams(max_moves=2))
    assert moved.moves == 2
    assert moved.overloaded_reps == ()
    assert loads_ok(moved)


def test_priority_is_covered_first_when_capacity_runs_out() -> None:
    """When capacity runs out, the high-priority customers are covered even if farther away."""
    reps = reps_frame([("r", 45.0, 9.0, 60.0)])
    customers = customers_frame(
        [
            ("near", 45.0, 9.01, 30.0, None),
            ("mid", 45.2, 9.0, 30.0, None),
            ("far", 45.5, 9.5, 30.0, None),
        ],
        priority=[1.0, 2.0, 3.0],
    )
    result = assign(reps, customers)
    out = dict(result.assignments.select("customer_id", "rep_id").iter_rows())
    assert out == {"near": None, "mid": "r", "far": "r"}
    assert result.objective.priority_covered == 5.0
    assert result.unassigned == 1


def test_zero_priority_customers_still_fill_spare_capacity() -> None:
    """Priority 0 customers come last but are assigned when capacity is left."""
    reps = reps_frame([("r", 45.0, 9.0, 100.0)])
    customers = customers_frame(
        [("a", 45.0, 9.1, 30.0, None), ("b", 45.0, 9.2, 30.0, None)], priority=[0.0, 1.0]
    )
    assert assign(reps, customers).assignments["rep_id"].to_list() == ["r", "r"]


def test_region_is_respected() -> None:
    """A customer with a region goes to a rep of that region (or a rep without one)."""
    reps = reps_frame(
        [("n1", 45.0, 9.0, 100.0), ("s1", 44.0, 9.0, 100.0), ("any", 42.0, 9.0, 100.0)],
        regions=["north", "south", None],
    )
    customers = customers_frame(
        [
            ("a", 44.0, 9.0, 10.0, None),  # at s1's door, but northern
            ("b", 44.0, 9.0, 10.0, None),  # no region: the nearest rep
            ("c", 42.1, 9.0, 10.0, None),  # southern, nearest to the rep without region
        ],
        regions=["north", None, "south"],
    )
    out = assign(reps, customers).assignments["rep_id"].to_list()
    assert out == ["n1", "s1", "any"]


def test_moves_respect_regions() -> None:
    """With moves allowed, an existing northern shop at a southern rep's door stays with the
    northern rep, and a new northern shop is not given to the southern rep."""
    reps = reps_frame(
        [("n1", 46.0, 9.0, 100.0), ("s1", 44.0, 9.0, 100.0)], regions=["north", "south"]
    )
    customers = customers_frame(
        [("a", 44.01, 9.0, 10.0, "n1"), ("b", 44.02, 9.0, 10.0, None)],
        regions=["north", "north"],
    )
    result = assign(reps, customers, AssignParams(max_moves=5, time_limit_seconds=5))
    assert result.assignments["rep_id"].to_list() == ["n1", "n1"]
    assert result.moves == 0


def test_a_customer_fitting_no_rep_stays_unassigned() -> None:
    """A workload above every rep's room, or no rep of its region, leaves the customer out."""
    reps = reps_frame([("r", 45.0, 9.0, 100.0)], regions=["north"])
    customers = customers_frame(
        [
            ("big", 45.0, 9.0, 150.0, None),
            ("south", 45.0, 9.0, 10.0, None),
            ("ok", 45.0, 9.0, 10.0, None),
        ],
        regions=[None, "south", None],
    )
    result = assign(reps, customers)
    assert result.assignments["rep_id"].to_list() == [None, None, "r"]
    assert result.unassigned == 2
    assert result.assignments["distance_km"].null_count() == 2


@pytest.mark.parametrize("max_moves", [0, 2])
@pytest.mark.parametrize("case", ["all-capacity-used", "capacity-zero", "no-rep-of-the-region"])
def test_when_no_new_customer_fits_all_are_left_unassigned(case: str, max_moves: int) -> None:
    """No crash when nobody fits: every new customer has an empty rep and is counted."""
    reps = reps_frame([("a", 45.0, 9.0, 60.0), ("b", 45.5, 9.5, 60.0)], regions=["N", "N"])
    rows: list[tuple[str, float, float, float, str | None]] = [
        ("x", 45.0, 9.0, 60.0, "a"),
        ("y", 45.5, 9.5, 60.0, "b"),
        ("n1", 45.1, 9.1, 20.0, None),
        ("n2", 45.4, 9.4, 20.0, None),
    ]
    regions: list[str | None] = ["N", "N", None, None]
    if case == "capacity-zero":
        reps = reps.with_columns(pl.lit(0.0).alias("capacity_minutes"))
        rows, regions = rows[2:], regions[2:]
    elif case == "no-rep-of-the-region":
        rows, regions = rows[2:], ["S", "S"]
    result = assign(reps, customers_frame(rows, regions=regions), AssignParams(max_moves=max_moves))
    out = result.assignments.filter(pl.col("customer_id").str.starts_with("n"))
    assert out["rep_id"].null_count() == 2
    assert result.unassigned == 2
    assert result.objective.customers_covered == 0


def _overloaded_instance(seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Reps short of capacity, some already over it with their current customers."""
    reps, customers = random_instance(seed, n=40, n_reps=5, existing=24, tight=0.6)
    existing = (
        customers.filter(pl.col("rep_id").is_not_null())
        .group_by("rep_id")
        .agg(pl.col("workload_minutes").sum().alias("load"))
    )
    over = reps.join(existing, on="rep_id").filter(pl.col("load") > pl.col("capacity_minutes"))
    assert over.height > 0  # the instance has what the test is about
    return reps, customers


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_moves_never_cover_less_priority_than_no_move(seed: int) -> None:
    """With reps over capacity today and moves allowed, the priority covered is at least the
    zero-move solution's, no rep gains load beyond capacity, and every move either cuts the
    shop's travel or frees room its previous rep lacks; its distance change is given."""
    reps, customers = _overloaded_instance(seed)
    fixed = assign(reps, customers, AssignParams(time_limit_seconds=5))
    moved = assign(reps, customers, AssignParams(max_moves=4, time_limit_seconds=5))
    assert moved.objective.priority_covered >= fixed.objective.priority_covered - 1e-9
    assert moved.moves <= 4
    assert loads_ok(moved, customers) and loads_ok(fixed, customers)
    out = moved.assignments.join(
        customers.select("customer_id", "workload_minutes"), on="customer_id"
    )
    moves = out.filter(
        pl.col("previous_rep_id").is_not_null() & (pl.col("rep_id") != pl.col("previous_rep_id"))
    )
    assert moves["move_reason"].null_count() == 0
    assert out.filter(pl.col("rep_id") == pl.col("previous_rep_id"))[
        "move_reason"
    ].null_count() == (out.filter(pl.col("rep_id") == pl.col("previous_rep_id")).height)
    change = moves["distance_km"] - moves["previous_distance_km"]
    assert ((change - moves["distance_change_km"]).abs() < 1e-9).all()
    load = dict(moved.loads.select("rep_id", "load_minutes").iter_rows())
    capacity = dict(moved.loads.select("rep_id", "capacity_minutes").iter_rows())
    for row in moves.iter_rows(named=True):
        room_back = capacity[row["previous_rep_id"]] - load[row["previous_rep_id"]]
        assert row["distance_change_km"] < 0 or room_back < row["workload_minutes"] - 1e-6


def test_distance_is_the_great_circle_km() -> None:
    """distance_km is the haversine distance: one degree of latitude is 111.195 km."""
    reps = reps_frame([("r", 45.0, 9.0, 100.0)])
    customers = customers_frame([("a", 46.0, 9.0, 10.0, None)])
    result = assign(reps, customers)
    assert result.assignments["distance_km"].item() == pytest.approx(2 * math.pi * R_EARTH / 360)
    assert result.objective.distance_km == pytest.approx(111.1951, abs=1e-3)


@pytest.mark.parametrize(
    ("seed", "max_moves"), [(0, 0), (1, 0), (4, 0), (7, 2), (8, 2), (0, 3), (7, 3)]
)
def test_small_instances_match_an_exact_mip(seed: int, max_moves: int) -> None:
    """On 30 customers × 4 reps the priority covered and the distance equal a dense MIP's."""
    reps, customers = random_instance(seed)
    result = assign(reps, customers, AssignParams(max_moves=max_moves))
    priority, distance = exact(reps, customers, max_moves)
    assert result.objective.priority_covered == pytest.approx(priority, abs=1e-6)
    assert result.objective.distance_km == pytest.approx(distance, abs=1e-6)
    assert result.optimal
    assert loads_ok(result, customers)
    assert result.moves <= max_moves


@pytest.mark.parametrize(("seed", "max_moves"), [(0, 0), (1, 0), (2, 3), (3, 3)])
def test_lower_bound_holds_when_the_model_is_sparsified(seed: int, max_moves: int) -> None:
    """With only the 2 nearest reps to start with, the pricing and the MIP window at work, the
    lower bound is at most the exact optimum, which is at most the distance found."""
    reps, customers = random_instance(seed + 10, n=40, n_reps=6, existing=10, tight=1.1)
    params = AssignParams(
        max_moves=max_moves,
        dense_below=0,
        candidates_per_customer=2,
        move_candidates=2,
        time_limit_seconds=5,
    )
    result = assign(reps, customers, params)
    priority, distance = exact(reps, customers, max_moves)
    assert result.moves <= max_moves
    assert result.objective.priority_covered == pytest.approx(priority, abs=1e-6)
    assert result.lower_bound <= distance + 1e-6
    assert distance <= result.objective.distance_km + 1e-6
    assert result.gap >= 0
    assert loads_ok(result, customers)


def test_params_load_from_toml(tmp_path: Path) -> None:
    """AssignParams reads an [assign] table and refuses unknown keys."""
    path = tmp_path / "p.toml"
    path.write_text("[assign]\nmax_moves = 3\ntime_limit_seconds = 5.0\n", encoding="utf-8")
    assert AssignParams.from_toml(path) == AssignParams(max_moves=3, time_limit_seconds=5.0)
    path.write_text("[assign]\nmoves = 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="moves"):
        AssignParams.from_toml(path)


# -- the command line ------------------------------------------------------------------------
REPS_CSV = "rep_id,latitude,longitude,capacity_minutes\nr1,45.0,9.0,120\nr2,45.5,9.5,90\n"
CUSTOMERS_CSV = (
    "customer_id,latitude,longitude,workload_minutes,rep_id,priority\n"
    "a,45.0,9.1,30,r1,\n"
    "b,45.1,9.0,30,,2\n"
    "c,45.4,9.4,40,,\n"
    "d,45.2,9.2,50,,1\n"
)


def _assign_cli(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, reps: str, customers: str, *extra: str
) -> tuple[int, str, str, Path]:
    (tmp_path / "reps.csv").write_text(reps, encoding="utf-8")
    (tmp_path / "customers.csv").write_text(customers, encoding="utf-8")
    out = tmp_path / "assignments.csv"
    result = run(
        capsys,
        "assign",
        "--reps",
        str(tmp_path / "reps.csv"),
        "--customers",
        str(tmp_path / "customers.csv"),
        "--out",
        str(out),
        *extra,
    )
    return result.code, result.stdout, result.stderr, out


def test_cli_writes_the_contract_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`salescope assign` writes customer_id, rep_id, previous_rep_id, distance_km per customer,
    in input order, and prints the objective, the bound, moves, unassigned and time."""
    code, stdout, stderr, out = _assign_cli(capsys, tmp_path, REPS_CSV, CUSTOMERS_CSV)
    assert code == 0, stderr
    frame = pl.read_csv(out, schema_overrides={"rep_id": pl.String, "previous_rep_id": pl.String})
    assert frame.columns[:4] == ["customer_id", "rep_id", "previous_rep_id", "distance_km"]
    assert {"previous_distance_km", "distance_change_km", "move_reason"} <= set(frame.columns)
    assert frame["customer_id"].to_list() == ["a", "b", "c", "d"]
    assert frame["previous_rep_id"].to_list() == ["r1", None, None, None]
    assert frame["rep_id"][0] == "r1"
    assert frame["distance_km"].null_count() == frame["rep_id"].null_count()
    for word in ("distance", "lower bound", "moves", "unassigned", "time", "Rep loads"):
        assert word in stdout


def test_cli_max_moves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--max-moves lets an existing customer change to a nearer rep."""
    customers = "customer_id,latitude,longitude,workload_minutes,rep_id\na,45.5,9.5,30,r1\n"
    code, _, stderr, out = _assign_cli(capsys, tmp_path, REPS_CSV, customers, "--max-moves", "1")
    assert code == 0, stderr
    assert pl.read_csv(out)["rep_id"].to_list() == ["r2"]


def test_cli_reports_reps_over_capacity_first_and_takes_a_time_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a rep over capacity today and nothing that fits, `assign --max-moves 1 --time-limit
    2` exits 0, names the rep first, leaves the new customer unassigned and prints the gap."""
    reps = "rep_id,latitude,longitude,capacity_minutes\nr1,45.0,9.0,50\nr2,45.5,9.5,30\n"
    customers = (
        "customer_id,latitude,longitude,workload_minutes,rep_id\n"
        "a,45.0,9.1,40,r1\nb,45.0,9.2,40,r1\nc,45.5,9.5,30,r2\nn,45.2,9.2,45,\n"
    )
    code, stdout, stderr, out = _assign_cli(
        capsys, tmp_path, reps, customers, "--max-moves", "1", "--time-limit", "2"
    )
    assert code == 0, stderr
    text = " ".join(stdout.split())
    assert text.index("reps over capacity today") < text.index("distance:")
    assert "r1 (80 of 50 min" in text
    assert "lower bound" in text and "unassigned: 1" in text
    frame = pl.read_csv(out, schema_overrides={"rep_id": pl.String})
    assert frame.filter(pl.col("customer_id") == "n")["rep_id"].item() is None


def test_cli_refuses_a_time_limit_of_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--time-limit 0 is a usage problem named with its option, and nothing is written."""
    code, _, stderr, out = _assign_cli(
        capsys, tmp_path, REPS_CSV, CUSTOMERS_CSV, "--time-limit", "0"
    )
    assert code == 1 and "--time-limit" in stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("reps", "customers", "expected"),
    [
        pytest.param(
            "rep_id,latitude,longitude,capacity_minutes\nr1,45,9,100\nr2,,,100\n",
            CUSTOMERS_CSV,
            "reps.csv, line 3, column 'latitude'",
            id="rep-without-coordinates",
        ),
        pytest.param(
            "rep_id,latitude,longitude,capacity_minutes\nr1,45,9,100\nr2,45,9,-5\n",
            CUSTOMERS_CSV,
            "reps.csv, line 3, column 'capacity_minutes': '-5' is below the minimum 0",
            id="negative-capacity",
        ),
        pytest.param(
            REPS_CSV,
            CUSTOMERS_CSV.replace("a,45.0,9.1,30,r1,", "a,45.0,9.1,30,r7,"),
            "customers.csv, line 2, column 'rep_id': 'r7' is not a known rep",
            id="unknown-rep",
        ),
        pytest.param(
            REPS_CSV,
            CUSTOMERS_CSV.replace("c,45.4,9.4", "c,95.4,9.4"),
            "customers.csv, line 4, column 'latitude': '95.4' is above the maximum 90",
            id="latitude-out-of-range",
        ),
    ],
)
def test_cli_bad_input_names_the_row_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reps: str, customers: str, expected: str
) -> None:
    """Bad reps or customers exit with status 1, a message naming file, line and column, and
    no output file."""
    code, _, stderr, out = _assign_cli(capsys, tmp_path, reps, customers)
    assert code == 1
    assert expected in stderr
    assert not out.exists()
