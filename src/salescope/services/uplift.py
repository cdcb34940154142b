"""What the optimal order achieves, measured honestly: acceptance of the pre-filled lines and
of the novelties per region, rep, kind and promotion; the share of orders placed online; and
the uplift of the novelties shown against the holdout.

* **Acceptance**: among the proposal lines an order answered (``services.feedback``), the
  share the customer took (accepted or with another quantity) — usual lines ("pre-filled")
  and novelties apart.
* **Online**: the orders of the period placed online (the shop's page, its systems over the
  API, automatic replenishment) among all its orders (those placed through Salescope and
  those imported).
* **Uplift**: a stable random share of the shops (``serving.in_holdout``) is shown no
  novelty; what it would have been shown is kept. The novelties shown to the other shops
  were bought at rate *t*; the ones held out, at rate *h* (bought anyway, unprompted: an
  order answering the proposal holds the product). The uplift is *t − h*, with a 95 %
  interval from a bootstrap that draws shops (a shop's lines move together).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from salescope.config import Settings
from salescope.domain.statuses import LineOutcome, OrderChannel
from salescope.services.access import Permission, Scope, visible
from salescope.services.serving import in_holdout
from salescope.storage import repositories as repo
from salescope.storage.models import Customer, HeldOutLine, PlacedOrder
from salescope.storage.tables import TableStore

TAKEN = [o.value for o in LineOutcome if o.taken]
BOOTSTRAP = 2000
"""Redraws of the shops behind the uplift's interval."""
NONE = "(none)"
"""The group of lines without a promotion, or customers without a region or rep."""


@dataclass(frozen=True, slots=True)
class Acceptance:
    """Lines shown and taken in one group (a region, a rep, a kind, a promotion)."""

    group: str
    usual_shown: int
    usual_taken: int
    novelties_shown: int
    novelties_taken: int
    orders: int = 0  # orders of the period (regions and reps only)
    online: int = 0  # of which placed online

    @property
    def online_share(self) -> float | None:
        return self.online / self.orders if self.orders else None

    @property
    def usual_rate(self) -> float | None:
        return self.usual_taken / self.usual_shown if self.usual_shown else None

    @property
    def novelty_rate(self) -> float | None:
        return self.novelties_taken / self.novelties_shown if self.novelties_shown else None


@dataclass(frozen=True, slots=True)
class Uplift:
    """Novelties shown (t) against novelties held out (h)."""

    shown: int
    shown_taken: int
    shown_shops: int
    held: int
    held_taken: int
    held_shops: int
    low: float | None
    high: float | None

    @property
    def shown_rate(self) -> float | None:
        return self.shown_taken / self.shown if self.shown else None

    @property
    def held_rate(self) -> float | None:
        return self.held_taken / self.held if self.held else None

    @property
    def uplift(self) -> float | None:
        t, h = self.shown_rate, self.held_rate
        return None if t is None or h is None else t - h

    @property
    def measured(self) -> bool:
        return self.uplift is not None


@dataclass(frozen=True, slots=True)
class OrdersReport:
    since: dt.date
    until: dt.date
    region: str | None
    by_region: list[Acceptance]
    by_rep: list[Acceptance]
    by_kind: list[Acceptance]
    by_promotion: list[Acceptance]
    orders: int
    orders_by_channel: dict[str, int]  # placed through Salescope, by channel
    online: int
    uplift: Uplift
    uplift_by_kind: dict[str, Uplift]
    holdout_share: float
    proposals_answered: int

    @property
    def online_share(self) -> float | None:
        return self.online / self.orders if self.orders else None


def _acceptance(
    frame: pl.DataFrame, column: str, orders: pl.DataFrame | None = None
) -> list[Acceptance]:
    """Acceptance per value of ``column``; with ``orders`` (``order_id``, ``online`` and
    ``column``), the orders and those placed online per value too."""
    counted: dict[str, tuple[int, int]] = {}
    if orders is not None and orders.height:
        for group, n, online in (
            orders.group_by(pl.col(column).fill_null(NONE).cast(pl.String))
            .agg(pl.len(), pl.col("online").sum())
            .iter_rows()
        ):
            counted[str(group)] = (int(n), int(online))
    if frame.is_empty():
        return [Acceptance(g, 0, 0, 0, 0, n, o) for g, (n, o) in sorted(counted.items())]
    shown = frame.filter(pl.col("outcome") != LineOutcome.ADDED.value)
    grouped = (
        shown.with_columns(
            (pl.col("kind") == "usual").alias("_usual"),
            pl.col("outcome").is_in(TAKEN).alias("_taken"),
            pl.col(column).fill_null(NONE).cast(pl.String).alias("_group"),
        )
        .group_by("_group")
        .agg(
            pl.col("_usual").sum().alias("us"),
            (pl.col("_usual") & pl.col("_taken")).sum().alias("ut"),
            (~pl.col("_usual")).sum().alias("ns"),
            (~pl.col("_usual") & pl.col("_taken")).sum().alias("nt"),
        )
        .sort("_group")
    )
    rows = {
        str(g): Acceptance(str(g), int(a), int(b), int(c), int(d), *counted.get(str(g), (0, 0)))
        for g, a, b, c, d in grouped.iter_rows()
    }
    for g, (n, o) in counted.items():
        rows.setdefault(g, Acceptance(g, 0, 0, 0, 0, n, o))
    return [rows[g] for g in sorted(rows)]


def _bootstrap(
    shown: pl.DataFrame, held: pl.DataFrame, *, seed: int = 16
) -> tuple[float | None, float | None]:
    """95 % interval of t − h drawing shops with replacement in each arm (``customer_id``,
    ``taken`` per line)."""
    if shown.is_empty() or held.is_empty():
        return None, None

    def per_shop(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        g = frame.group_by("customer_id").agg(pl.col("taken").sum().alias("k"), pl.len().alias("n"))
        return g["k"].to_numpy().astype(float), g["n"].to_numpy().astype(float)

    tk, tn = per_shop(shown)
    hk, hn = per_shop(held)
    rng = np.random.default_rng(seed)
    ti = rng.integers(0, len(tk), size=(BOOTSTRAP, len(tk)))
    hi = rng.integers(0, len(hk), size=(BOOTSTRAP, len(hk)))
    t = tk[ti].sum(axis=1) / tn[ti].sum(axis=1)
    h = hk[hi].sum(axis=1) / hn[hi].sum(axis=1)
    low, high = np.percentile(t - h, [2.5, 97.5])
    return float(low), float(high)


def _uplift(shown: pl.DataFrame, held: pl.DataFrame) -> Uplift:
    low, high = _bootstrap(shown, held)
    return Uplift(
        shown.height,
        int(shown["taken"].sum()) if shown.height else 0,
        shown["customer_id"].n_unique() if shown.height else 0,
        held.height,
        int(held["taken"].sum()) if held.height else 0,
        held["customer_id"].n_unique() if held.height else 0,
        low,
        high,
    )


def orders_report(
    session: Session,
    scope: Scope,
    settings: Settings,
    *,
    since: dt.date,
    until: dt.date,
    region: str | None = None,
) -> OrdersReport:
    """The report of the proposals dated from ``since`` to ``until`` (and of the orders of
    those days) for the customers in the caller's reach (of ``region``)."""
    scope.require(Permission.REPORTS_READ)
    scope.require_region(region)
    query = sa.select(Customer.customer_id, Customer.region, Customer.rep_id).where(
        visible(scope, Customer)
    )
    if region:
        query = query.where(Customer.region == region)
    customers = pl.DataFrame(
        session.execute(query).all(),
        schema={"customer_id": pl.String, "region": pl.String, "rep_id": pl.String},
        orient="row",
    )
    ids = customers["customer_id"].to_list()
    outcomes = repo.feedback_outcomes(session, since, until=until, customers=ids).join(
        customers, on="customer_id", how="inner"
    )
    held_rows = session.execute(
        sa.select(
            HeldOutLine.customer_id,
            HeldOutLine.order_date,
            HeldOutLine.product_id,
            HeldOutLine.kind,
        ).where(
            HeldOutLine.order_date >= since,
            HeldOutLine.order_date <= until,
            HeldOutLine.customer_id.in_(
                sa.select(Customer.customer_id).where(visible(scope, Customer))
            ),
        )
    ).all()
    held = pl.DataFrame(
        held_rows,
        schema={
            "customer_id": pl.String,
            "order_date": pl.Date,
            "product_id": pl.String,
            "kind": pl.String,
        },
        orient="row",
    ).filter(pl.col("customer_id").is_in(ids))
    answered = outcomes.select("customer_id", "order_date").unique()
    added = (
        outcomes.filter(pl.col("outcome") == LineOutcome.ADDED.value)
        .select("customer_id", "order_date", "product_id")
        .with_columns(pl.lit(True).alias("taken"))
    )
    held = (
        held.join(answered, on=["customer_id", "order_date"], how="semi")
        .join(added, on=["customer_id", "order_date", "product_id"], how="left")
        .with_columns(pl.col("taken").fill_null(False))
    )
    shown = outcomes.filter(
        (pl.col("kind") != "usual") & (pl.col("outcome") != LineOutcome.ADDED.value)
    ).with_columns(pl.col("outcome").is_in(TAKEN).alias("taken"))
    holdout = [c for c in ids if in_holdout(c, settings.holdout_share, settings.holdout_salt)]
    shown = shown.filter(~pl.col("customer_id").is_in(holdout))
    kinds = sorted(set(shown["kind"].drop_nulls().to_list()) | set(held["kind"].to_list()))
    by_kind_uplift = {
        k: _uplift(shown.filter(pl.col("kind") == k), held.filter(pl.col("kind") == k))
        for k in kinds
    }
    orders = _orders(session, scope, settings, customers, since, until)
    channels = {
        str(c): int(n)
        for c, n in orders.drop_nulls("channel").group_by("channel").len().iter_rows()
    }
    return OrdersReport(
        since=since,
        until=until,
        region=region,
        by_region=_acceptance(outcomes, "region", orders),
        by_rep=_acceptance(outcomes, "rep_id", orders),
        by_kind=_acceptance(outcomes, "kind"),
        by_promotion=_acceptance(outcomes.filter(pl.col("kind") != "usual"), "promotion_id"),
        orders=orders.height,
        orders_by_channel=channels,
        online=int(orders["online"].sum()),
        uplift=_uplift(shown, held),
        uplift_by_kind=by_kind_uplift,
        holdout_share=settings.holdout_share,
        proposals_answered=answered.height,
    )


def _orders(
    session: Session,
    scope: Scope,
    settings: Settings,
    customers: pl.DataFrame,
    since: dt.date,
    until: dt.date,
) -> pl.DataFrame:
    """The orders of the period of ``customers``: those placed through Salescope (with their
    channel) and those imported into the table store (``channel`` null, not online), with the
    customer's ``region`` and ``rep_id``."""
    ids = customers["customer_id"].to_list()
    placed = pl.DataFrame(
        session.execute(
            sa.select(PlacedOrder.order_id, PlacedOrder.customer_id, PlacedOrder.channel).where(
                visible(scope, PlacedOrder),
                PlacedOrder.order_date >= since,
                PlacedOrder.order_date <= until,
            )
        ).all(),
        schema={"order_id": pl.String, "customer_id": pl.String, "channel": pl.String},
        orient="row",
    ).filter(pl.col("customer_id").is_in(ids))
    store = TableStore(settings.tables_dir)
    imported = pl.DataFrame(schema=placed.schema)
    if "orders" in store.names() and ids:
        imported = (
            store.scan("orders")
            .filter(
                pl.col("order_date").is_between(since, until) & pl.col("customer_id").is_in(ids)
            )
            .select(pl.col("order_id").cast(pl.String), pl.col("customer_id").cast(pl.String))
            .unique()
            .collect()
            .filter(~pl.col("order_id").is_in(placed["order_id"].to_list()))
            .with_columns(pl.lit(None, dtype=pl.String).alias("channel"))
        )
    online = [c.value for c in OrderChannel if c.online]
    return (
        pl.concat([placed, imported])
        .with_columns(pl.col("channel").is_in(online).fill_null(False).alias("online"))
        .join(customers, on="customer_id", how="left")
    )
