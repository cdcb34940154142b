"""``WalletEstimator``: potential and share of wallet of every shop, with ranges."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from salescope.coverage.kpis import DAYS_PER_YEAR, line_values, purchase_kpis
from salescope.coverage.wallet.features import _Design, _design, _own_features
from salescope.coverage.wallet.learning import _conformal, _fit_predict, _fold_ids, _spearman
from salescope.coverage.wallet.market import observed_totals
from salescope.coverage.wallet.params import (
    BoolArray,
    FloatArray,
    IntArray,
    WalletCV,
    WalletParams,
    WalletWindow,
)

# --------------------------------------------------------------------------- estimator


def _targets(
    observed_total: FloatArray,
    own_amount: FloatArray,
    params: WalletParams,
    notes: list[str],
) -> tuple[FloatArray, IntArray, str]:
    """The log totals the model learns (NaN where unknown), the rows it learns from, and how
    the potential is estimated: from the shops with market data, or with too few of them
    from our own sales over the default share."""
    is_observed = np.isfinite(observed_total)
    n_observed = int(is_observed.sum())
    y = np.full(observed_total.shape[0], np.nan)
    if n_observed >= params.min_observed:
        y[is_observed] = np.log1p(observed_total[is_observed])
        return y, np.flatnonzero(is_observed), "model trained on the shops with market data"
    method = (
        f"fallback: only {n_observed} shops with market data; potential = own sales / "
        f"{params.default_share:.0%} and, for shops not buying from us, a model of that "
        "from their attributes"
    )
    notes.append(method)
    train = np.flatnonzero((own_amount > 0) & ~is_observed)
    y[train] = np.log1p(own_amount[train] / params.default_share)
    y[is_observed] = np.log1p(observed_total[is_observed])
    return y, train, method


def _result(
    universe: pl.DataFrame,
    observed_total: FloatArray,
    own_amount: FloatArray,
    estimate: FloatArray,
    low: FloatArray,
    high: FloatArray,
) -> pl.DataFrame:
    """Potential and share of wallet with their ranges: the market's figure where observed,
    else the estimate, never below our own sales."""
    is_observed = np.isfinite(observed_total)
    buyer = own_amount > 0
    potential = np.where(is_observed, observed_total, np.maximum(estimate, own_amount))
    low = np.where(is_observed, observed_total, np.maximum(low, own_amount))
    high = np.where(is_observed, observed_total, np.maximum(high, potential))
    low = np.minimum(low, potential)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(potential > 0, np.clip(own_amount / potential, 0.0, 1.0), np.nan)
        share_low = np.where(high > 0, np.clip(own_amount / high, 0.0, 1.0), np.nan)
        share_high = np.where(low > 0, np.clip(own_amount / low, 0.0, 1.0), np.nan)
    return pl.DataFrame(
        {
            "customer_id": universe["customer_id"],
            "potential": potential,
            "potential_low": low,
            "potential_high": high,
            "own_amount": own_amount,
            "share_of_wallet": share,
            "share_low": share_low,
            "share_high": share_high,
            "source": np.where(is_observed, "observed", "estimated"),
            "buyer": buyer,
        }
    ).with_columns(pl.col(pl.Float64).fill_nan(None))


class WalletEstimator:
    """Potential and share of wallet of every shop of a market universe.

    ``fit(customers, orders, market, as_of=...)`` learns from the shops with market data and
    fills ``result_``: customer_id, potential, potential_low, potential_high, own_amount
    (our yearly sales in the window), share_of_wallet, share_low, share_high, source
    (``observed`` / ``estimated``), buyer (buys from us in the window). ``cv_`` holds the
    cross-validation on the shops with market data, ``window_`` the period the potential
    refers to, ``feature_importance_`` the model's gains by feature.
    """

    def __init__(self, params: WalletParams | None = None) -> None:
        self.params = params

    def fit(
        self,
        customers: pl.DataFrame,
        orders: pl.DataFrame,
        market: pl.DataFrame | None = None,
        *,
        as_of: dt.date,
        products: pl.DataFrame | None = None,
    ) -> WalletEstimator:
        params = self.params or WalletParams()
        notes: list[str] = []
        lines = line_values(orders, products).filter(pl.col("order_date") < as_of)
        observed, window = observed_totals(market, as_of, window_days=params.window_days)
        if window is None:
            window = WalletWindow(as_of - dt.timedelta(days=params.window_days), as_of, "orders")
        universe = customers.select("customer_id")
        extra = lines.select("customer_id").unique().join(universe, on="customer_id", how="anti")
        if extra.height:
            notes.append(
                f"{extra.height} customers of the orders are not in customers: left out of the "
                "potential"
            )
        observed = observed.join(universe, on="customer_id", how="semi")
        own = _own_features(lines, universe, window, as_of)
        design, design_notes = _design(customers, own, params)
        notes.extend(design_notes)
        data_start = lines.select(pl.col("order_date").min()).item() if lines.height else None
        own_start = max(window.start, data_start) if data_start is not None else window.start
        own_days = max(1, (window.end - own_start).days)
        own_window = purchase_kpis(lines, own_start, window.end).select(
            "customer_id", (pl.col("revenue") * DAYS_PER_YEAR / own_days).alias("own_amount")
        )
        base = (
            universe.with_row_index("_row")
            .join(own_window, on="customer_id", how="left")
            .join(observed, on="customer_id", how="left")
            .with_columns(pl.col("own_amount").fill_null(0.0))
            .sort("_row")
        )
        own_amount = base["own_amount"].to_numpy().astype(np.float64)
        observed_total = base["observed_total"].fill_null(np.nan).to_numpy().astype(np.float64)
        # an observed total below our own sales in the same window is raised to them
        observed_total = np.where(
            np.isfinite(observed_total), np.maximum(observed_total, own_amount), np.nan
        )
        is_observed = np.isfinite(observed_total)
        buyer = own_amount > 0
        n_observed = int(is_observed.sum())
        y, train, method = _targets(observed_total, own_amount, params, notes)
        predict_rows = np.flatnonzero(~is_observed)
        if train.size >= 8:
            estimate, low, high, cv, importance = self._learn(
                design,
                y,
                train,
                predict_rows,
                buyer,
                own_amount,
                params,
                notes,
                market=n_observed >= params.min_observed,
            )
        else:
            notes.append("too few shops to learn from: potential = own sales / default share")
            guess = own_amount / params.default_share
            fill = float(np.median(guess[buyer])) if buyer.any() else 0.0
            estimate = np.where(buyer, guess, fill)
            low, high = estimate / 3.0, estimate * 3.0
            cv, importance = None, {}
        if n_observed < params.min_observed:
            # pseudo-totals of buyers are their own sales / default share: keep that as estimate
            rows = np.flatnonzero(buyer & ~is_observed)
            estimate[rows] = own_amount[rows] / params.default_share
            low[rows] = np.minimum(low[rows], own_amount[rows] / min(1.0, 2 * params.default_share))
            high[rows] = np.maximum(high[rows], own_amount[rows] / (params.default_share / 2))
        self.result_ = _result(universe, observed_total, own_amount, estimate, low, high)
        self.window_ = window
        self.cv_ = cv
        self.method_ = method
        self.notes_ = notes
        self.feature_importance_ = dict(
            sorted(importance.items(), key=lambda kv: kv[1], reverse=True)
        )
        self.n_observed_ = n_observed
        return self

    def _learn(
        self,
        design: _Design,
        y: FloatArray,
        train: IntArray,
        predict_rows: IntArray,
        buyer: BoolArray,
        own_amount: FloatArray,
        params: WalletParams,
        notes: list[str],
        *,
        market: bool,
    ) -> tuple[FloatArray, FloatArray, FloatArray, WalletCV | None, dict[str, float]]:
        """The model's estimates of ``predict_rows`` with their conformal ranges (NaN
        elsewhere), the cross-validation report (``market``: the targets are market data)
        and the features' gains."""
        n = y.shape[0]
        estimate = np.full(n, np.nan)
        low = np.full(n, np.nan)
        high = np.full(n, np.nan)
        cv: WalletCV | None = None
        importance: dict[str, float] = {}
        oof, folds = self._cross_validate(design, y, train, params)
        design, oof = self._select_optional(design, oof, y, train, params, notes)
        residual = y[train] - oof
        groups = buyer[train]
        bands = {}
        for group in (True, False):
            r = residual[groups == group]
            bands[group] = _conformal(r if r.size >= 20 else residual, params.coverage)
        if market:
            cv = self._cv_report(y, train, oof, folds, buyer, own_amount, params, notes)
        if predict_rows.size:
            pred, model, names = _fit_predict(design, y, train, predict_rows, params)
            importance = dict(
                zip(names, model.booster_.feature_importance("gain").tolist(), strict=True)
            )
            lo_band = np.where(buyer[predict_rows], bands[True][0], bands[False][0])
            hi_band = np.where(buyer[predict_rows], bands[True][1], bands[False][1])
            estimate[predict_rows] = np.expm1(np.maximum(pred, 0.0))
            low[predict_rows] = np.expm1(np.maximum(pred + lo_band, 0.0))
            high[predict_rows] = np.expm1(np.maximum(pred + hi_band, 0.0))
        return estimate, low, high, cv, importance

    def _select_optional(
        self,
        design: _Design,
        oof: FloatArray,
        y: FloatArray,
        train: IntArray,
        params: WalletParams,
        notes: list[str],
    ) -> tuple[_Design, FloatArray]:
        """The design without its optional features unless they improve the cross-validated
        ranking, and the out-of-fold predictions of the design kept."""
        if design.optional and train.size >= 30:
            lean = design.without(set(design.optional))
            oof_lean, _ = self._cross_validate(lean, y, train, params)
            gain = _spearman(oof, y[train]) - _spearman(oof_lean, y[train])
            if not gain > 0.003:
                notes.append(
                    f"not used (cross-validation gain {gain:+.3f}): " + ", ".join(design.optional)
                )
                return lean, oof_lean
            notes.append(f"used (cross-validation gain {gain:+.3f}): " + ", ".join(design.optional))
        elif design.optional:
            design = design.without(set(design.optional))
        return design, oof

    @staticmethod
    def _cross_validate(
        design: _Design, y: FloatArray, train: IntArray, params: WalletParams
    ) -> tuple[FloatArray, IntArray]:
        folds = min(params.n_folds, max(2, train.size // 4))
        fold = _fold_ids(train.size, folds, params.random_state)
        oof = np.full(train.size, np.nan)
        for f in range(folds):
            inner, outer = train[fold != f], train[fold == f]
            pred, _, _ = _fit_predict(design, y, inner, outer, params)
            oof[fold == f] = pred
        return oof, fold

    @staticmethod
    def _cv_report(
        y: FloatArray,
        train: IntArray,
        oof: FloatArray,
        fold: IntArray,
        buyer: BoolArray,
        own_amount: FloatArray,
        params: WalletParams,
        notes: list[str],
    ) -> WalletCV:
        truth = y[train]
        residual = truth - oof
        inside = np.zeros(train.size, dtype=bool)
        baseline = np.zeros(train.size)
        folds = int(fold.max()) + 1
        for f in range(folds):
            rest, here = fold != f, fold == f
            for group in (True, False):
                pick_rest = rest & (buyer[train] == group)
                pick_here = here & (buyer[train] == group)
                r = residual[pick_rest] if pick_rest.sum() >= 20 else residual[rest]
                lo, hi = _conformal(r, params.coverage)
                inside[pick_here] = (residual[pick_here] >= lo) & (residual[pick_here] <= hi)
            rows_rest = train[rest]
            buying = own_amount[rows_rest] > 0
            share = np.median(own_amount[rows_rest][buying] / np.expm1(y[rows_rest][buying]))
            share = float(share) if np.isfinite(share) and share > 0 else params.default_share
            baseline[here] = own_amount[train[here]] / share
        b = buyer[train]
        return WalletCV(
            n=int(train.size),
            folds=folds,
            spearman=_spearman(oof, truth),
            baseline_spearman=_spearman(baseline, truth),
            coverage=float(inside.mean()),
            nominal=params.coverage,
            median_abs_log_error=float(np.median(np.abs(residual))),
            spearman_buyers=_spearman(oof[b], truth[b]) if b.sum() >= 3 else None,
            spearman_non_buyers=_spearman(oof[~b], truth[~b]) if (~b).sum() >= 3 else None,
            notes=tuple(notes),
        )
