"""Promotions of the optimal order: which promotion to attach to a proposed line, and what it earns.

Two jobs, both pure computations on Polars frames:

* **Lift.** ``PromotionModel.fit`` learns, for each promotion that ran in the history (its lines
  carry ``promotion_id``), how much it multiplied the probability that an eligible product is in
  an eligible customer's order, and the quantity ordered. It compares, for the (customer,
  product) pairs the promotion covered and the customer already knew, the share of the
  customer's orders holding the product during the promotion with the share in a comparable
  window just before it (``baseline_days``, or the promotion's length when longer; the window
  after it when the history holds much less of the one before, e.g. a promotion that started
  before the data did). The lift L solves Σ orders·min(1, baseline rate·L) = lines seen, the
  same form in which ``attach`` applies it (a lift cannot push a probability past 1, so products
  already in nearly every order say little about it), and is shrunk toward the mechanic's
  conservative prior by the amount of evidence (a Gamma prior worth ``shrinkage`` expected
  lines). Promotions without history — future ones, launch promotions (nothing to compare
  with), or data whose lines carry no ``promotion_id`` — get the prior.
* **Attachment.** ``PromotionModel.attach`` finds, for each novelty line of a set of proposals,
  the eligible promotions and their expected incremental margin against no promotion, and gives
  each line its best promotion with a positive increment, so that no promotion is attached to
  more lines than its budget has left (``budget_uses`` minus the uses in the fitted history).

Eligibility of a (customer, product, date) for a promotion: the date lies in ``[start_date,
end_date]``; ``product_id`` is the product's or empty; ``category`` is the product's (products
table) or empty; ``segment`` is the customer's ``segment`` (its ``channel`` when the customers
table has no ``segment`` column) or empty; ``region`` is the customer's or empty. A table or a
column that is missing means *no restriction* on what it would have decided (without a customers
table, a segment promotion applies to every customer); a value that is missing (a customer with
no region, a product absent from the products table) does not match a restriction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Self

import polars as pl

from salescope.domain.schemas import PROMOTIONS
from salescope.domain.statuses import LineKind, PromotionMechanic
from salescope.orders.eligibility import (
    _RENAMED,
    ATTACHED_COLUMNS,
    _Attributes,
    _by_product,
    _eligible,
    promotions_frame,
)

DISCOUNT = PromotionMechanic.DISCOUNT_PCT.value
FREE_UNITS = PromotionMechanic.FREE_UNITS.value
BUNDLE = PromotionMechanic.BUNDLE.value

_BISECTIONS = 40
_BEFORE, _DURING, _AFTER = 0, 1, 2
_STATS = {
    "promotion_id": pl.String,
    "uses": pl.UInt32,
    "expected": pl.Float64,
    "raw_lift": pl.Float64,
    "pairs": pl.UInt32,
    "q_log": pl.Float64,
    "q_weight": pl.Float64,
}

LIFT_COLUMNS = ("promotion_id", "mechanic", "lift", "quantity_lift", "evidence", "source")


@dataclass(frozen=True, slots=True)
class PromotionParams:
    """How lifts are estimated and promotions attached.

    Priors (used alone for promotions without history, and as the anchor of learned lifts) are
    deliberately conservative: a discount of v % lifts the probability by ``1 +
    discount_slope·v/100``, a bundle of v % off by ``1 + bundle_slope·v/100``, free units by
    ``free_units_lift``, all capped at ``max_prior_lift``; an unknown mechanic has no lift. The
    quantity prior is ``prior_quantity_lift`` (1: a promotion is not assumed to raise quantities).

    ``shrinkage`` is the strength of the prior in pseudo-observations: the learned lift is the
    posterior mean (observed + shrinkage·prior) / (expected + shrinkage), where *expected* is the
    number of promoted-window lines the baseline rates predict (the evidence). Lifts are never
    below ``min_lift`` (a promotion does not make a product less likely) nor above ``max_lift``.

    ``baseline_days``: the length of the comparison window before a promotion (the promotion's own
    length when that is longer). ``rate_prior_orders``: pseudo-orders that pull a customer's
    baseline rate of a product toward the promotion's pooled rate (see
    ``PromotionModel._estimate``). ``tolerance``: an incremental margin must exceed it to count as
    positive. ``kinds``: the line kinds that get promotions (the novelties). ``charge_mechanic``:
    whether the discount or the free units are charged on top of ``cost_per_use`` (True, the
    contract's reading: ``cost_per_use`` holds the other costs of a use, e.g. handling, a
    leaflet) or are already inside it (False). ``max_rounds`` bounds the budget rounds (each
    round can only keep budgets, so stopping early is safe).
    """

    discount_slope: float = 1.0
    bundle_slope: float = 0.5
    free_units_lift: float = 1.15
    max_prior_lift: float = 1.5
    prior_quantity_lift: float = 1.0
    shrinkage: float = 20.0
    min_lift: float = 1.0
    max_lift: float = 3.0
    baseline_days: int = 56
    rate_prior_orders: float = 1.0
    tolerance: float = 1e-6
    kinds: tuple[str, ...] = (
        LineKind.DEVELOPMENT.value,
        LineKind.EXTENSION.value,
        LineKind.OBJECTIVE.value,
    )
    charge_mechanic: bool = True
    max_rounds: int = 10_000

    def __post_init__(self) -> None:
        problems = []
        if min(self.discount_slope, self.bundle_slope) < 0:
            problems.append("prior slopes must not be negative")
        if not self.min_lift <= self.free_units_lift <= self.max_prior_lift <= self.max_lift:
            problems.append("need min_lift <= free_units_lift <= max_prior_lift <= max_lift")
        if self.min_lift < 1.0 or self.prior_quantity_lift < self.min_lift:
            problems.append("min_lift must be at least 1 and prior_quantity_lift at least min_lift")
        if self.shrinkage <= 0:
            problems.append("shrinkage must be positive")
        if self.baseline_days < 1 or self.max_rounds < 1:
            problems.append("baseline_days and max_rounds must be at least 1")
        if self.tolerance < 0 or self.rate_prior_orders < 0:
            problems.append("tolerance and rate_prior_orders must not be negative")
        if problems:
            raise ValueError("invalid PromotionParams: " + "; ".join(problems))

    def prior_lift(self) -> pl.Expr:
        """The prior lift of each row of a promotions frame (``mechanic``, ``value``)."""
        value = pl.col("value").fill_null(0.0)
        raw = (
            pl.when(pl.col("mechanic") == DISCOUNT)
            .then(1.0 + self.discount_slope * value / 100.0)
            .when(pl.col("mechanic") == BUNDLE)
            .then(1.0 + self.bundle_slope * value / 100.0)
            .when(pl.col("mechanic") == FREE_UNITS)
            .then(pl.lit(self.free_units_lift))
            .otherwise(pl.lit(1.0))
        )
        return raw.clip(self.min_lift, self.max_prior_lift)


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


class PromotionModel:
    """Lifts of the promotions (learned or prior) and the attachment of promotions to lines.

    After ``fit``: ``lifts_`` (promotion_id, mechanic, lift, quantity_lift, evidence, source =
    ``learned`` | ``prior``, plus prior_lift, raw_lift, uses = history lines carrying the
    promotion, pairs = customer-product pairs compared) for reports, and ``promotions_`` (the
    promotions table with every contract column).
    """

    def __init__(self, params: PromotionParams | None = None) -> None:
        self.params = params or PromotionParams()

    # -- fitting ----------------------------------------------------------------------------

    def fit(
        self,
        orders: pl.DataFrame,
        promotions: pl.DataFrame,
        products: pl.DataFrame | None = None,
        customers: pl.DataFrame | None = None,
    ) -> Self:
        """Learn each promotion's lift from ``orders`` (canonical order lines; ``promotion_id``
        optional: without it every promotion gets its prior).

        A promotion is *learned* when some history line carries its id and its windows hold
        evidence (``_pairs``, ``_estimate``): its probability lift is the capped rate ratio of
        the promotion window to the baseline window over the eligible customers' orders and the
        eligible products they knew, shrunk toward the prior; its quantity lift is the weighted
        geometric mean of the pairs' ratios of mean paid quantity (free units of a
        ``free_units`` line are not paid and not counted), shrunk toward the quantity prior.
        Every line of an eligible product in the promotion window counts, whichever promotion
        it carries (overlapping promotions share the credit).
        """
        p = self.params
        promos = promotions_frame(promotions)
        self.promotions_ = promos
        self.customers_ = customers
        self.products_ = products
        attrs = _Attributes.of(customers, products)
        base = promos.select("promotion_id", "mechanic", p.prior_lift().alias("prior_lift"))
        stats = pl.DataFrame(schema=_STATS)
        if "promotion_id" in orders.columns and orders.height and promos.height:
            uses, pairs = self._pairs(orders, promos, attrs)
            stats = uses.join(self._estimate(pairs), on="promotion_id", how="left").select(*_STATS)
        k = p.shrinkage
        learned = pl.col("_learn")
        lifts = (
            base.join(stats, on="promotion_id", how="left")
            .with_columns(
                pl.col("uses", "pairs").fill_null(0),
                pl.col("expected", "q_log", "q_weight").fill_null(0.0),
            )
            .with_columns(((pl.col("uses") > 0) & (pl.col("expected") > 0)).alias("_learn"))
            .with_columns(
                pl.when(learned)
                .then(
                    (pl.col("expected") * pl.col("raw_lift") + k * pl.col("prior_lift"))
                    / (pl.col("expected") + k)
                )
                .otherwise(pl.col("prior_lift"))
                .clip(p.min_lift, p.max_lift)
                .alias("lift"),
                pl.when(learned)
                .then(
                    (
                        (pl.col("q_log") + k * math.log(p.prior_quantity_lift))
                        / (pl.col("q_weight") + k)
                    ).exp()
                )
                .otherwise(pl.lit(p.prior_quantity_lift))
                .clip(p.min_lift, p.max_lift)
                .alias("quantity_lift"),
                pl.when(learned).then(pl.col("expected")).otherwise(0.0).alias("evidence"),
                pl.when(learned).then(pl.lit("learned")).otherwise(pl.lit("prior")).alias("source"),
                pl.when(learned).then(pl.col("raw_lift")).alias("raw_lift"),
            )
        )
        self.lifts_ = lifts.select(
            *LIFT_COLUMNS, "prior_lift", "raw_lift", pl.col("uses").cast(pl.Int64), "pairs"
        )
        return self

    def _estimate(self, pairs: pl.DataFrame) -> pl.DataFrame:
        """Per promotion, from its pairs (``n_d``/``n_b``: the customer's orders in the
        promotion / baseline window, ``h_d``/``h_b``: those holding the product, ``q_d``/``q_b``
        mean paid quantities): ``expected`` (promotion-window lines the baseline rates predict,
        the evidence), ``raw_lift`` (unshrunk), ``pairs``, and the weighted log quantity ratios.

        ``raw_lift`` L solves Σ n_d·min(1, r·L) = Σ h_d, where r is the pair's baseline rate
        h_b / n_b shrunk by ``rate_prior_orders`` pseudo-orders toward the promotion's pooled
        baseline rate: a lift multiplies a probability that cannot pass 1, so products already
        in nearly every order say little about it (the plain rate ratio understates the lift
        that a rarely bought novelty gets, by about 0.2 on the demo company), and the shrinkage
        keeps a pair seen in few orders from looking saturated. Solved by bisection, all
        promotions at once.
        """
        p = self.params
        by_promotion = pl.col("h_b").sum().over("promotion_id")
        pooled = by_promotion / pl.col("n_b").sum().over("promotion_id")
        a = p.rate_prior_orders
        rate = (pl.col("h_b") + a * pooled) / (pl.col("n_b") + a)
        pairs = pairs.with_columns(rate.alias("_r"))
        totals = pairs.group_by("promotion_id").agg(
            pl.col("h_d").sum().alias("_hits"),
            (pl.col("n_d") * pl.col("_r")).sum().alias("expected"),
            pl.len().alias("pairs"),
        )
        state = totals.select("promotion_id", "_hits", pl.lit(0.0).alias("_lo"))
        state = state.with_columns(pl.lit(2.0 * p.max_lift).alias("_hi"))
        low = pl.col("_fitted") < pl.col("_hits")
        for _ in range(_BISECTIONS):
            middle = (pl.col("_lo") + pl.col("_hi")) / 2
            fitted = (
                pairs.join(state.select("promotion_id", middle.alias("_mid")), on="promotion_id")
                .group_by("promotion_id")
                .agg((pl.col("n_d") * (pl.col("_r") * pl.col("_mid")).clip(None, 1.0)).sum())
                .rename({"n_d": "_fitted"})
            )
            state = (
                state.join(fitted, on="promotion_id")
                .with_columns(middle.alias("_m"))
                .select(
                    "promotion_id",
                    "_hits",
                    pl.when(low).then(pl.col("_m")).otherwise(pl.col("_lo")).alias("_lo"),
                    pl.when(low).then(pl.col("_hi")).otherwise(pl.col("_m")).alias("_hi"),
                )
            )
        both = (pl.col("h_d") > 0) & (pl.col("h_b") > 0)
        q_weight = pl.when(both).then(
            pl.col("h_d") * pl.col("h_b") / (pl.col("h_d") + pl.col("h_b"))
        )
        quantities = pairs.group_by("promotion_id").agg(
            (q_weight * (pl.col("q_d") / pl.col("q_b")).log()).fill_null(0.0).sum().alias("q_log"),
            q_weight.fill_null(0.0).sum().alias("q_weight"),
        )
        return (
            totals.join(state, on="promotion_id")
            .join(quantities, on="promotion_id")
            .select(
                "promotion_id",
                "expected",
                ((pl.col("_lo") + pl.col("_hi")) / 2).alias("raw_lift"),
                "pairs",
                "q_log",
                "q_weight",
            )
        )

    def _pairs(
        self, orders: pl.DataFrame, promos: pl.DataFrame, attrs: _Attributes
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """History uses per promotion (lines carrying it), and the evidence of each promotion
        that has uses: one row per (promotion, eligible customer, eligible product the customer
        bought before the promotion started) with orders in both windows: ``n_d``, ``n_b``,
        ``h_d``, ``h_b``, ``q_d``, ``q_b`` (see ``_estimate``)."""
        p = self.params
        lines = orders.select(
            pl.col("customer_id").cast(pl.String),
            pl.col("order_id").cast(pl.String),
            pl.col("order_date"),
            pl.col("product_id").cast(pl.String),
            pl.col("quantity").cast(pl.Float64),
            pl.col("promotion_id").cast(pl.String).alias("line_promotion_id"),
        )
        uses = (
            lines.filter(pl.col("line_promotion_id").is_not_null())
            .group_by("line_promotion_id")
            .agg(pl.len().alias("uses"))
            .rename({"line_promotion_id": "promotion_id"})
        )
        # paid quantity: the free units of the line's own free_units promotion are not paid
        free = promos.filter(pl.col("mechanic") == FREE_UNITS).select(
            pl.col("promotion_id").alias("line_promotion_id"),
            pl.col("value").fill_null(0.0).alias("_free"),
        )
        lines = (
            lines.join(free, on="line_promotion_id", how="left")
            .with_columns(
                pl.when(pl.col("quantity") > pl.col("_free").fill_null(0.0))
                .then(pl.col("quantity") - pl.col("_free").fill_null(0.0))
                .otherwise(pl.col("quantity"))
                .alias("paid")
            )
            .group_by("customer_id", "order_id", "product_id")
            .agg(pl.col("order_date").first(), pl.col("paid").sum())
        )
        first_bought = lines.group_by("customer_id", "product_id").agg(
            pl.col("order_date").min().alias("first_bought")
        )
        ran = promos.join(uses, on="promotion_id", how="semi")
        length = (pl.col("end_date") - pl.col("start_date")).dt.total_days() + 1
        span = pl.duration(days=pl.max_horizontal(length, p.baseline_days))
        windows = ran.with_columns(
            (pl.col("start_date") - span).cast(pl.Date).alias("baseline_start"),
            (pl.col("end_date") + span).cast(pl.Date).alias("after_end"),
        )
        window = (
            pl.when(pl.col("order_date") < pl.col("start_date"))
            .then(pl.lit(_BEFORE))
            .when(pl.col("order_date") <= pl.col("end_date"))
            .then(pl.lit(_DURING))
            .otherwise(pl.lit(_AFTER))
        )
        # eligible customers' orders in each promotion's windows
        order_level = attrs.with_customers(
            lines.group_by("customer_id", "order_id").agg(pl.col("order_date").first())
        )
        in_window = (
            order_level.join_where(
                windows.rename(_RENAMED).select(
                    "promotion_id",
                    "baseline_start",
                    "start_date",
                    "end_date",
                    "after_end",
                    "promo_segment",
                    "promo_region",
                ),
                pl.col("order_date") >= pl.col("baseline_start"),
                pl.col("order_date") <= pl.col("after_end"),
            )
            .filter(attrs.customer_ok())
            .select("promotion_id", "customer_id", "order_id", window.alias("window"))
        )
        # the baseline: the window before, unless the history holds much less of it than of
        # the window after (a promotion that started before the history did)
        after = (
            in_window.group_by("promotion_id")
            .agg(
                (pl.col("window") == _BEFORE).sum().alias("_before"),
                (pl.col("window") == _AFTER).sum().alias("_after"),
            )
            .select("promotion_id", (2 * pl.col("_before") < pl.col("_after")).alias("_use_after"))
        )
        in_window = (
            in_window.join(after, on="promotion_id")
            .filter(
                (pl.col("window") == _DURING)
                | ((pl.col("window") == _AFTER) == pl.col("_use_after"))
            )
            .select(
                "promotion_id",
                "customer_id",
                "order_id",
                (pl.col("window") == _DURING).alias("during"),
                "_use_after",
            )
        )
        counts = in_window.group_by("promotion_id", "customer_id").agg(
            pl.col("during").sum().cast(pl.Float64).alias("n_d"),
            (~pl.col("during")).sum().cast(pl.Float64).alias("n_b"),
        )
        # eligible products in those orders, for pairs the customer knew before the baseline
        # window after the promotion, or before the promotion when the baseline precedes it
        known = pl.col("first_bought") < pl.col("start_date")
        known |= pl.col("_use_after") & (pl.col("first_bought") <= pl.col("end_date"))
        hits = (
            _by_product(
                attrs.with_products(lines),
                windows.select(*PROMOTIONS.names, "baseline_start", "after_end")
                .drop("end_date")
                .rename({"after_end": "end_date"}),
                attrs,
                "order_date",
                "baseline_start",
            )
            .select("promotion_id", "customer_id", "order_id", "product_id", "paid")
            .join(in_window, on=["promotion_id", "customer_id", "order_id"])
            .join(first_bought, on=["customer_id", "product_id"])
            .join(ran.select("promotion_id", "start_date", "end_date"), on="promotion_id")
            .filter(known)
            .group_by("promotion_id", "customer_id", "product_id")
            .agg(
                pl.col("during").sum().cast(pl.Float64).alias("h_d"),
                (~pl.col("during")).sum().cast(pl.Float64).alias("h_b"),
                pl.col("paid").filter(pl.col("during")).mean().alias("q_d"),
                pl.col("paid").filter(~pl.col("during")).mean().alias("q_b"),
            )
            .join(counts, on=["promotion_id", "customer_id"])
            .filter((pl.col("n_d") > 0) & (pl.col("n_b") > 0))
        )
        return uses.with_columns(pl.col("uses").cast(pl.UInt32)), hits

    def _lifts_for(self, promos: pl.DataFrame) -> pl.DataFrame:
        """Lift, quantity lift and history uses of each promotion; promotions the model was not
        fitted on get the prior and no uses."""
        p = self.params
        fitted = getattr(self, "lifts_", None)
        prior = promos.select(
            "promotion_id",
            p.prior_lift().alias("_prior"),
        )
        if fitted is None:
            return prior.select(
                "promotion_id",
                pl.col("_prior").alias("lift"),
                pl.lit(p.prior_quantity_lift).alias("quantity_lift"),
                pl.lit(0, dtype=pl.Int64).alias("uses"),
            )
        return prior.join(
            fitted.select("promotion_id", "lift", "quantity_lift", "uses"),
            on="promotion_id",
            how="left",
        ).select(
            "promotion_id",
            pl.coalesce("lift", "_prior").alias("lift"),
            pl.col("quantity_lift").fill_null(p.prior_quantity_lift),
            pl.col("uses").fill_null(0),
        )

    # -- attaching --------------------------------------------------------------------------

    def attach(
        self,
        lines: pl.DataFrame,
        customers: pl.DataFrame | None = None,
        products: pl.DataFrame | None = None,
        promotions: pl.DataFrame | None = None,
    ) -> pl.DataFrame:
        """``lines`` (customer_id, order_date, product_id, kind, probability — without
        promotion —, quantity) with ``promotion_id``, ``promoted_probability``,
        ``promoted_quantity``, ``incremental_margin`` and ``promotion_text``, in the same order.

        Only lines of ``params.kinds`` get a promotion; the others (and lines with no eligible
        promotion paying more than ``tolerance``) keep their probability and quantity, with no
        promotion and a zero increment. ``customers``, ``products`` and ``promotions`` default to
        those given to ``fit``.

        Value of a line: unit margin m = unit_price − unit_cost (products table; without a cost,
        the unit price, i.e. the cost is taken as zero; without a price, 1 per unit — margins
        then only rank lines by quantity). With probability p, quantity q, lift L and quantity
        lift Lq: EV(none) = p·q·m and EV(promotion) = min(1, p·L)·(q·Lq·m' − c), where a
        discount or bundle of v % leaves m' = m − v/100·price, and c is ``cost_per_use`` plus,
        for ``free_units``, v units at unit cost (at unit price when the cost is unknown: the
        conservative side). With ``charge_mechanic`` false, m' = m and c = ``cost_per_use``.

        Budgets: a promotion's uses in one call are the *lines it is attached to* (each
        proposal could be accepted, so this is the safe reading, not the sum of probabilities),
        and never exceed ``budget_uses`` minus the uses in the fitted history (null budget =
        unlimited). Lines get promotions greedily by incremental margin, highest first: rounds
        of deferred acceptance, in which every unserved line asks for its best remaining
        promotion and each promotion keeps the best lines its budget allows (with both sides
        ranking by the same increment, this is exactly the greedy assignment).
        """
        p = self.params
        customers = customers if customers is not None else getattr(self, "customers_", None)
        products = products if products is not None else getattr(self, "products_", None)
        if promotions is None:
            promotions = getattr(self, "promotions_", None)
        promos = promotions_frame(promotions) if promotions is not None else None
        frame = lines.drop(ATTACHED_COLUMNS, strict=False).with_row_index("_row")
        none = frame.with_columns(
            pl.lit(None, dtype=pl.String).alias("promotion_id"),
            pl.col("probability").cast(pl.Float64).alias("promoted_probability"),
            pl.col("quantity").cast(pl.Float64).alias("promoted_quantity"),
            pl.lit(0.0).alias("incremental_margin"),
            pl.lit(None, dtype=pl.String).alias("promotion_text"),
        )
        if promos is None or promos.height == 0 or frame.height == 0:
            return none.drop("_row")
        attrs = _Attributes.of(customers, products)
        lifts = self._lifts_for(promos)
        candidates = (
            attrs.with_customers(
                attrs.with_products(
                    frame.filter(pl.col("kind").is_in(list(p.kinds))).select(
                        "_row",
                        pl.col("customer_id").cast(pl.String),
                        pl.col("product_id").cast(pl.String),
                        "order_date",
                        pl.col("probability").cast(pl.Float64).clip(0.0, 1.0).alias("_p"),
                        pl.col("quantity").cast(pl.Float64).alias("_q"),
                    )
                )
            )
            .pipe(_eligible, promos, attrs, "order_date")
            .join(lifts, on="promotion_id", how="left")
            .with_columns(self._value())
            .filter(pl.col("incremental_margin") > p.tolerance)
        )
        left = promos.join(lifts.select("promotion_id", "uses"), on="promotion_id").select(
            "promotion_id",
            (pl.col("budget_uses") - pl.col("uses")).clip(0.0, None).floor().alias("_left"),
        )
        chosen = _assign(
            candidates.select("_row", "promotion_id", "incremental_margin"),
            left,
            p.max_rounds,
        ).join(candidates, on=["_row", "promotion_id"])
        chosen = chosen.select(
            "_row",
            "promotion_id",
            "promoted_probability",
            "promoted_quantity",
            "incremental_margin",
            _text().alias("promotion_text"),
        )
        out = none.join(chosen, on="_row", how="left", suffix="_new").with_columns(
            [pl.coalesce(f"{c}_new", c).alias(c) for c in ATTACHED_COLUMNS]
        )
        return out.sort("_row").select(
            [*lines.drop(ATTACHED_COLUMNS, strict=False).columns, *ATTACHED_COLUMNS]
        )

    def _value(self) -> list[pl.Expr]:
        """Promoted probability and quantity, and the incremental margin of a (line,
        promotion) candidate (see ``attach``)."""
        p = self.params
        price = pl.col("unit_price").fill_null(1.0)
        known_cost = pl.col("unit_cost").is_not_null() & pl.col("unit_price").is_not_null()
        margin = pl.when(known_cost).then(price - pl.col("unit_cost")).otherwise(price)
        value = pl.col("value").fill_null(0.0)
        mechanic = pl.col("mechanic")
        per_cent = (mechanic == DISCOUNT) | (mechanic == BUNDLE)
        if p.charge_mechanic:
            after = pl.when(per_cent).then(margin - value / 100.0 * price).otherwise(margin)
            free_cost = pl.when(mechanic == FREE_UNITS).then(
                value * pl.when(known_cost).then(pl.col("unit_cost")).otherwise(price)
            )
            cost = pl.col("cost_per_use").fill_null(0.0) + free_cost.fill_null(0.0)
        else:
            after = margin
            cost = pl.col("cost_per_use").fill_null(0.0)
        probability = (pl.col("_p") * pl.col("lift")).clip(None, 1.0)
        quantity = pl.col("_q") * pl.col("quantity_lift")
        increment = probability * (quantity * after - cost) - pl.col("_p") * pl.col("_q") * margin
        return [
            probability.alias("promoted_probability"),
            quantity.alias("promoted_quantity"),
            increment.alias("incremental_margin"),
        ]


def _assign(candidates: pl.DataFrame, left: pl.DataFrame, max_rounds: int) -> pl.DataFrame:
    """At most one promotion per line (``_row``), no promotion on more lines than its ``_left``
    (null = unlimited), greedily by ``incremental_margin``: deferred acceptance in vectorised
    rounds. Returns the kept (``_row``, ``promotion_id``) pairs."""
    unlimited = float(candidates.height + 1)
    active = candidates.join(
        left.with_columns(pl.col("_left").fill_null(unlimited)), on="promotion_id"
    ).filter(pl.col("_left") >= 1)
    held = active.clear()
    for _ in range(max_rounds):
        proposals = (
            active.join(held, on="_row", how="anti")
            .sort(["incremental_margin", "_row", "promotion_id"], descending=[True, False, False])
            .group_by("_row", maintain_order=True)
            .first()
        )
        if proposals.height == 0:
            break
        pool = (
            pl.concat([held, proposals.select(held.columns)])
            .sort(["incremental_margin", "_row"], descending=[True, False])
            .with_columns(pl.int_range(pl.len()).over("promotion_id").alias("_rank"))
        )
        kept = pool.filter(pl.col("_rank") < pl.col("_left")).drop("_rank")
        rejected = pool.filter(pl.col("_rank") >= pl.col("_left"))
        active = active.join(rejected, on=["_row", "promotion_id"], how="anti")
        held = kept
    return held.select("_row", "promotion_id")


def _text() -> pl.Expr:
    """'15 % off until 30 June', '2 free units until 30 June', 'bundle −10 % until 30 June'
    (the year is added when the promotion ends in another year than the line's date)."""
    value = pl.col("value").fill_null(0.0)
    number = (
        pl.when(value == value.round(0))
        .then(value.round(0).cast(pl.Int64).cast(pl.String))
        .otherwise(value.round(1).cast(pl.String))
    )
    until = pl.concat_str(
        pl.lit(" until "),
        pl.when(pl.col("end_date").dt.year() == pl.col("order_date").dt.year())
        .then(pl.col("end_date").dt.strftime("%-d %B"))
        .otherwise(pl.col("end_date").dt.strftime("%-d %B %Y")),
    )
    what = (
        pl.when(pl.col("mechanic") == DISCOUNT)
        .then(pl.format("{} % off", number))
        .when(pl.col("mechanic") == FREE_UNITS)
        .then(
            pl.format(
                "{} free {}",
                number,
                pl.when(value == 1).then(pl.lit("unit")).otherwise(pl.lit("units")),
            )
        )
        .when(pl.col("mechanic") == BUNDLE)
        .then(pl.format("bundle −{} %", number))
        .otherwise(pl.format("promotion {}", pl.col("promotion_id")))
    )
    return pl.concat_str(what, until)


def budget_use(
    attached: pl.DataFrame, promotions: pl.DataFrame, spent: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Per promotion: ``budget_uses`` (null = unlimited), ``spent`` (uses before this run:
    ``spent``'s ``uses`` per promotion_id, e.g. ``PromotionModel.lifts_``; 0 without it),
    ``used`` (lines of ``attached`` carrying it) and ``left`` (budget − spent − used)."""
    promos = promotions_frame(promotions).select("promotion_id", "budget_uses")
    used = (
        attached.filter(pl.col("promotion_id").is_not_null())
        .group_by("promotion_id")
        .agg(pl.len().cast(pl.Int64).alias("used"))
    )
    before = (
        spent.select("promotion_id", pl.col("uses").cast(pl.Int64).alias("spent"))
        if spent is not None
        else pl.DataFrame(schema={"promotion_id": pl.String, "spent": pl.Int64})
    )
    return (
        promos.join(before, on="promotion_id", how="left")
        .join(used, on="promotion_id", how="left")
        .with_columns(pl.col("spent", "used").fill_null(0))
        .with_columns((pl.col("budget_uses") - pl.col("spent") - pl.col("used")).alias("left"))
        .select("promotion_id", "budget_uses", "spent", "used", "left")
    )
