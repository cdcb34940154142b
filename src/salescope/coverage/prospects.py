"""Chance of conversion of prospects: how much a shop looks like our customers.

A classifier learns, from the shops' attributes only (channel, chain, size, any extra column,
the words of the name, location and density, how many of its neighbours buy from us, never its
purchases with us), which shops of the universe are our customers. Its out-of-fold probability
is a prospect's *look-alike chance*: the share of shops like it that we already serve. It ranks
prospects by how likely they are to accept us; it is not a calibrated probability of conversion
per approach (no data say how many approaches failed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from salescope.coverage.wallet.features import _design
from salescope.coverage.wallet.learning import _fold_ids, _fold_matrix
from salescope.coverage.wallet.params import WalletParams
from salescope.lgbm import lgbm_params


@dataclass(frozen=True, slots=True)
class ChanceParams:
    n_folds: int = 5
    n_estimators: int = 200
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_class: int = 10  # fewer customers or prospects than this: everybody gets the base rate
    random_state: int = 0


def conversion_chance(
    customers: pl.DataFrame,
    served: pl.Series,
    *,
    own_revenue: pl.Series | None = None,
    params: ChanceParams | None = None,
) -> pl.DataFrame:
    """customer_id, chance (out-of-fold probability of being served, from attributes).

    ``served`` is a boolean per row of ``customers``; ``own_revenue`` (per row, yearly) lets
    the model see how much our neighbours buy, never the shop's own purchases.
    """
    params = params or ChanceParams()
    n = customers.height
    y = np.asarray(served.fill_null(False).to_numpy(), dtype=np.float64)
    positives = int(y.sum())
    base = positives / n if n else 0.0
    if positives < params.min_class or n - positives < params.min_class:
        return customers.select("customer_id", pl.lit(base).alias("chance"))
    revenue = (
        np.zeros(n)
        if own_revenue is None
        else np.asarray(own_revenue.fill_null(0.0).to_numpy(), np.float64)
    )
    own = customers.select("customer_id").with_columns(
        pl.Series("own_revenue", np.log1p(np.maximum(revenue, 0.0)))
    )
    design, _ = _design(customers, own, WalletParams(random_state=params.random_state))
    # the shop's own purchases (and ids) would give the answer away: only neighbours' stay
    design = design.without({"own_revenue", *design.optional})
    from lightgbm import LGBMClassifier

    folds = _fold_ids(n, params.n_folds, params.random_state)
    chance = np.zeros(n)
    wallet_params = WalletParams(random_state=params.random_state)
    for f in range(params.n_folds):
        train = np.flatnonzero(folds != f)
        test = np.flatnonzero(folds == f)
        matrix, _ = _fold_matrix(design, y, train, wallet_params)
        model: Any = LGBMClassifier(
            **lgbm_params(
                n_estimators=params.n_estimators,
                learning_rate=params.learning_rate,
                num_leaves=params.num_leaves,
                min_child_samples=max(5, min(20, train.size // 50)),
                seed=params.random_state,
            )
        )
        model.fit(
            matrix[train],
            y[train].astype(np.int64),
            categorical_feature=design.categorical if design.categorical else "auto",
        )
        chance[test] = model.predict_proba(matrix[test])[:, 1]
    return customers.select("customer_id").with_columns(pl.Series("chance", chance))
