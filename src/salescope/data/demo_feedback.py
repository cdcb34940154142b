"""A simulated feedback round on the demo company, where the truth is known.

The demo company's ground truth says how likely each served shop is to accept each of our
products it never bought when it is proposed (``truth["adoption"].propensity``, times the lift
of the promotion attached: ``truth["promotion_lift"]``), and which orders it really placed after
the history (``truth["future_orders"]``). So a round of proposals can be answered as the shops
would have answered it:

* the answering order of a proposal is the shop's first real order after the history;
* each extension or objective line the truth knows is accepted with probability
  min(1, propensity x lift) and then ordered in the proposed quantity;
* usual and development lines are answered by the real order (ordered or not, in its
  quantity).

``novelty_scores`` then compares the shown novelties with the truth: calibration error of their
probabilities against the true acceptance probabilities, and their acceptance against
randomly chosen products the shops lack.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from salescope.domain.statuses import LineKind
from salescope.orders.metrics import reliability

#: The novelty kinds whose product the shop lacks: the truth knows their adoption propensity
#: (a development line raises the quantity of a product the shop buys already).
NEW_PRODUCT_KINDS = (LineKind.EXTENSION.value, LineKind.OBJECTIVE.value)


def true_acceptance(lines: pl.DataFrame, truth: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The novelty lines (extension, objective) the truth knows, with ``true_probability`` =
    min(1, propensity x lift of the attached promotion)."""
    lifts = truth["promotion_lift"].select("promotion_id", "lift")
    return (
        lines.filter(pl.col("kind").is_in(NEW_PRODUCT_KINDS))
        .join(
            truth["adoption"].select("customer_id", "product_id", "propensity"),
            on=["customer_id", "product_id"],
        )
        .join(lifts, on="promotion_id", how="left")
        .with_columns(
            (pl.col("propensity") * pl.col("lift").fill_null(1.0))
            .clip(0.0, 1.0)
            .alias("true_probability")
        )
    )


def simulated_orders(
    lines: pl.DataFrame, truth: dict[str, pl.DataFrame], *, seed: int = 0
) -> pl.DataFrame:
    """The orders the demo shops place in answer to ``lines`` (proposals with
    ``customer_id, order_date, product_id, kind, quantity, promotion_id``): their real first
    order after the history, plus the novelties they accept (canonical order lines)."""
    future = truth["future_orders"]
    first = future.group_by("customer_id").agg(pl.col("order_date").min().alias("_first"))
    real = future.join(first, on="customer_id").filter(pl.col("order_date") == pl.col("_first"))
    answering = real.group_by("customer_id").agg(
        pl.col("order_id").first(), pl.col("order_date").first()
    )
    novel = true_acceptance(lines, truth).join(answering.select("customer_id"), on="customer_id")
    draws = np.random.default_rng(seed).random(novel.height)
    accepted = (
        novel.filter(pl.Series(draws) < novel["true_probability"])
        .join(answering, on="customer_id", suffix="_real")
        .select(
            "customer_id",
            "order_id",
            pl.col("order_date_real").alias("order_date"),
            "product_id",
            pl.col("quantity").cast(pl.Float64),
            "promotion_id",
        )
    )
    base = real.select("customer_id", "order_id", "order_date", "product_id", "quantity")
    extra = accepted.join(base, on=["customer_id", "product_id"], how="anti")
    return pl.concat(
        [base.with_columns(pl.lit(None, dtype=pl.String).alias("promotion_id")), extra],
        how="vertical_relaxed",
    ).sort("customer_id", "order_id", "product_id")


def novelty_scores(
    lines: pl.DataFrame, truth: dict[str, pl.DataFrame], *, bins: int = 10
) -> dict[str, float]:
    """How the shown novelties of ``lines`` compare with the truth.

    * ``ece``: expected calibration error of ``probability`` against the true acceptance
      probability (``orders.metrics.reliability``: equal-count bins, weighted by lines);
    * ``shown_acceptance``: mean true acceptance probability of the shown novelties;
    * ``random_acceptance``: the same for a product drawn at random among our products a shop
      never bought (no promotion), averaged over the shops with a shown novelty;
    * ``lift_over_random``: their ratio; ``shown``: novelty lines the truth knows.
    """
    known = true_acceptance(lines, truth)
    if known.height == 0:
        return {"shown": 0.0}
    ece, _ = reliability(known["probability"], known["true_probability"], bins)
    predicted = known["probability"].to_numpy()
    actual = known["true_probability"].to_numpy()
    shops = known.select("customer_id").unique()
    per_shop = (
        truth["adoption"]
        .join(shops, on="customer_id")
        .group_by("customer_id")
        .agg(pl.col("propensity").mean())
    )
    shown = float(actual.mean())
    random = float(per_shop["propensity"].to_numpy().mean())
    return {
        "shown": float(known.height),
        "ece": float(ece),
        "mean_probability": float(predicted.mean()),
        "shown_acceptance": shown,
        "random_acceptance": random,
        "lift_over_random": shown / random if random > 0 else float("nan"),
    }


def reliability_points(
    lines: pl.DataFrame, truth: dict[str, pl.DataFrame], *, bins: int = 10
) -> pl.DataFrame:
    """Per equal-count bin of predicted probability of the shown novelties the truth knows:
    ``predicted`` (mean), ``actual`` (mean true acceptance probability) and ``lines`` — a
    reliability diagram's points."""
    known = true_acceptance(lines, truth)
    _, table = reliability(known["probability"], known["true_probability"], bins)
    return table.select("predicted", pl.col("observed").alias("actual"), pl.col("n").alias("lines"))
