"""Training examples of the next-order engine: where the next orders are.

An *event* is one order of a customer the engine learns to predict (its label order), at its
own date ``t``, with everything the customer did before ``t`` as its own history and a shared
*anchor* date ``a <= t`` whose snapshot (other customers' vectors and neighbours, product
statistics) holds only what was known before ``a``. Two sources of events:

* **the customers' own sequences** — each customer's last ``label_orders`` orders (those with
  at least one order before them). They exist wherever customers have two orders, whatever the
  calendar: when every customer's next order falls at its own date, when activity thins out
  toward the end of the file, when dates are placeholders;
* **calendar cut-offs** where the data are dense — each customer's first order on or after
  each of the last few cut-offs (a step of the customers' usual interval apart).

An order that both sources name is one event. Anchors are the calendar cut-offs plus dates
spread over the events (quantiles), merged when closer than the step; each event takes the
latest anchor on or before its date, so its snapshot is as recent as it can be without
knowing the order. Each customer's most recent event is kept apart for validation (early
stopping, calibration, and choosing between the model and the baselines) — for every customer
by default, or a share of them drawn by a hash of their code.

Own histories use a look-back per customer, counted back from the customer's own last order
before the date, not from the end of the file: a customer whose orders ended years before the
others still has its history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from salescope.orders.history import order_table


@dataclass(frozen=True, slots=True)
class EventParams:
    """How training events are chosen (part of ``EngineParams``)."""

    label_orders: int = 4  # each customer's last orders used as labels
    calendar_cutoffs: int = 4  # calendar cut-offs before the end (a step apart)
    anchors: int = 4  # anchors spread over the events' dates (besides the calendar ones)
    validation_share: float = 1.0  # customers whose latest event validates
    max_event_lines: int = 10_000_000  # budget of the training events' history lines
    seed: int = 0

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be at least 1"
            for name in ("label_orders", "max_event_lines")
            if getattr(self, name) < 1
        ]
        problems += [
            f"{name} must not be negative"
            for name in ("calendar_cutoffs", "anchors")
            if getattr(self, name) < 0
        ]
        if not 0.0 <= self.validation_share <= 1.0:
            problems.append("validation_share must be in [0, 1]")
        if problems:
            raise ValueError("invalid EventParams: " + "; ".join(problems))


def own_window(lines: pl.DataFrame, lookback_days: int) -> pl.DataFrame:
    """The lines of each customer within ``lookback_days`` of its own last line in
    ``lines``."""
    last = pl.col("d").max().over("c")
    return lines.filter(pl.col("d") >= last - pl.duration(days=lookback_days))


def lines_before(lines: pl.DataFrame, targets: pl.DataFrame, lookback_days: int) -> pl.DataFrame:
    """The own history of each target (``c, t``, one per customer): the customer's lines
    before ``t``, within ``lookback_days`` of its last line before ``t``."""
    return own_window(
        lines.join(targets.select("c", "t"), on="c").filter(pl.col("d") < pl.col("t")).drop("t"),
        lookback_days,
    )


def snapshot_lines(lines: pl.DataFrame, anchor: dt.date, lookback_days: int) -> pl.DataFrame:
    """What a snapshot at ``anchor`` knows: every customer's lines before it, within
    ``lookback_days`` of its own last line before it."""
    return own_window(lines.filter(pl.col("d") < anchor), lookback_days)


def merge_anchors(dates: list[dt.date], min_gap_days: int) -> list[dt.date]:
    """Sorted unique ``dates`` without those closer than ``min_gap_days`` to the previous one
    kept (the earliest of a cluster stays, so every later event still has an anchor)."""
    kept: list[dt.date] = []
    for day in sorted(set(dates)):
        if not kept or (day - kept[-1]).days >= min_gap_days:
            kept.append(day)
    return kept


def assign_anchors(frame: pl.DataFrame, anchors: list[dt.date], column: str = "t") -> pl.DataFrame:
    """``frame`` with ``a``: the latest anchor on or before ``column`` (null before the
    first)."""
    table = pl.DataFrame({"a": anchors}, schema={"a": pl.Date}).sort("a")
    return (
        frame.with_row_index("_i")
        .sort(column)
        .join_asof(table, left_on=column, right_on="a", strategy="backward")
        .sort("_i")
        .drop("_i")
    )


def spread_dates(dates: pl.Series, n: int) -> list[dt.date]:
    """``n`` dates at the quantiles 0, 1/n, ... of ``dates`` (the earliest included)."""
    if dates.len() == 0 or n < 1:
        return []
    ordered = dates.sort()
    picks = {int(i * (ordered.len() - 1) / n) for i in range(n)}
    return [ordered[i] for i in sorted(picks)]


def target_anchors(dates: pl.Series, n: int, spacing_days: int) -> list[dt.date]:
    """The anchors of targets dated inside a history: ``n`` dates spread over theirs
    (``spread_dates``), those closer than ``spacing_days`` merged (``merge_anchors``)."""
    return merge_anchors(spread_dates(dates, n), max(1, spacing_days))


def training_events(
    lines: pl.DataFrame,
    cutoff: dt.date,
    *,
    step_days: int,
    params: EventParams,
) -> tuple[pl.DataFrame, list[dt.date]]:
    """The events of coded history lines ``c, o, d, p, q`` (all before ``cutoff``):
    ``ev`` (id), ``c``, ``o`` (the label order), ``t`` (its date), ``a`` (anchor), ``slot``
    (0, 1, ... among the customer's events at that anchor), ``valid``; and the anchors.
    Customers with a single order give no event."""
    orders = order_table(lines).filter(pl.col("k") >= 1)
    sequence = orders.filter(pl.col("e") < params.label_orders).select(
        "c", "o", pl.col("d").alias("t")
    )
    first_day = lines["d"].min()
    calendar = [
        cutoff - dt.timedelta(days=step_days * j) for j in range(1, params.calendar_cutoffs + 1)
    ]
    calendar = [a for a in calendar if isinstance(first_day, dt.date) and a > first_day]
    parts = [sequence]
    for anchor in calendar:
        parts.append(
            orders.filter(pl.col("d") >= anchor)
            .sort("c", "d", "o")
            .group_by("c", maintain_order=True)
            .first()
            .select("c", "o", pl.col("d").alias("t"))
        )
    events = pl.concat(parts).unique(["c", "o"]).sort("c", "t", "o")
    if events.height == 0:
        empty = {
            "ev": pl.UInt32,
            "c": pl.UInt32,
            "o": pl.UInt32,
            "t": pl.Date,
            "a": pl.Date,
            "slot": pl.UInt32,
            "valid": pl.Boolean,
        }
        return pl.DataFrame(schema=empty), []
    anchors = merge_anchors(
        [*calendar, *spread_dates(events["t"], params.anchors)], max(1, step_days)
    )
    share = round(params.validation_share * 1000)
    validating = (pl.col("c").hash(params.seed) % 1000) < share
    events = assign_anchors(events, anchors).filter(pl.col("a").is_not_null())
    # each customer's most recent event (by date, then order) validates, for a share of them
    latest = pl.int_range(pl.len()).over("c") == pl.len().over("c") - 1
    events = events.sort("c", "t", "o").with_columns((validating & latest).alias("valid"))
    events = within_budget(events, lines, params.max_event_lines, params.seed).sort("c", "t", "o")
    events = events.with_columns(
        pl.int_range(pl.len()).over("a", "c").cast(pl.UInt32).alias("slot")
    )
    return events.with_row_index("ev").with_columns(pl.col("ev").cast(pl.UInt32)), anchors


def within_budget(
    events: pl.DataFrame, lines: pl.DataFrame, budget: int, seed: int
) -> pl.DataFrame:
    """``events`` (``c, o, valid``) with the training events cut to a budget of history lines:
    each event costs its customer's lines in ``lines`` (the history its candidates and
    features are computed from). The validation events all stay; training events are taken
    customer by customer in rounds — one random event of every customer, then a second, ... —
    while their lines fit in ``budget``, so a long dense history does not crowd out the other
    customers and every customer keeps an event before any gets many."""
    sizes = lines.group_by("c").agg(pl.len().alias("_lines"))
    train = events.filter(~pl.col("valid")).join(sizes, on="c", how="left")
    if train.height == 0 or int(train["_lines"].sum()) <= budget:
        return events
    draw = pl.struct("c", "o").hash(seed)
    kept = (
        train.with_columns(draw.alias("_draw"))
        .sort("c", "_draw", "o")
        .with_columns(pl.int_range(pl.len()).over("c").alias("_round"))
        .sort("_round", "_draw", "c", "o")
        .filter(pl.col("_lines").cum_sum() <= budget)
        .drop("_lines", "_draw", "_round")
    )
    return pl.concat([events.filter(pl.col("valid")), kept])


def adopted_within(
    own: pl.DataFrame, events: pl.DataFrame, n: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``c, p, adopted``: the products each event's customer (``events``: ``c, o``; ``own``:
    the customers' lines) bought within ``n`` orders from the event's; and ``c, horizon`` —
    whether the history holds that many orders from it (else the count is cut short)."""
    orders = order_table(own).select("c", "o", "k", "n_orders")
    start = orders.join(events.select("c", "o"), on=["c", "o"]).select(
        "c", pl.col("k").alias("_k0"), (pl.col("n_orders") - pl.col("k") >= n).alias("horizon")
    )
    within = orders.join(start, on="c").filter(
        (pl.col("k") >= pl.col("_k0")) & (pl.col("k") < pl.col("_k0") + n)
    )
    adopted = (
        own.join(within.select("c", "o"), on=["c", "o"])
        .select("c", "p")
        .unique()
        .with_columns(pl.lit(1, dtype=pl.Int8).alias("adopted"))
    )
    return adopted, start.select("c", "horizon")
