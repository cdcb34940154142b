"""The economics and rules of coverage, as one dataclass loadable from TOML.

``salescope coverage --config coverage.toml`` reads the tables ``[coverage]`` (this
dataclass; its mappings as sub-tables ``[coverage.contact_minutes]``, ``[coverage.effect]``,
``[coverage.response]``), ``[wallet]`` (``WalletParams``) and ``[assign]`` (``AssignParams``).
Every value in force is echoed in ``summary.json``. Unknown keys and values out of range are
errors that name the file and the key.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from salescope.domain.statuses import InteractionMode

FloatArray = npt.NDArray[np.float64]

FIELD = InteractionMode.FIELD.value
VIDEO = InteractionMode.VIDEO.value
DIGITAL = InteractionMode.DIGITAL.value
AUTOMATIC = InteractionMode.AUTOMATIC.value
MERCHANDISER = InteractionMode.MERCHANDISER.value
WHOLESALER = InteractionMode.WHOLESALER.value

#: Minutes of one contact, by mode, when no visit durations are known. Shops served without rep
#: contact (digital, automatic, wholesaler) still get field checks of that length.
DEFAULT_CONTACT_MINUTES: dict[str, float] = {
    FIELD: 40.0,
    VIDEO: 20.0,
    MERCHANDISER: 60.0,
    DIGITAL: 40.0,
    AUTOMATIC: 40.0,
    WHOLESALER: 40.0,
}
#: Contacts a month that one unit of each mode is worth for the response curve: per visit or
#: call for field, merchandiser and video; in all for the three modes without regular contact.
DEFAULT_EFFECT: dict[str, float] = {
    FIELD: 1.0,
    MERCHANDISER: 1.3,
    VIDEO: 0.6,
    DIGITAL: 0.4,
    AUTOMATIC: 0.5,
    WHOLESALER: 0.3,
}


class ParamsError(ValueError):
    """A parameter file or value that cannot be used; ``key`` names the offending entry."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True, slots=True)
class ResponseCurve:
    """ADBUDG response of sales to contacts per month, as a share of the reachable sales."""

    floor: float = 0.5  # without any contact
    half_saturation: float = 1.0  # contacts per month giving half of the rest
    shape: float = 1.5

    def __post_init__(self) -> None:
        _check_range("response.floor", self.floor, 0.0, 1.0)
        _check_positive("response.half_saturation", self.half_saturation)
        _check_positive("response.shape", self.shape)

    def __call__(self, effect: FloatArray) -> FloatArray:
        f = np.maximum(np.asarray(effect, dtype=np.float64), 0.0) ** self.shape
        rest = f / (self.half_saturation**self.shape + f)
        return np.asarray(self.floor + (1.0 - self.floor) * rest, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class CoverageParams:
    """The economics and rules of the recommendations (every amount in the data's currency).

    Economics: ``margin_rate`` (gross margin on our sales; ``None``: from the products' unit
    costs, else ``default_margin_rate``), ``cost_per_minute`` (a rep's loaded cost),
    ``contact_minutes`` (minutes of one visit or call by mode), ``travel_speed_kmh`` and
    ``travel_share`` (share of a base ↔ shop round trip charged to one visit: reps chain their
    visits), ``horizon_years`` (one-off costs — opening an account, changing a shop's mode —
    are spread over it), ``capacity_share`` (share of the reps' ``capacity_minutes`` available
    for regular visits).

    Today's service, when customers do not say it: ``inferred_visit_grid`` (the visit
    frequencies a rep's visits are rounded to, from the shop's orders a month — a rep sees a
    shop about as often as it orders, within the grid), ``check_visits_per_month`` (field checks
    of shops on the digital platform, automatic replenishment or the wholesaler).
    """

    margin_rate: float | None = None
    default_margin_rate: float = 0.30
    cost_per_minute: float = 0.75
    travel_speed_kmh: float = 50.0
    travel_share: float = 0.5
    travel_in_capacity: float = 0.0  # share of travel time counted in capacity_minutes
    cycle_months: float = 1.0  # reps' capacity_minutes are per this many months
    capacity_share: float = 1.0
    horizon_years: float = 1.0
    response: ResponseCurve = field(default_factory=ResponseCurve)
    field_frequencies: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    video_frequencies: tuple[float, ...] = (1.0, 2.0)
    merchandiser_frequencies: tuple[float, ...] = (2.0, 4.0)
    check_visits_per_month: float = 1.0 / 6.0
    inferred_visit_grid: tuple[float, ...] = (0.5, 1.0, 2.0)
    effect: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_EFFECT))
    contact_minutes: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_CONTACT_MINUTES)
    )
    wholesaler_margin_cut: float = 0.15  # what the wholesaler keeps of our margin
    switch_cost_share: float = 0.10  # a change of mode costs this share of the yearly margin
    acquisition_minutes: float = 240.0  # rep time to open a new account (one-off)
    new_customer_ramp: float = 0.7  # first-year sales of a new customer / its steady sales
    ceiling_shrinkage: float = 0.2  # weight of the typical ceiling in a customer's own
    min_add_chance: float = 0.2
    max_ceiling: float = 0.9  # highest share of wallet reachable
    grow_competitor_share: float = 0.5
    low_quantile: float = 0.25  # drop: potential and sales both in this bottom share
    reduce_quantile: float = 0.5  # reduce: potential and sales both in this bottom share

    def __post_init__(self) -> None:
        if self.margin_rate is not None:
            _check_range("margin_rate", self.margin_rate, 0.0, 1.0)
        _check_range("default_margin_rate", self.default_margin_rate, 0.0, 1.0)
        for name in (
            "cost_per_minute",
            "travel_share",
            "travel_in_capacity",
            "switch_cost_share",
            "acquisition_minutes",
            "check_visits_per_month",
            "ceiling_shrinkage",
        ):
            _check_non_negative(name, getattr(self, name))
        for name in ("travel_speed_kmh", "cycle_months", "capacity_share", "horizon_years"):
            _check_positive(name, getattr(self, name))
        for name in (
            "wholesaler_margin_cut",
            "new_customer_ramp",
            "min_add_chance",
            "max_ceiling",
            "grow_competitor_share",
            "low_quantile",
            "reduce_quantile",
        ):
            _check_range(name, getattr(self, name), 0.0, 1.0)
        for name in (
            "field_frequencies",
            "video_frequencies",
            "merchandiser_frequencies",
            "inferred_visit_grid",
        ):
            values = getattr(self, name)
            if not values or any(not v > 0 for v in values):
                raise ParamsError(name, "must be a non-empty list of frequencies above 0")
        modes = {m.value for m in InteractionMode}
        for name in ("effect", "contact_minutes"):
            table = getattr(self, name)
            unknown = sorted(set(table) - modes)
            if unknown:
                raise ParamsError(
                    f"{name}.{unknown[0]}", f"unknown mode (known: {', '.join(sorted(modes))})"
                )
            missing = sorted(modes - set(table))
            if missing:
                raise ParamsError(f"{name}.{missing[0]}", "missing: every mode needs a value")
            for mode, value in table.items():
                _check_positive(f"{name}.{mode}", value)

    # -- loading and echoing ------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> CoverageParams:
        """Parameters from a mapping (a TOML table); mode tables complete the defaults."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ParamsError(unknown[0], f"unknown parameter (known: {', '.join(sorted(known))})")
        kwargs: dict[str, Any] = {}
        for name, value in values.items():
            if name == "response":
                if not isinstance(value, Mapping):
                    raise ParamsError("response", "must be a table")
                fields = {f.name for f in dataclasses.fields(ResponseCurve)}
                bad = sorted(set(value) - fields)
                if bad:
                    raise ParamsError(f"response.{bad[0]}", "unknown parameter")
                kwargs[name] = ResponseCurve(
                    **{k: _number(f"response.{k}", v) for k, v in value.items()}
                )
            elif name in ("effect", "contact_minutes"):
                if not isinstance(value, Mapping):
                    raise ParamsError(name, "must be a table of modes")
                defaults = DEFAULT_EFFECT if name == "effect" else DEFAULT_CONTACT_MINUTES
                kwargs[name] = dict(defaults) | {
                    str(k): _number(f"{name}.{k}", v) for k, v in value.items()
                }
            elif name.endswith(("frequencies", "grid")):
                if not isinstance(value, list):
                    raise ParamsError(name, "must be a list of numbers")
                kwargs[name] = tuple(_number(name, v) for v in value)
            elif name == "margin_rate" and value is None:
                kwargs[name] = None
            else:
                kwargs[name] = _number(name, value)
        return cls(**kwargs)

    def as_dict(self) -> dict[str, Any]:
        """The values in force, as plain JSON-ready data."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, ResponseCurve):
                value = dataclasses.asdict(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


@dataclass(frozen=True, slots=True)
class CoverageConfig:
    """What ``--config`` gives: the coverage, wallet and assignment parameters."""

    coverage: CoverageParams
    wallet: Any  # WalletParams
    assign: Any  # AssignParams
    path: Path | None = None


def load_config(path: Path | None) -> CoverageConfig:
    """The parameters of a TOML file (tables ``[coverage]``, ``[wallet]``, ``[assign]``), or
    the defaults. Raises ``ParamsError`` naming the key."""
    from salescope.coverage.assignment import AssignParams
    from salescope.coverage.wallet import WalletParams

    if path is None:
        return CoverageConfig(CoverageParams(), WalletParams(), AssignParams(time_limit_seconds=20))
    with Path(path).open("rb") as handle:
        try:
            data = tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            raise ParamsError("file", f"not valid TOML: {error}") from error
    unknown = sorted(set(data) - {"coverage", "wallet", "assign"})
    if unknown:
        raise ParamsError(unknown[0], "unknown table (known: [coverage], [wallet], [assign])")
    coverage = CoverageParams.from_mapping(_table(data, "coverage"))
    wallet_values = _table(data, "wallet")
    wallet_fields = {f.name for f in dataclasses.fields(WalletParams)}
    bad = sorted(set(wallet_values) - wallet_fields)
    if bad:
        raise ParamsError(f"wallet.{bad[0]}", "unknown parameter")
    try:
        wallet = WalletParams(**wallet_values)
        assign = AssignParams.from_mapping({"time_limit_seconds": 20.0, **_table(data, "assign")})
    except (TypeError, ValueError) as error:
        raise ParamsError("wallet/assign", str(error)) from error
    return CoverageConfig(coverage, wallet, assign, Path(path))


def _table(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        raise ParamsError(name, "must be a table")
    return value


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParamsError(name, f"must be a number, not {value!r}")
    return float(value)


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ParamsError(name, f"must be above 0, not {value!r}")


def _check_non_negative(name: str, value: float) -> None:
    if not value >= 0:
        raise ParamsError(name, f"must be 0 or more, not {value!r}")


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ParamsError(name, f"must be between {low:g} and {high:g}, not {value!r}")
