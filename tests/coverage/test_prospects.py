"""The prospects' look-alike chance: how much a shop looks like the shops we serve."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from salescope.coverage.prospects import ChanceParams, conversion_chance


def _universe(n: int = 400, seed: int = 0) -> tuple[pl.DataFrame, pl.Series]:
    """Shops whose channel decides, mostly, whether we serve them: 85 % of groceries, 10 % of
    kiosks."""
    rng = np.random.default_rng(seed)
    channel = rng.choice(["grocery", "kiosk"], n)
    served = rng.random(n) < np.where(channel == "grocery", 0.85, 0.10)
    customers = pl.DataFrame(
        {
            "customer_id": [f"C{i:04d}" for i in range(n)],
            "channel": channel,
            "size": rng.lognormal(4.0, 0.5, n),
        }
    )
    return customers, pl.Series("served", served)


def test_shops_like_our_customers_get_the_higher_chance() -> None:
    """Out of fold, a grocery (mostly served) gets a higher chance than a kiosk (rarely)."""
    customers, served = _universe()
    chance = conversion_chance(customers, served)
    assert chance["customer_id"].to_list() == customers["customer_id"].to_list()
    by_channel = (
        customers.with_columns(chance["chance"]).group_by("channel").agg(pl.col("chance").mean())
    )
    means = dict(by_channel.iter_rows())
    assert means["grocery"] > 0.6
    assert means["kiosk"] < 0.3


def test_too_few_customers_everyone_gets_the_base_rate() -> None:
    """With fewer served shops than ``min_class`` no model is learned: every shop gets the
    share of shops served."""
    customers, _ = _universe(100)
    served = pl.Series("served", [True] * 5 + [False] * 95)
    chance = conversion_chance(customers, served, params=ChanceParams(min_class=10))
    assert chance["chance"].to_list() == pytest.approx([0.05] * 100)
