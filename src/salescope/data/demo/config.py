"""``DemoConfig``: every knob of the demo company."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from salescope.data.demo.constants import MAX_CATEGORIES

# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoConfig:
    """Every knob of the demo company; the defaults make a realistic mid-sized manufacturer."""

    seed: int = 7
    n_regions: int = 4
    towns_per_region: int = 7  # a capital, a few towns, the rest villages
    n_shops: int = 3000  # the market universe: served customers and prospects
    served_share: float = 0.45
    n_reps: int = 12
    n_merchandisers: int = 3
    n_categories: int = 5
    own_products_per_category: int = 24
    competitor_products_per_category: int = 30
    launch_share: float = 0.08  # own products launched during the history
    delisted_share: float = 0.04  # own products delisted during the history
    start: date = date(2023, 1, 1)
    months: int = 24
    horizon_days: int = 28  # orders after the history, kept as truth["future_orders"]
    new_share: float = 0.10  # served shops that start ordering during the history
    churn_share: float = 0.07  # served shops that stop ordering during the history
    irregular_share: float = 0.15
    skip_probability: float = 0.04
    promotions_per_month: float = 2.0
    objectives_per_segment: int = 3
    market_share: float = 0.30  # shops with market observations
    taste_dim: int = 4
    mean_propensity: float = 0.12  # mean adoption propensity of the products a shop lacks
    exposure: float = 0.005  # chance per order that a product the shop lacks is put to it
    launch_exposure: float = 0.15
    drop_share: float = 0.06  # repertoire products a shop stops buying during the history
    price_increase: float = 0.035  # list price rise on each 1 January

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.n_categories <= MAX_CATEGORIES:
            problems.append(f"n_categories must be between 1 and {MAX_CATEGORIES}")
        if self.n_regions < 1 or self.towns_per_region < 1:
            problems.append("n_regions and towns_per_region must be at least 1")
        if self.n_reps < self.n_regions:
            problems.append("n_reps must be at least n_regions (every region has a rep)")
        if self.n_merchandisers < 0:
            problems.append("n_merchandisers must not be negative")
        if self.n_shops < 20:
            problems.append("n_shops must be at least 20")
        if not 0.05 <= self.served_share <= 0.95:
            problems.append("served_share must be between 0.05 and 0.95")
        if self.months < 3:
            problems.append("months must be at least 3")
        if self.own_products_per_category < 2 or self.competitor_products_per_category < 0:
            problems.append("need at least 2 own products per category")
        for name in ("market_share", "new_share", "churn_share", "launch_share", "delisted_share"):
            if not 0.0 <= getattr(self, name) <= 0.5 + 0.5 * (name == "market_share"):
                problems.append(f"{name} is out of range")
        if problems:
            raise ValueError("invalid DemoConfig: " + "; ".join(problems))

    @classmethod
    def small(cls, seed: int = 7) -> DemoConfig:
        """A small company for tests: ~300 shops and 8 months of orders, made in about a second."""
        return cls(
            seed=seed,
            n_regions=2,
            towns_per_region=5,
            n_shops=300,
            n_reps=3,
            n_merchandisers=1,
            own_products_per_category=12,
            competitor_products_per_category=8,
            launch_share=0.1,
            start=date(2024, 1, 1),
            months=8,
        )

    @property
    def end(self) -> date:
        """The last day of the history."""
        month = self.start.month - 1 + self.months
        first = date(self.start.year + month // 12, month % 12 + 1, 1)
        if self.start.day == 1:
            return first - timedelta(days=1)
        return date(first.year, first.month, min(self.start.day, 28)) - timedelta(days=1)
