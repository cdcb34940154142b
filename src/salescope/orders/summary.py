"""What the fitted next-order engine did, said in sentences a sales analyst reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from salescope.orders.model import NextOrderModel

NAMES = {
    "model": "the learned model",
    "TIFU-KNN": "TIFU-KNN (the customer's and similar customers' recent orders)",
    "P-TopFreq": "P-TopFreq (how often the customer orders each product)",
}


def _pct(value: object) -> str:
    return f"{100 * float(value):.1f} %" if isinstance(value, int | float) else "?"


def describe(summary: dict[str, Any], *, trained: Path | None = None) -> Iterator[str]:
    """Sentences on how the engine learned and ranks the usual lines (``model.summary()``);
    a degraded path — a baseline serving instead of the learned model — is said with why."""
    validation = summary.get("validation") or {}
    recalls: dict[str, float] = validation.get("recall@10") or {}
    if trained is not None:
        cutoff = summary.get("cutoff")
        yield f"Engine read from {trained} (learned from the orders before {cutoff})."
        fresh = summary.get("from_orders")
        if fresh:
            new = fresh["new_customers"]
            yield (
                f"{fresh['customers']:,} customers scored from the orders read "
                f"({new:,} the engine had not learned from), as of {fresh['cutoff']}."
            )
    events = summary.get("events", 0)
    yield (
        f"Learned from {events:,} orders of the customers' own histories "
        f"({validation.get('train_rows', 0):,} training rows of "
        f"{validation.get('train_customers', 0):,} customers); checked on the latest order of "
        f"{validation.get('valid_customers', 0):,} customers."
    )
    ranked_by = summary.get("ranked_by", "model")
    measured = ", ".join(f"{NAMES.get(k, k).split(' (')[0]} {_pct(v)}" for k, v in recalls.items())
    found = f" (share of the ordered products in the top 10: {measured})" if measured else ""
    if ranked_by == "model":
        yield f"Usual lines ranked by the learned model{found}."
        return
    if "model" not in recalls:
        why = (
            "too little history to learn from: the model needs at least "
            "2,000 training rows from 30 customers and 10 customers to check it on"
        )
    else:
        why = "the learned model did no better on the customers' latest orders"
    yield f"Usual lines ranked by {NAMES.get(ranked_by, ranked_by)}: {why}{found}."


def summarise(model: NextOrderModel) -> dict[str, Any]:
    """What the fit did, for the command's summary and the model's manifest: the training
    events and rows, which ranking serves and why, the validation recall of each."""
    ranking, tifu = model.ranking_, model.tifu_
    return {
        **model.fitted_on_,
        "ranked_by": ranking.scorer,
        "degraded": ranking.degraded,
        "validation": ranking.validation,
        "tifu": {
            "group_size": tifu.group_size,
            "within_decay": tifu.within_decay,
            "group_decay": tifu.group_decay,
            "k": tifu.k,
            "alpha": tifu.alpha,
            "metric": tifu.metric,
            "tuning_recall@10": model.tifu_recall_,
        },
        "quantities": {
            "correction": model.quantity_model_.source_ == "corrected",
            "inferred_selling_multiples": model.inferred_packs_,
        },
        "adoption": {"learned": model.adoption_.learned, **model.adoption_.summary_},
        "fit_seconds": model.fit_seconds_,
        **(
            {"from_orders": model.__dict__["from_orders_"]}
            if "from_orders_" in model.__dict__
            else {}
        ),
    }
