"""The rules a coherent recommendation obeys, checked row by row (shared by the tests)."""

from __future__ import annotations

import re

import polars as pl

_SAME_PLAN = re.compile(
    r"([a-z][a-z' ]+ (?:\d+(?:\.\d+)?/month|every \d+ months)) instead of (?:today's )?\1"
)


def broken_rules(result: pl.DataFrame) -> dict[str, list[str]]:
    """Customers breaking each rule of a coherent recommendation (empty lists: none)."""
    rec = pl.col("recommendation")
    worse = pl.col("expected_margin_recommended") < pl.col("expected_margin_current") - 1e-6
    frees = pl.col("reason").str.contains(r"frees \d+ min/month")
    served = pl.col("status") == "served"
    rules = {
        "change_mode keeps the mode": (rec == "change_mode")
        & (pl.col("interaction_mode").fill_null("") == pl.col("current_mode").fill_null("")),
        "keep changes the plan": (rec == "keep")
        & (
            (pl.col("interaction_mode") != pl.col("current_mode"))
            | (pl.col("visits_per_month") != pl.col("current_visits_per_month"))
        ),
        "worth less without naming the time freed": rec.is_in(["keep", "grow", "change_mode"])
        & worse
        & ~frees,
        "reduce not in the lower half": (rec == "reduce") & ~pl.col("lower_half"),
        "drop not in the bottom quarter": (rec == "drop")
        & ~(pl.col("low_potential") & pl.col("low_value")),
        "prospect neither add nor not_now": ~served & ~rec.is_in(["add", "not_now"]),
        "served add or not_now": served & rec.is_in(["add", "not_now"]),
        "reason without a number": ~pl.col("reason").str.contains(r"\d"),
    }
    out = {name: result.filter(expr)["customer_id"].to_list() for name, expr in rules.items()}
    out["reason compares a plan with itself"] = [
        c
        for c, text in result.select("customer_id", "reason").iter_rows()
        if _SAME_PLAN.search(text)
    ]
    return out
