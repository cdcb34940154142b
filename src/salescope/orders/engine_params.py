"""``EngineParams``: every knob of the next-order engine, and the TIFU-KNN grid it tunes on."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from salescope.orders.baselines import TifuGrid
from salescope.orders.examples import EventParams
from salescope.orders.neighbours import TifuParams
from salescope.orders.novelties import AdoptionParams, NoveltyParams
from salescope.orders.quantities import QuantityParams
from salescope.orders.ranker import RankerParams

ENGINE_GRID = TifuGrid(
    group_size=(3, 7, 20),
    within_decay=(0.9,),
    group_decay=(0.6, 0.8, 1.0),
    k=(50, 100, 300),
    alpha=(0.5, 0.7, 0.9),
    metric=("cosine",),
)
"""The TIFU-KNN grid the engine tunes its customer vectors on (a part of the evaluation's)."""


@dataclass(frozen=True)
class EngineParams:
    """Every knob of the next-order engine (loadable from a TOML table)."""

    lookback_days: int = 730  # each customer's history, back from its own last order
    spacing_days: int | None = None  # default: the customers' median order interval, 7..60
    events: EventParams = field(default_factory=EventParams)
    ranker: RankerParams = field(default_factory=RankerParams)
    tifu: TifuParams = field(default_factory=TifuParams)  # when not tuned
    tune_tifu: bool = True  # tune the customer vectors (TIFU-KNN) on the history first
    tune_customers: int = 2000  # at most this many customers' last orders rank in the tuning
    tune_vector_lines: int = 2_000_000  # the vector weights are tuned on a sample this large
    max_repeat: int = 300  # repeat candidates per customer
    explore: int = 60  # never-bought candidates per customer (from neighbours)
    item_neighbours: int = 50  # similar products per product for item-kNN (0: off)
    novelties: NoveltyParams = field(default_factory=NoveltyParams)
    adoption: AdoptionParams = field(default_factory=AdoptionParams)  # seed, threads: below
    quantities: QuantityParams = field(default_factory=QuantityParams)  # seed, threads: below
    negative_rate: float = 0.35  # share of the negative candidates kept for training
    max_train_rows: int = 2_500_000
    lapsed_intervals: float = 4.0  # lapsed: no order for this many usual intervals ...
    lapsed_min_days: int = 90  # ... and at least this many days
    lapsed_lines: int = 3  # usual lines proposed to a lapsed customer
    customers_per_bucket: int = 4000
    seed: int = 0
    threads: int = 2

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be at least 1"
            for name in (
                "lookback_days",
                "max_repeat",
                "max_train_rows",
                "tune_customers",
                "tune_vector_lines",
                "lapsed_lines",
                "customers_per_bucket",
                "threads",
            )
            if getattr(self, name) < 1
        ]
        problems += [
            f"{name} must not be negative"
            for name in ("explore", "item_neighbours", "lapsed_min_days")
            if getattr(self, name) < 0
        ]
        if self.spacing_days is not None and self.spacing_days < 1:
            problems.append("spacing_days must be at least 1")
        if not 0.0 < self.negative_rate <= 1.0:
            problems.append("negative_rate must be in (0, 1]")
        if self.lapsed_intervals <= 0:
            problems.append("lapsed_intervals must be positive")
        if problems:
            raise ValueError("invalid EngineParams: " + "; ".join(problems))

    @classmethod
    def from_toml(cls, path: str | Path) -> EngineParams:
        import tomllib

        with Path(path).open("rb") as handle:
            table = tomllib.load(handle)
        return cls.from_dict(table.get("engine", table), str(path))

    @classmethod
    def from_dict(cls, table: dict[str, Any], where: str = "engine parameters") -> EngineParams:
        """Parameters from a (TOML-like) table; unknown keys are refused."""
        table = dict(table)
        nested: dict[str, Any] = {}
        for name, kind in (
            ("tifu", TifuParams),
            ("novelties", NoveltyParams),
            ("events", EventParams),
            ("ranker", RankerParams),
            ("adoption", AdoptionParams),
            ("quantities", QuantityParams),
        ):
            if name in table:
                value = table.pop(name)
                nested[name] = value if isinstance(value, kind) else kind(**value)
        known = {f.name for f in fields(cls)}
        unknown = set(table) - known
        if unknown:
            raise ValueError(f"{where}: unknown engine parameters {sorted(unknown)}")
        return cls(**nested, **table)
