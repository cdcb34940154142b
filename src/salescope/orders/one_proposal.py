"""One target's lines without a query: ``builder.to_lines`` of a serving request.

A request holds one customer and one date: its few hundred candidate rows are ordered with
one NumPy ``lexsort``, the proposal is cut at the best expected F1, and only the chosen
rows' reasons are written, in Python, with the words and numbers ``builder.reasons`` gives
(integers rounded half to even, as Polars rounds). Whatever this path cannot say exactly as
the query does — several targets, NaN or null probabilities and scores, a value a reason
rounds that is not finite, a code without an identifier — returns None, and
``builder.lines_query`` makes the lines. ``tests/orders/test_one_proposal.py`` holds the
two to the same lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from salescope.domain.statuses import LineKind
from salescope.orders.requests import float_values

_NO_SCORE = -1e9  # ``lines_query`` fills a missing score with it
_SAID = (
    "p",
    "reason",
    "seen",
    "n_cp",
    "c_orders",
    "gap_days_cp",
    "days_since_cp",
    "nb_share",
    "_kind",
    "_target_id",
)
"""The columns the chosen rows' reasons, kinds and identifiers are made of."""
_USUAL = LineKind.USUAL.value
_EXTENSION = LineKind.EXTENSION.value


def _whole(x: float | None) -> int | None:
    """``round(0).cast(Int64)`` of a value; None for a null (a NaN or an infinity is left to
    the query: the cast fails there)."""
    if x is None:
        return None
    if not math.isfinite(x):
        raise _UnsayableError
    return round(x)


class _UnsayableError(Exception):
    """A row's reason depends on a value this path does not write as the query does."""


def _interval(days: float | None) -> str | None:
    """``builder._interval``: '9 days', '3 weeks', '2 months'."""
    if days is None:
        return None
    if not math.isfinite(days):
        raise _UnsayableError
    if days < 1.5:
        return "day"
    if days < 13.5:
        return f"{_whole(days)} days"
    if days < 60:
        w = _whole(days / 7.0)
        return "week" if w == 1 else f"{w} weeks"
    m = _whole(days / 30.4)
    return "month" if m == 1 else f"{m} months"


def _ago(days: float | None) -> str | None:
    """``builder._ago``: 'today', 'yesterday', '5 days ago'."""
    d = _whole(days)
    if d is None:
        return None
    if d <= 0:
        return "today"
    if d == 1:
        return "yesterday"
    return f"{d} days ago"


def _joined(*parts: str | None) -> str | None:
    """``concat_str`` of parts: null when one is."""
    if any(part is None for part in parts):
        return None
    return "".join(parts)  # type: ignore[arg-type]


def _reason(row: dict[str, Any], note: str | None) -> str | None:
    """``builder.reasons`` of one row (and the ranking's note)."""
    seen = row.get("seen") == 1
    n_cp = row.get("n_cp")
    if seen and n_cp is not None and n_cp >= 2:
        every = _joined(
            "orders it every ",
            _interval(row.get("gap_days_cp")),
            ", last time ",
            _ago(row.get("days_since_cp")),
        )
        c_orders = row.get("c_orders")
        share = (
            None
            if c_orders is None
            else f"; in {_integer(n_cp)} of its last {_integer(c_orders)} orders"
        )
        said = _joined(every, share)
    elif seen:
        said = _joined("ordered it once, ", _ago(row.get("days_since_cp")))
    else:
        share = row.get("nb_share")
        pct = None if share is None else _whole(share * 100)
        said = None if pct is None else f"{pct} % of the most similar customers buy it"
    return said if note is None else _joined(said, f"; {note}")


def _integer(value: Any) -> str:
    """An integer column's value as ``pl.format`` writes it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _UnsayableError
    return str(value)


def _lapsed_note(silent: float | None, rhythm: float | None) -> str | None:
    """The prefix of a lapsed customer's reasons."""
    days = _whole(silent)
    if days is None:
        return None
    if rhythm is None:
        return f"no order for {days} days, ordered once before: lapsed, check first; "
    every = _interval(rhythm)
    return _joined(f"no order for {days} days, usually every ", every, ": lapsed, check first; ")


def _floats(frame: pl.DataFrame, name: str) -> np.ndarray | None:
    """A Float64 column without nulls or NaN as an array, else None."""
    column = frame.get_column(name)
    if column.dtype != pl.Float64 or column.null_count():
        return None
    values = column.to_numpy()
    return None if np.isnan(values).any() else values


def _group_max(frame: pl.DataFrame, name: str) -> Any:
    """``max`` of a column over the frame (nulls ignored; NaN left to the query)."""
    if name not in frame.columns:
        return None
    column = frame.get_column(name)
    if column.dtype.is_float() and int(np.isnan(column.to_numpy()).sum()) != column.null_count():
        raise _UnsayableError  # a NaN, not a null
    return column.max()


def _ids(table: pl.DataFrame, code: str, name: str, codes: list[int]) -> list[Any]:
    """``name`` of each code of ``table`` (one row per code, in code order)."""
    at = np.asarray(codes, dtype=np.int64)
    if len(at) and (at.max() >= table.height or at.min() < 0):
        raise _UnsayableError
    if not np.array_equal(table.get_column(code).to_numpy()[at], at):
        raise _UnsayableError
    found: list[Any] = table.get_column(name)[at].to_list()
    return found


@dataclass(frozen=True, slots=True)
class _Rows:
    """What the choice of one target's lines reads of its rows, as arrays."""

    probability: np.ndarray
    score: np.ndarray  # nulls as ``_NO_SCORE``
    quantity: np.ndarray  # nulls as 1
    source: np.ndarray
    product: np.ndarray
    customer: int | None
    lapsed: bool
    silent: Any  # the longest time since the customer's last order (days)
    rhythm: Any  # its usual interval (days)


def _rows(frame: pl.DataFrame) -> _Rows | None:
    """The arrays of a frame holding one target's rows, or None (left to the query)."""
    if frame.height == 0:
        return None
    keys, customer = frame.get_column("_key"), frame.get_column("c")
    if keys.null_count() or keys.min() != keys.max():
        return None
    nulls = customer.null_count()
    if nulls not in (0, frame.height) or (nulls == 0 and customer.min() != customer.max()):
        return None
    probability = _floats(frame, "probability")
    score = float_values(frame, "score", _NO_SCORE)
    quantity = float_values(frame, "quantity", 1.0)
    source, product = frame.get_column("_src"), frame.get_column("p")
    if probability is None or score is None or quantity is None:
        return None
    if source.null_count() or product.null_count():
        return None
    try:
        lapsed = bool(_group_max(frame, "lapsed") or False)
        silent, rhythm = _group_max(frame, "days_since_c"), _group_max(frame, "c_gap")
    except _UnsayableError:
        return None
    return _Rows(
        probability,
        score,
        quantity,
        source.to_numpy(),
        product.to_numpy().astype(np.int64),
        None if nulls else int(customer.item(0)),
        lapsed,
        silent,
        rhythm,
    )


def _owned(rows: _Rows, bought: pl.DataFrame) -> np.ndarray:
    """Whether the customer bought each row's product (``bought``: ``c, p``)."""
    c = rows.customer
    if c is None or bought.height == 0:
        return np.zeros(len(rows.product), dtype=bool)
    theirs = bought.get_column("c")
    if theirs.null_count() == 0 and theirs.min() == c and theirs.max() == c:
        products = bought.get_column("p")
    else:
        products = bought.filter(pl.col("c") == c).get_column("p")
    return np.isin(rows.product, products.to_numpy())


def _chosen(
    rows: _Rows,
    owned: np.ndarray,
    *,
    mode: str,
    top: int | None,
    max_novelties: int,
    lapsed_lines: int,
) -> np.ndarray:
    """The chosen rows, in the lines' order: source, score (highest first), probability
    (highest first), product."""
    p, score, src, probability = rows.product, rows.score, rows.source, rows.probability
    order = np.lexsort((p, -probability, -score, src))
    if mode == "rank":
        return order[: 10 if top is None else top]
    if owned.any():
        # the usual products by probability (ties: source, score, product), cut at the best
        # expected F1; a lapsed customer's first few
        usual = np.flatnonzero(owned)
        usual = usual[np.lexsort((p[usual], -score[usual], src[usual], -probability[usual]))]
        values = probability[usual]
        total = float(pl.Series(values).sum())  # as the query sums (not NumPy's pairs)
        k = np.arange(1, len(usual) + 1)
        gain = 2.0 * np.cumsum(values) / (k + total)
        kept = usual[: int(k[gain == gain.max()].min())]
        if rows.lapsed:
            kept = kept[:lapsed_lines]
        chosen = order[np.isin(order, kept)]
    else:
        chosen = order[:max_novelties]
    return chosen if top is None else chosen[:top]


def _labels(
    picked: pl.DataFrame, rows: _Rows, ranked_by: str
) -> tuple[list[str | None], list[Any], list[Any]]:
    """The reasons, product identifiers' codes and kinds of the chosen rows ``picked``."""
    from salescope.orders.builder import RANKED_BY_NOTE

    note = RANKED_BY_NOTE.get(ranked_by)
    prefix = _lapsed_note(rows.silent, rows.rhythm) if rows.lapsed else ""
    columns = {name: picked.get_column(name).to_list() for name in _SAID if name in picked.columns}
    said = columns.get("reason", [None] * picked.height)
    reasons = []
    for i, reason in enumerate(said):
        if reason is None:
            reason = _reason({name: values[i] for name, values in columns.items()}, note)
        reasons.append(_joined(prefix, reason))
    kinds = columns.get("_kind", [None] * picked.height)
    return reasons, columns["p"], kinds


def one_target_lines(
    frame: pl.DataFrame,
    *,
    mode: str,
    top: int | None,
    customer_ids: pl.DataFrame,
    product_ids: pl.DataFrame,
    bought: pl.DataFrame,
    max_novelties: int,
    lapsed_lines: int,
    ranked_by: str,
) -> pl.DataFrame | None:
    """``builder.to_lines`` of a frame holding one target's rows, or None when it holds
    several targets or values this path leaves to the query (see the module docstring)."""
    rows = _rows(frame)
    if rows is None:
        return None
    owned = _owned(rows, bought)
    chosen = _chosen(
        rows, owned, mode=mode, top=top, max_novelties=max_novelties, lapsed_lines=lapsed_lines
    )
    if len(chosen) == 0:
        return None
    picked = frame[chosen]
    try:
        reasons, codes, kinds = _labels(picked, rows, ranked_by)
        product_id = _ids(product_ids, "p", "product_id", codes)
        if rows.customer is None:
            customer_id = picked.get_column("_target_id").to_list()
        else:
            customer_id = _ids(customer_ids, "c", "customer_id", [rows.customer]) * len(chosen)
    except _UnsayableError:
        return None
    mine = owned[chosen]
    values = np.clip(rows.probability[chosen], 0.0, 1.0)
    n = len(chosen)
    return pl.DataFrame(
        [
            pl.Series("customer_id", customer_id, dtype=pl.String),
            pl.Series("rank", np.arange(1, n + 1), dtype=pl.Int64),
            pl.Series("product_id", product_id, dtype=product_ids.schema["product_id"]),
            pl.Series(
                "kind",
                [
                    kind if kind is not None else (_USUAL if own else _EXTENSION)
                    for kind, own in zip(kinds, mine, strict=True)
                ],
                dtype=pl.String,
            ),
            pl.Series("probability", values, dtype=pl.Float64),
            pl.Series("quantity", np.maximum(rows.quantity[chosen], 1e-6), dtype=pl.Float64),
            pl.Series("promotion_id", [None] * n, dtype=pl.String),
            pl.Series("reason", reasons, dtype=pl.String),
            picked.get_column("t").alias("order_date"),
            pl.Series(
                "model_probability",
                np.where(mine, np.nan, values),
                dtype=pl.Float64,
                nan_to_null=True,
            ),
            pl.Series("lapsed", [rows.lapsed] * n, dtype=pl.Boolean),
        ]
    )
