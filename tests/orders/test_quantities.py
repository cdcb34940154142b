"""Quantities: the base quantity, the learned correction and its fitted states, rounding."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from salescope.domain.errors import NotFittedError
from salescope.orders.quantities import (
    QUANTITY_FEATURES,
    QuantityModel,
    QuantityParams,
    base_quantity,
    rounded,
    selling_multiples,
    wape,
)


def _rows(n: int, seed: int = 0, *, with_actual: bool = True) -> pl.DataFrame:
    """Candidate rows of repeat products: every feature, a base level ``q_med3`` and, when
    asked, the quantity ordered, which is twice the base when the customer's trend is up."""
    rng = np.random.default_rng(seed)
    frame = pl.DataFrame({f: rng.uniform(0.0, 10.0, n) for f in QUANTITY_FEATURES})
    frame = frame.with_columns(
        pl.Series("q_med3", rng.integers(1, 20, n).astype(np.float64)),
        pl.lit(5.0).alias("p_q_median"),
        pl.lit(1, dtype=pl.Int8).alias("seen"),
    )
    if with_actual:
        factor = np.where(frame["q_trend"].to_numpy() > 5.0, 2.0, 1.0)
        frame = frame.with_columns(pl.Series("q_actual", frame["q_med3"].to_numpy() * factor))
    return frame


def test_predict_before_fit_raises_not_fitted() -> None:
    """An unfitted quantity model refuses to predict instead of falling back silently."""
    with pytest.raises(NotFittedError):
        QuantityModel().predict(_rows(3))


def test_not_fitted_error_is_a_value_and_attribute_error() -> None:
    """NotFittedError is caught like scikit-learn's (ValueError and AttributeError)."""
    assert issubclass(NotFittedError, ValueError)
    assert issubclass(NotFittedError, AttributeError)


def test_without_examples_the_base_is_a_named_fitted_state() -> None:
    """With no ordered quantities to learn from, the fitted model says ``source_ == "base"``
    and predicts exactly the base quantity."""
    rows = _rows(20, with_actual=False)
    model = QuantityModel().fit(rows, rows)
    assert model.source_ == "base"
    assert model.correction_ is None
    expected = rows.select(base_quantity()).to_series().to_numpy()
    np.testing.assert_array_equal(model.predict(rows), expected)


def test_too_few_lines_keep_the_base() -> None:
    """Fewer training lines than ``min_train_lines``: the base is kept, however learnable."""
    rows = _rows(100)
    model = QuantityModel(QuantityParams(min_train_lines=101)).fit(rows, rows)
    assert model.source_ == "base"


def test_a_learnable_correction_is_kept_and_lowers_the_error() -> None:
    """When the ordered quantity is twice the base for half the rows, the correction is kept
    (``source_ == "corrected"``) and its validation WAPE is below the base's."""
    model = QuantityModel(QuantityParams(n_estimators=50)).fit(_rows(2000, 1), _rows(500, 2))
    assert model.source_ == "corrected"
    assert model.valid_wape_model_ < model.valid_wape_base_
    test = _rows(500, 3)
    predicted = model.predict(test)
    base = test.select(base_quantity()).to_series().to_numpy()
    actual = test["q_actual"].to_numpy()
    assert wape(predicted, actual) < wape(base, actual)


def test_params_are_stored_as_given_and_resolved_in_fit() -> None:
    """``params`` stays what the caller gave (None); ``params_`` holds the values in force."""
    model = QuantityModel()
    assert model.params is None
    rows = _rows(10, with_actual=False)
    model.fit(rows, rows)
    assert model.params is None
    assert model.params_ == QuantityParams()


@pytest.mark.parametrize(
    "bad", [{"n_estimators": 0}, {"feature_fraction": 0.0}, {"threads": 0}, {"min_valid_lines": 0}]
)
def test_params_validate_themselves(bad: dict[str, float]) -> None:
    """Out-of-range knobs are refused when the parameters are made, naming the knob."""
    with pytest.raises(ValueError, match=next(iter(bad))):
        QuantityParams(**bad)  # type: ignore[arg-type]


def test_wape_is_the_absolute_error_over_the_actual_total() -> None:
    """WAPE = Σ|predicted − actual| / Σ actual, exactly."""
    assert wape(np.array([1.0, 3.0]), np.array([2.0, 2.0])) == pytest.approx(0.5)
    assert np.isnan(wape(np.array([1.0]), np.array([0.0])))


def test_rounding_to_packs_units_or_not_at_all() -> None:
    """A customer who buys in packs gets whole packs (never 0), one who buys whole units
    whole units, and one whose quantities are fractional keeps its quantity."""
    frame = pl.DataFrame(
        {
            "q": [13.0, 2.0, 2.4, 2.4],
            "pack": [12.0, 12.0, 1.0, 1.0],
            "pack_share_cp": [0.9, 0.9, 0.0, 0.0],
            "int_share_cp": [1.0, 1.0, 1.0, 0.2],
        }
    )
    out = frame.select(rounded(pl.col("q"))).to_series().to_list()
    assert out == [12.0, 12.0, 2.0, 2.4]


def test_selling_multiples_find_the_largest_common_multiple() -> None:
    """A product bought in 12, 24 and 48 is sold in 12s; one bought in 1, 2, 3 has none."""
    lines = pl.DataFrame(
        {
            "p": [0] * 6 + [1] * 6,
            "q": [12.0, 24.0, 48.0, 12.0, 24.0, 36.0, 1.0, 2.0, 3.0, 1.0, 2.0, 3.0],
        }
    )
    packs = selling_multiples(lines)
    assert packs.to_dicts() == [{"p": 0, "pack": 12}]
