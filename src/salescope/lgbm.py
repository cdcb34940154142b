"""The LightGBM settings every model of Salescope shares, in one place.

The next-order ranker, quantities and adoption models (``orders/boosting.py``), the wallet's
potential and hurdle models (``coverage/wallet``) and the prospects' look-alike chance
(``coverage/prospects.py``) differ in their objective, size and learning rate; they share row
subsampling (80 % every iteration), column subsampling, L2 regularisation and silence.
"""

from __future__ import annotations

from typing import Any


def lgbm_params(
    *,
    n_estimators: int,
    learning_rate: float,
    num_leaves: int,
    min_child_samples: int,
    seed: int,
    threads: int = 1,
    colsample_bytree: float = 0.8,
    **extra: Any,
) -> dict[str, Any]:
    """Keyword arguments of a LightGBM scikit-learn estimator (``LGBMRegressor``,
    ``LGBMClassifier``, ``LGBMRanker``): the shared defaults plus ``extra``."""
    return {
        "n_estimators": n_estimators,
        "learning_rate": learning_rate,
        "num_leaves": num_leaves,
        "min_child_samples": min_child_samples,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": colsample_bytree,
        "reg_lambda": 1.0,
        "random_state": seed,
        "n_jobs": threads,
        "verbose": -1,
        **extra,
    }
