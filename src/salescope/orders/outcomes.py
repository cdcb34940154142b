"""Feedback on proposals: what the customer's real order did with each proposed line, and which
products rest because the customer keeps turning them down.

* **Matching.** A proposal is the order proposed to one customer for one date
  (``customer_id, order_date``). The order that answers it is the customer's first order
  dated on or after the proposal's date and within ``window_days`` of it — and before the
  customer's next proposal, which supersedes it, so that one order never answers two
  proposals. An order is a customer's day, as the engine learns it (``orders.history``): the
  order ids placed that day (an invoice split in two, a top-up) answer together, named by the
  smallest. A proposal without such an order is *pending*: it gets
  no outcome rows, and a later order may still answer it.
* **Outcomes**, line by line (``salescope.domain.statuses.LineOutcome``): a proposed product the
  order holds is ``accepted`` when the ordered quantity is within ``max(tolerance_units,
  tolerance_share x proposed)`` of the proposed one, else ``quantity_changed``; a proposed
  product it lacks is ``removed``; a product it holds that was not proposed is ``added`` (by the
  customer; no kind, no probability).
* **Resting.** A novelty (a line whose kind is not ``usual``) that is removed extends the
  customer's run of rejections of that product; one that is taken (accepted, quantity changed)
  ends it. Each rejection that brings the run to ``rejections`` or more rests the product until
  ``rest_days`` after the order that turned it down: the engine does not offer it as a novelty
  before then.

Pure computation on frames (no database, no files), vectorised with Polars.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from salescope.domain import schemas
from salescope.domain.schemas import LINE_OUTCOMES, RESTING
from salescope.domain.statuses import LineKind, LineOutcome

PROPOSAL_KEY = list(schemas.PROPOSAL_KEY)
"""A proposal: the order proposed to one customer for one date."""
LINE_KEY = list(schemas.LINE_KEY)
"""A line of a proposal, and the key of its outcome."""
PAIR = ["customer_id", "product_id"]
"""What rests: a product for a customer."""
TAKEN: tuple[str, ...] = tuple(o.value for o in LineOutcome if o.taken)
"""Outcomes of a proposed line that the customer ordered (accepted, quantity changed)."""

OUTCOME_SCHEMA = LINE_OUTCOMES
"""Columns of an outcomes frame (``salescope.domain.schemas.LINE_OUTCOMES``)."""
RESTING_SCHEMA = RESTING
"""Columns of a resting frame (``salescope.domain.schemas.RESTING``)."""

_OPTIONAL_PROPOSAL_COLUMNS: dict[str, pl.DataType] = {
    "id": pl.Int64(),
    "model_probability": pl.Float64(),
    "promotion_id": pl.String(),
}


@dataclass(frozen=True, slots=True)
class MatchSummary:
    """What matching found: proposals answered by an order or still pending, and outcome
    lines by ``LineOutcome`` value (every value present, zero when none)."""

    proposals: int
    answered: int
    pending: int
    lines: dict[str, int]


def _with_optional(proposals: pl.DataFrame) -> pl.DataFrame:
    missing = {c: t for c, t in _OPTIONAL_PROPOSAL_COLUMNS.items() if c not in proposals.columns}
    return proposals.with_columns(pl.lit(None, dtype=t).alias(c) for c, t in missing.items())


def answering_orders(
    proposals: pl.DataFrame, orders: pl.DataFrame, *, window_days: int = 14
) -> pl.DataFrame:
    """For each proposal (distinct ``customer_id, order_date`` of ``proposals``), the order
    that answers it: ``customer_id, order_date, order_id, ordered_on`` (null order when
    pending). See the module docstring for the rule."""
    if window_days < 0:
        raise ValueError(f"window_days must be at least 0, not {window_days}")
    keys = (
        proposals.select(PROPOSAL_KEY)
        .unique()
        .sort(PROPOSAL_KEY)
        .with_columns(
            pl.min_horizontal(
                pl.col("order_date") + pl.duration(days=window_days),
                pl.col("order_date").shift(-1).over("customer_id") - pl.duration(days=1),
            ).alias("_window_end")
        )
    )
    # One order per customer and day, named by its smallest id.
    heads = (
        orders.group_by("customer_id", "order_id")
        .agg(pl.col("order_date").min().alias("ordered_on"))
        .sort("customer_id", "ordered_on", "order_id")
        .unique(["customer_id", "ordered_on"], keep="first", maintain_order=True)
    )
    matched = keys.sort("order_date").join_asof(
        heads.sort("ordered_on"),
        left_on="order_date",
        right_on="ordered_on",
        by="customer_id",
        strategy="forward",
        check_sortedness=False,
    )
    in_window = pl.col("ordered_on") <= pl.col("_window_end")
    return matched.select(
        *PROPOSAL_KEY,
        pl.when(in_window).then(pl.col("order_id")).alias("order_id"),
        pl.when(in_window).then(pl.col("ordered_on")).alias("ordered_on"),
    ).sort(PROPOSAL_KEY)


def match_outcomes(
    proposals: pl.DataFrame,
    orders: pl.DataFrame,
    *,
    window_days: int = 14,
    tolerance_units: float = 0.5,
    tolerance_share: float = 0.10,
) -> tuple[pl.DataFrame, MatchSummary]:
    """Match the orders customers placed against the proposals, line by line.

    ``proposals``: lines with ``customer_id, order_date, product_id, kind, probability,
    quantity`` and optionally ``model_probability``, ``promotion_id`` and ``id`` (the stored
    line's id). ``orders``: canonical order lines (``customer_id, order_id, order_date,
    product_id, quantity``); repeated lines of a product in one order are summed. Returns the
    outcome rows of the answered proposals (``OUTCOME_SCHEMA``, sorted by customer, proposal
    date, product) and a summary.
    """
    proposals = _with_optional(proposals)
    answers = answering_orders(proposals, orders, window_days=window_days)
    answered = answers.filter(pl.col("order_id").is_not_null())
    proposed = proposals.join(answered, on=PROPOSAL_KEY, how="inner").select(
        *LINE_KEY,
        "order_id",
        "ordered_on",
        pl.col("id").alias("proposal_line_id"),
        "kind",
        pl.col("quantity").alias("proposed_quantity"),
        "probability",
        "model_probability",
        "promotion_id",
    )
    ordered = (
        orders.join(
            answered.select("customer_id", "ordered_on"),
            left_on=["customer_id", "order_date"],
            right_on=["customer_id", "ordered_on"],
        )
        .group_by("customer_id", "order_date", "product_id")
        .agg(pl.col("quantity").sum().alias("ordered_quantity"))
        .rename({"order_date": "ordered_on"})
        .join(answered, on=["customer_id", "ordered_on"])
    )
    lines = proposed.join(
        ordered,
        on=[*LINE_KEY, "order_id", "ordered_on"],
        how="full",
        coalesce=True,
    )
    gap = (pl.col("ordered_quantity") - pl.col("proposed_quantity")).abs()
    allowed = pl.max_horizontal(
        pl.lit(tolerance_units), tolerance_share * pl.col("proposed_quantity")
    )
    outcome = (
        pl.when(pl.col("proposed_quantity").is_null())
        .then(pl.lit(LineOutcome.ADDED.value))
        .when(pl.col("ordered_quantity").is_null())
        .then(pl.lit(LineOutcome.REMOVED.value))
        .when(gap <= allowed)
        .then(pl.lit(LineOutcome.ACCEPTED.value))
        .otherwise(pl.lit(LineOutcome.QUANTITY_CHANGED.value))
    )
    frame = (
        lines.with_columns(outcome.alias("outcome"))
        .select(pl.col(c).cast(t) for c, t in OUTCOME_SCHEMA.items())
        .sort(LINE_KEY)
    )
    counts = dict(frame.group_by("outcome").len().iter_rows())
    summary = MatchSummary(
        proposals=answers.height,
        answered=answered.height,
        pending=answers.height - answered.height,
        lines={o.value: int(counts.get(o.value, 0)) for o in LineOutcome},
    )
    return frame, summary


def novelty_events(outcomes: pl.DataFrame) -> pl.DataFrame:
    """The outcomes of proposed novelty lines (kind other than ``usual``), with ``taken``
    and ``rejected``. An extension or objective line is taken when the product was ordered
    (possibly in another quantity) and rejected when removed; a development line proposes
    *more* of a product the customer buys anyway, so it is taken only when the larger
    quantity was ordered (accepted, or at least the proposed quantity) and rejected otherwise."""
    development = pl.col("kind") == LineKind.DEVELOPMENT.value
    larger = pl.col("outcome") == LineOutcome.ACCEPTED.value
    if {"ordered_quantity", "proposed_quantity"} <= set(outcomes.columns):
        larger = larger | (pl.col("ordered_quantity").fill_null(0.0) >= pl.col("proposed_quantity"))
    taken = pl.when(development).then(larger).otherwise(pl.col("outcome").is_in(TAKEN))
    return (
        outcomes.filter(
            pl.col("kind").is_not_null()
            & (pl.col("kind") != LineKind.USUAL.value)
            & (pl.col("outcome") != LineOutcome.ADDED.value)
        )
        .with_columns(taken.fill_null(False).alias("taken"))
        .with_columns(
            pl.when(development)
            .then(~pl.col("taken"))
            .otherwise(pl.col("outcome") == LineOutcome.REMOVED.value)
            .alias("rejected")
        )
    )


def next_resting(
    outcomes: pl.DataFrame,
    resting: pl.DataFrame,
    *,
    rest_days: int = 90,
    rejections: int = 2,
) -> pl.DataFrame:
    """The resting state, after ``outcomes``, of every (customer, product) whose novelty line
    they hold (``RESTING_SCHEMA``; other pairs are unchanged and not returned).

    ``resting`` is the stored state (``RESTING_SCHEMA``; pairs absent have no rejection yet).
    The outcomes of a pair are taken in the order of the orders that answered them, so several
    proposals in one batch count as they happened. Pass each outcome once: counting the same
    rejection twice would rest a product the customer turned down only once.
    """
    if rejections < 1:
        raise ValueError(f"rejections must be at least 1, not {rejections}")
    if rest_days < 0:
        raise ValueError(f"rest_days must be at least 0, not {rest_days}")
    stored = resting.select(
        *PAIR,
        pl.col("rejections_in_a_row").cast(pl.Int64).alias("_run0"),
        pl.col("last_rejected_on").cast(pl.Date).alias("_last0"),
        pl.col("rest_until").cast(pl.Date).alias("_until0"),
    )
    events = (
        novelty_events(outcomes)
        .select(*PAIR, "ordered_on", "order_date", "rejected")
        .sort(*PAIR, "ordered_on", "order_date")
        .join(stored, on=PAIR, how="left", maintain_order="left")
    )
    # A take starts a new run: runs are numbered by the takes so far; before the first take
    # the stored run goes on.
    run_no = (~pl.col("rejected")).cast(pl.Int64).cum_sum().over(PAIR)
    events = events.with_columns(run_no.alias("_run_no")).with_columns(
        (
            pl.col("rejected").cast(pl.Int64).cum_sum().over([*PAIR, "_run_no"])
            + pl.when(pl.col("_run_no") == 0).then(pl.col("_run0").fill_null(0)).otherwise(0)
        ).alias("_run")
    )
    rests = pl.col("rejected") & (pl.col("_run") >= rejections)
    return (
        events.group_by(PAIR, maintain_order=True)
        .agg(
            pl.col("_run").last().alias("rejections_in_a_row"),
            pl.max_horizontal(
                pl.col("ordered_on").filter(pl.col("rejected")).max(), pl.col("_last0").first()
            ).alias("last_rejected_on"),
            pl.max_horizontal(
                (pl.col("ordered_on") + pl.duration(days=rest_days)).filter(rests).max(),
                pl.col("_until0").first(),
            ).alias("rest_until"),
        )
        .select(pl.col(c).cast(t) for c, t in RESTING_SCHEMA.items())
        .sort(PAIR)
    )
