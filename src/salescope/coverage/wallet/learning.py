"""The wallet model: folds, out-of-fold target encodings and neighbour targets, LightGBM,
the hurdle for non-buyers, conformal ranges."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from salescope.coverage.wallet.features import _OWN_ONLY, _Design
from salescope.coverage.wallet.params import FloatArray, IntArray, WalletParams
from salescope.geo import NeighbourIndex
from salescope.lgbm import lgbm_params


def _fold_ids(n: int, folds: int, seed: int) -> IntArray:
    rng = np.random.default_rng(seed)
    return np.asarray(rng.permutation(n) % folds, dtype=np.int64)


def _target_encoding(
    codes: IntArray, y: FloatArray, train: IntArray, smoothing: float, seed: int
) -> FloatArray:
    """Smoothed mean target of each level, out of fold for the training rows."""
    levels = int(codes.max()) + 1 if codes.size else 0
    out = np.full(codes.shape[0], np.nan)
    if levels == 0 or train.size == 0:
        return out
    prior = float(y[train].mean())

    def encode(rows: IntArray, into: IntArray) -> None:
        c = codes[rows]
        ok = c >= 0
        sums = np.bincount(c[ok], weights=y[rows][ok], minlength=levels)
        counts = np.bincount(c[ok], minlength=levels)
        target = codes[into]
        value = (sums[np.maximum(target, 0)] + smoothing * prior) / (
            counts[np.maximum(target, 0)] + smoothing
        )
        out[into] = np.where(target >= 0, value, np.nan)

    encode(train, np.setdiff1d(np.arange(codes.shape[0]), train))
    inner = _fold_ids(train.size, 5, seed + 1)
    for f in range(5):
        encode(train[inner != f], train[inner == f])
    return out


def _neighbour_targets(
    design: _Design, y: FloatArray, train: IntArray, k: int
) -> tuple[list[str], FloatArray]:
    """Nearest observed shops' log totals and log total/own ratios (self excluded)."""
    n = design.x.shape[0]
    names = ["knn:total", "knn:nearest_total", "knn:km", "knn:total_over_own"]
    out = np.full((n, len(names)), np.nan)
    ok_train = train[np.isfinite(design.lat[train]) & np.isfinite(design.lon[train])]
    located = np.flatnonzero(np.isfinite(design.lat) & np.isfinite(design.lon))
    if ok_train.size < 3 or located.size == 0:
        return names, out
    index = NeighbourIndex(design.lat[ok_train], design.lon[ok_train])
    kk = min(k, ok_train.size - 1)
    is_train = np.zeros(n, dtype=bool)
    is_train[ok_train] = True
    position = np.full(n, -1)
    position[ok_train] = np.arange(ok_train.size)
    # training shops: their neighbours among the other training shops
    km_t, idx_t = index.query(design.lat[ok_train], design.lon[ok_train], kk, exclude_self=True)
    others = located[~is_train[located]]
    km_o, idx_o = index.query(design.lat[others], design.lon[others], kk)
    y_train = y[ok_train]
    ratio_train = np.where(design.own[ok_train] > 0, y_train - design.own[ok_train], np.nan)
    for rows, km, idx in ((ok_train, km_t, idx_t), (others, km_o, idx_o)):
        valid = idx >= 0
        safe = np.where(valid, idx, 0)
        weight = np.where(valid, 1.0 / (np.where(valid, km, 0.0) + 1.0), 0.0)
        total = (weight * y_train[safe]).sum(1) / np.maximum(weight.sum(1), 1e-12)
        ratios = np.where(valid, ratio_train[safe], np.nan)
        ratio_weight = np.where(np.isfinite(ratios), weight, 0.0)
        ratio = np.where(
            ratio_weight.sum(1) > 0,
            (ratio_weight * np.nan_to_num(ratios)).sum(1) / np.maximum(ratio_weight.sum(1), 1e-12),
            np.nan,
        )
        out[rows, 0] = total
        out[rows, 1] = np.where(valid[:, 0], y_train[safe[:, 0]], np.nan)
        out[rows, 2] = np.where(valid[:, 0], np.log1p(np.where(valid[:, 0], km[:, 0], 0.0)), np.nan)
        out[rows, 3] = ratio
    return names, out


def _fold_matrix(
    design: _Design, y: FloatArray, train: IntArray, params: WalletParams
) -> tuple[FloatArray, list[str]]:
    """The design completed with the features that depend on the training targets."""
    extra: list[FloatArray] = []
    names: list[str] = []
    for name, codes in design.te_codes:
        extra.append(_target_encoding(codes, y, train, params.smoothing, params.random_state))
        names.append(name)
    knn_names, knn = _neighbour_targets(design, y, train, params.n_neighbours)
    matrix = np.column_stack([design.x, *extra, knn]) if extra else np.column_stack([design.x, knn])
    return matrix, design.names + names + knn_names


def _model(params: WalletParams, n_train: int, seed: int = 0) -> Any:
    from lightgbm import LGBMRegressor

    # fewer, shallower trees on small samples
    scale = min(1.0, max(0.35, n_train / 600))
    return LGBMRegressor(
        **lgbm_params(
            n_estimators=int(params.n_estimators * scale),
            learning_rate=params.learning_rate,
            num_leaves=params.num_leaves,
            min_child_samples=max(3, min(params.min_child_samples, n_train // 20)),
            seed=params.random_state + seed,
            objective=params.objective,
            alpha=1.0,
            min_split_gain=0.0,
            cat_smooth=10.0,
        )
    )


def _fit_predict(
    design: _Design, y: FloatArray, train: IntArray, predict: IntArray, params: WalletParams
) -> tuple[FloatArray, Any, list[str]]:
    matrix, names = _fold_matrix(design, y, train, params)
    total = np.zeros(predict.size)
    model: Any = None
    for bag in range(max(1, params.n_bags)):
        model = _model(params, train.size, bag)
        model.fit(
            matrix[train],
            y[train],
            categorical_feature=design.categorical if design.categorical else "auto",
        )
        total += np.asarray(model.predict(matrix[predict]), dtype=np.float64)
    pred = total / max(1, params.n_bags)
    if params.hurdle:
        keep = [
            k
            for k, name in enumerate(names)
            if not (params.hurdle_lean and (name.startswith("mix_") or name in _OWN_ONLY))
        ]
        lean = matrix[:, keep]
        cats = [keep.index(c) for c in design.categorical if c in keep]
        pred = _hurdle(lean, y, train, predict, design, params, pred, cats)
    return pred, model, names


def _hurdle(
    matrix: FloatArray,
    y: FloatArray,
    train: IntArray,
    predict: IntArray,
    design: _Design,
    params: WalletParams,
    pred: FloatArray,
    categorical: list[int],
) -> FloatArray:
    """Shops that do not buy from us: log(1 + P(buys at all) × the total of one that does),
    from a classifier of "any purchase" and a regression on the shops that buy something.

    Many shops of a universe buy nothing in a year (closed, not yet open); one regression on
    log totals with their zeros ranks the others poorly. Shops buying from us keep ``pred``.
    """
    from lightgbm import LGBMClassifier

    active = y[train] > 1e-9
    out = pred.copy()
    non_buyer = design.own[predict] <= 0
    if active.sum() < 20 or (~active).sum() < 10 or not non_buyer.any():
        return out
    cats: Any = categorical if categorical else "auto"
    classifier: Any = LGBMClassifier(
        **lgbm_params(
            n_estimators=300,
            learning_rate=0.03,
            num_leaves=params.num_leaves,
            min_child_samples=max(3, min(params.min_child_samples, train.size // 20)),
            seed=params.random_state,
        )
    )
    classifier.fit(matrix[train], active.astype(np.int64), categorical_feature=cats)
    rows = predict[non_buyer]
    p_active = np.asarray(classifier.predict_proba(matrix[rows])[:, 1], dtype=np.float64)
    on = train[active]
    regression = _model(params, on.size, 7)
    regression.fit(matrix[on], y[on], categorical_feature=cats)
    mu = np.asarray(regression.predict(matrix[rows]), dtype=np.float64)
    hurdle = np.log1p(p_active * np.expm1(np.maximum(mu, 0.0)))
    w = params.hurdle_weight
    out[non_buyer] = (1.0 - w) * pred[non_buyer] + w * hurdle
    return out


def _spearman(a: FloatArray, b: FloatArray) -> float:
    if a.size < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(spearmanr(a, b).statistic)


def _conformal(residuals: FloatArray, coverage: float) -> tuple[float, float]:
    """Lower and upper residual quantiles with the finite-sample correction."""
    n = residuals.size
    if n == 0:
        return -math.log(4.0), math.log(4.0)
    tail = (1.0 - coverage) / 2.0
    lo = max(0.0, math.floor((n + 1) * tail) - 1) / max(n - 1, 1)
    hi = min(1.0, math.ceil((n + 1) * (1.0 - tail)) / n)
    return float(np.quantile(residuals, lo)), float(np.quantile(residuals, hi))
