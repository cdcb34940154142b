"""The canonical tables of CONTRACTS.md as typed schemas.

A schema says which columns a table has, their types, which are required, the value rules and
the keys. It is pure data: `salescope.data.io` applies it to files, vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import polars as pl

from salescope.domain.statuses import (
    CustomerStatus,
    InteractionMode,
    LineKind,
    PromotionMechanic,
    RepRole,
)


class ColumnType(StrEnum):
    STRING = "string"
    FLOAT = "float"
    INT = "int"
    DATE = "date"
    BOOL = "bool"
    PERIOD = "period"  # YYYY-MM or YYYY, kept as a string

    @property
    def polars(self) -> pl.DataType:
        return {
            ColumnType.STRING: pl.String(),
            ColumnType.FLOAT: pl.Float64(),
            ColumnType.INT: pl.Int64(),
            ColumnType.DATE: pl.Date(),
            ColumnType.BOOL: pl.Boolean(),
            ColumnType.PERIOD: pl.String(),
        }[self]


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a canonical table.

    ``required`` means the column must be present and every value filled. Bounds apply to
    numbers; ``positive`` means strictly greater than zero.
    """

    name: str
    type: ColumnType
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    positive: bool = False
    choices: tuple[str, ...] | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class TableSchema:
    """A canonical table: its columns, unique key and rules between columns."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    date_ranges: tuple[tuple[str, str], ...] = ()
    # (dependent, determinant): each value of `determinant` has one value of `dependent`.
    functional: tuple[tuple[str, str], ...] = ()
    # (smaller, larger): smaller <= larger where both are present.
    not_above: tuple[tuple[str, str], ...] = ()
    # columns that must be filled together or left empty together
    together: tuple[tuple[str, ...], ...] = ()
    keep_extra: bool = False
    description: str = ""
    _by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {c.name: c for c in self.columns})

    def __getitem__(self, name: str) -> Column:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def polars_schema(self) -> dict[str, pl.DataType]:
        return {c.name: c.type.polars for c in self.columns}

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.polars_schema())


S, F, INT, D, B, P = (
    ColumnType.STRING,
    ColumnType.FLOAT,
    ColumnType.INT,
    ColumnType.DATE,
    ColumnType.BOOL,
    ColumnType.PERIOD,
)


def _values(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(m.value for m in enum)


ORDERS = TableSchema(
    name="orders",
    description="Order lines: one product in one order of one customer.",
    columns=(
        Column("customer_id", S, required=True),
        Column("order_id", S, required=True),
        Column("order_date", D, required=True),
        Column("product_id", S, required=True),
        Column("quantity", F, required=True, positive=True, description="selling units"),
        Column("amount", F, minimum=0.0, description="net value of the line"),
        Column("unit_price", F, minimum=0.0),
        Column("promotion_id", S),
        Column("channel", S),
    ),
    functional=(("customer_id", "order_id"), ("order_date", "order_id")),
)

CUSTOMERS = TableSchema(
    name="customers",
    description="Served customers and the market universe (prospects).",
    columns=(
        Column("customer_id", S, required=True),
        Column("name", S),
        Column("address", S),
        Column("city", S),
        Column("region", S),
        Column("latitude", F, minimum=-90.0, maximum=90.0),
        Column("longitude", F, minimum=-180.0, maximum=180.0),
        Column("channel", S, description="store type"),
        Column("chain", S),
        Column("status", S, choices=_values(CustomerStatus)),
        Column("rep_id", S),
        Column("interaction_mode", S, choices=_values(InteractionMode)),
        Column("visits_per_month", F, minimum=0.0),
    ),
    key=("customer_id",),
    together=(("latitude", "longitude"),),
    keep_extra=True,
)

PRODUCTS = TableSchema(
    name="products",
    description="Our products and competitors'.",
    columns=(
        Column("product_id", S, required=True),
        Column("name", S),
        Column("category", S),
        Column("brand", S),
        Column("vendor", S),
        Column("own", B),
        Column("pack_size", F, positive=True),
        Column("unit_price", F, minimum=0.0),
        Column("unit_cost", F, minimum=0.0),
        Column("launch_date", D),
        Column("active", B),
    ),
    key=("product_id",),
    keep_extra=True,
)

PROMOTIONS = TableSchema(
    name="promotions",
    columns=(
        Column("promotion_id", S, required=True),
        Column("start_date", D, required=True),
        Column("end_date", D, required=True),
        Column("product_id", S, description="empty = all products"),
        Column("category", S),
        Column("segment", S),
        Column("region", S),
        Column("mechanic", S, choices=_values(PromotionMechanic)),
        Column("value", F, minimum=0.0),
        Column("cost_per_use", F, minimum=0.0),
        Column("budget_uses", F, minimum=0.0),
    ),
    key=("promotion_id",),
    date_ranges=(("start_date", "end_date"),),
)

OBJECTIVES = TableSchema(
    name="objectives",
    description="What the business wants sold, per segment, region or channel.",
    columns=(
        Column("product_id", S, required=True),
        Column("weight", F, required=True, minimum=0.0),
        Column("segment", S),
        Column("region", S),
        Column("channel", S),
        Column("start_date", D),
        Column("end_date", D),
    ),
    key=("product_id", "segment", "region", "channel", "start_date"),
    date_ranges=(("start_date", "end_date"),),
)

REPS = TableSchema(
    name="reps",
    columns=(
        Column("rep_id", S, required=True),
        Column("latitude", F, required=True, minimum=-90.0, maximum=90.0),
        Column("longitude", F, required=True, minimum=-180.0, maximum=180.0),
        Column("capacity_minutes", F, required=True, minimum=0.0),
        Column("name", S),
        Column("region", S),
        Column("role", S, choices=_values(RepRole)),
    ),
    key=("rep_id",),
)

MARKET = TableSchema(
    name="market",
    description="Observed total category purchases of some shops, all suppliers together.",
    columns=(
        Column("customer_id", S, required=True),
        Column("period", P, required=True),
        Column("total_amount", F, required=True, minimum=0.0),
        Column("category", S),
        Column("own_amount", F, minimum=0.0),
        Column("source", S),
    ),
    key=("customer_id", "period", "category"),
    not_above=(("own_amount", "total_amount"),),
)

VISITS = TableSchema(
    name="visits",
    description="Visits and contacts made to customers.",
    columns=(
        Column("customer_id", S, required=True),
        Column("visit_date", D, required=True),
        Column("rep_id", S),
        Column("duration_minutes", F, minimum=0.0),
        Column("mode", S, choices=_values(InteractionMode)),
    ),
)

#: One proposal: a customer's next order on a date. Its lines are keyed by ``LINE_KEY``; the
#: targets, the proposals written and read back, the feedback and the stored proposals all use
#: these two keys.
PROPOSAL_KEY: tuple[str, ...] = ("customer_id", "order_date")
LINE_KEY: tuple[str, ...] = (*PROPOSAL_KEY, "product_id")

TARGETS = TableSchema(
    name="targets",
    description="Customers and dates to propose the next order for.",
    columns=(
        Column("customer_id", S, required=True),
        Column("order_date", D, required=True),
    ),
    key=PROPOSAL_KEY,
)

PROPOSALS = TableSchema(
    name="proposals",
    description="Proposed order lines (the output of salescope next-orders, which carries the "
    "date each proposal is for), read back by salescope feedback. Other columns are ignored.",
    columns=(
        Column("customer_id", S, required=True),
        Column("rank", INT, required=True, minimum=1, description="1 = first line"),
        Column("product_id", S, required=True),
        Column("kind", S, required=True, choices=_values(LineKind)),
        Column("probability", F, required=True, minimum=0.0, maximum=1.0),
        Column("quantity", F, required=True, positive=True, description="selling units"),
        Column("promotion_id", S),
        Column("reason", S),
        Column("order_date", D, required=True, description="the date the proposal is for"),
        Column(
            "model_probability",
            F,
            minimum=0.0,
            maximum=1.0,
            description="the engine's probability before acceptance calibration (novelties)",
        ),
    ),
    key=LINE_KEY,
)

ASSIGN_CUSTOMERS = TableSchema(
    name="customers",
    description="Customers to assign to reps (salescope assign).",
    columns=(
        Column("customer_id", S, required=True),
        Column("latitude", F, required=True, minimum=-90.0, maximum=90.0),
        Column("longitude", F, required=True, minimum=-180.0, maximum=180.0),
        Column("workload_minutes", F, required=True, minimum=0.0),
        Column("rep_id", S),
        Column("priority", F, minimum=0.0),
        Column("region", S),
    ),
    key=("customer_id",),
)

TABLES: dict[str, TableSchema] = {
    t.name: t for t in (ORDERS, CUSTOMERS, PRODUCTS, PROMOTIONS, OBJECTIVES, REPS, MARKET, VISITS)
}
"""The canonical tables a data directory holds, by name."""

LINE_OUTCOMES: dict[str, pl.DataType] = {
    "proposal_line_id": pl.Int64(),
    "customer_id": pl.String(),
    "order_date": pl.Date(),
    "order_id": pl.String(),
    "ordered_on": pl.Date(),
    "product_id": pl.String(),
    "kind": pl.String(),
    "outcome": pl.String(),
    "proposed_quantity": pl.Float64(),
    "ordered_quantity": pl.Float64(),
    "probability": pl.Float64(),
    "model_probability": pl.Float64(),
    "promotion_id": pl.String(),
}
"""What a customer's order did with each line of its proposal (feedback), one row per
(customer_id, order_date, product_id): ``order_date`` is the date of the proposal, ``ordered_on``
that of the order that answered it, ``outcome`` a ``LineOutcome``; a product the customer added
has no kind, proposed quantity or probabilities. ``probability`` is the one shown,
``model_probability`` the engine's before acceptance calibration; ``proposal_line_id`` is the
stored proposal line, when there is one."""

RESTING: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "product_id": pl.String(),
    "rejections_in_a_row": pl.Int64(),
    "last_rejected_on": pl.Date(),
    "rest_until": pl.Date(),
}
"""Novelties a customer turned down: the current run of rejections of a product, the last one,
and the day it may be offered again (null: it never rested)."""
