"""Next-basket metrics, computed per customer and averaged over customers (in customer
order, so that the same rows give the same figures to the last bit).

``ranked``: ``c, p, rank`` (1 = best); ``truth``: ``c, p, q`` (the order that was placed) with
``seen`` (1 when the customer had bought the product before the cut-off).
"""

from __future__ import annotations

import math

import polars as pl


def _mean(values: pl.Series) -> float:
    """Mean of a numeric series, 0 when it is empty."""
    mean = values.cast(pl.Float64).mean()
    return float(mean) if isinstance(mean, int | float) else 0.0


def ranking_metrics(
    ranked: pl.DataFrame, truth: pl.DataFrame, ks: tuple[int, ...] = (10, 20)
) -> dict[str, float]:
    """Recall@K, NDCG@K, PHR@K, and repeat / explore recall@K (averaged over the customers
    that have such products in their order)."""
    sizes = truth.group_by("c").agg(
        pl.len().alias("n_true"),
        (pl.col("seen") == 1).sum().alias("n_repeat"),
        (pl.col("seen") == 0).sum().alias("n_explore"),
    )
    # sums in a fixed order (customer, rank): the same rows give the same bits, whatever
    # their order and however Polars splits its work
    hits = ranked.join(truth.select("c", "p", "seen"), on=["c", "p"], how="inner").sort("c", "rank")
    out: dict[str, float] = {"customers": float(sizes.height)}
    for k in ks:
        at_k = hits.filter(pl.col("rank") <= k)
        per = (
            at_k.group_by("c")
            .agg(
                pl.len().alias("hits"),
                (pl.col("seen") == 1).sum().alias("hits_repeat"),
                (pl.col("seen") == 0).sum().alias("hits_explore"),
                (1.0 / (pl.col("rank").cast(pl.Float64) + 1.0).log(2)).sum().alias("dcg"),
            )
            .join(sizes, on="c", how="right")
            .fill_null(0)
            .sort("c")
        )
        ideal = (
            pl.int_ranges(1, pl.min_horizontal(pl.col("n_true"), pl.lit(k)) + 1)
            .list.eval(1.0 / (pl.element().cast(pl.Float64) + 1.0).log(2))
            .list.sum()
        )
        per = per.with_columns(ideal.alias("idcg"))
        out[f"recall@{k}"] = _mean(per["hits"] / per["n_true"])
        out[f"ndcg@{k}"] = _mean(per["dcg"] / per["idcg"])
        out[f"phr@{k}"] = _mean(per["hits"] > 0)
        rep = per.filter(pl.col("n_repeat") > 0)
        exp = per.filter(pl.col("n_explore") > 0)
        out[f"repeat_recall@{k}"] = _mean(rep["hits_repeat"] / rep["n_repeat"])
        out[f"explore_recall@{k}"] = (
            _mean(exp["hits_explore"] / exp["n_explore"]) if exp.height else 0.0
        )
    return out


def proposal_metrics(lines: pl.DataFrame, truth: pl.DataFrame) -> dict[str, float]:
    """Precision, recall and F1 of proposals (``c, p``), averaged over customers; a customer
    without proposal lines scores 0."""
    sizes = truth.group_by("c").agg(pl.len().alias("n_true"))
    proposed = lines.group_by("c").agg(pl.len().alias("n_prop"))
    hits = (
        lines.join(truth.select("c", "p"), on=["c", "p"]).group_by("c").agg(pl.len().alias("hits"))
    )
    per = (
        sizes.join(proposed, on="c", how="left")
        .join(hits, on="c", how="left")
        .fill_null(0)
        .with_columns(
            pl.when(pl.col("n_prop") > 0)
            .then(pl.col("hits") / pl.col("n_prop"))
            .otherwise(0.0)
            .alias("precision"),
            (pl.col("hits") / pl.col("n_true")).alias("recall"),
        )
        .with_columns(
            pl.when(pl.col("hits") > 0)
            .then(
                2
                * pl.col("precision")
                * pl.col("recall")
                / (pl.col("precision") + pl.col("recall"))
            )
            .otherwise(0.0)
            .alias("f1")
        )
        .sort("c")
    )
    return {
        "precision": _mean(per["precision"]),
        "recall": _mean(per["recall"]),
        "f1": _mean(per["f1"]),
        "lines_per_proposal": _mean(per["n_prop"]),
        "lines_per_order": _mean(per["n_true"]),
    }


def quantity_metrics(predicted: pl.DataFrame, truth: pl.DataFrame) -> dict[str, float]:
    """WAPE and bias of ``quantity`` on the lines of ``predicted`` that were ordered."""
    hit = predicted.join(truth.select("c", "p", "q"), on=["c", "p"]).sort("c", "p")
    total = float(hit["q"].sum()) if hit.height else 0.0
    if total <= 0:
        return {"wape": math.nan, "bias": math.nan, "lines": 0.0}
    error = hit["quantity"] - hit["q"]
    return {
        "wape": float(error.abs().sum()) / total,
        "bias": float(error.sum()) / total,
        "lines": float(hit.height),
    }


def reliability(
    probability: pl.Series, outcome: pl.Series, bins: int = 10
) -> tuple[float, pl.DataFrame]:
    """Expected calibration error of ``probability`` against ``outcome`` (1/0 or true/false)
    and the reliability table behind it: ``predicted, observed, n`` per equal-count bin of
    probability, lowest first. ECE is the n-weighted mean of |predicted - observed|; NaN
    when there is nothing to score. Equal-count bins keep every bin's observed rate
    meaningful where probabilities crowd near 0, as novelty probabilities do."""
    schema = {"predicted": pl.Float64(), "observed": pl.Float64(), "n": pl.UInt32()}
    frame = pl.DataFrame(
        {"p": probability.cast(pl.Float64), "y": outcome.cast(pl.Float64)}
    ).drop_nulls()
    if frame.height == 0:
        return math.nan, pl.DataFrame(schema=schema)
    table = (
        frame.with_columns((pl.col("p").rank("ordinal") * bins / (pl.len() + 1)).floor().alias("b"))
        .group_by("b")
        .agg(
            pl.col("p").mean().alias("predicted"),
            pl.col("y").mean().alias("observed"),
            pl.len().alias("n"),
        )
        .sort("b")
        .select(list(schema))
    )
    ece = float(((table["predicted"] - table["observed"]).abs() * table["n"]).sum() / frame.height)
    return ece, table


def expected_calibration_error(probability: pl.Series, outcome: pl.Series, bins: int = 10) -> float:
    """Expected calibration error of ``probability`` against ``outcome`` (see
    ``reliability``)."""
    return reliability(probability, outcome, bins)[0]


def brier_skill(probability: pl.Series, outcome: pl.Series) -> float:
    """1 - Brier score / Brier score of the base rate (the share of outcomes that happened,
    given to every line): above 0 when the probabilities tell lines apart better than the
    base rate alone; NaN when there is nothing to score or every outcome is the same."""
    frame = pl.DataFrame(
        {"p": probability.cast(pl.Float64), "y": outcome.cast(pl.Float64)}
    ).drop_nulls()
    if frame.height == 0:
        return math.nan
    base = float(frame["y"].mean())  # type: ignore[arg-type]
    reference = base * (1.0 - base)
    if reference <= 0:
        return math.nan
    brier = float(frame.select(((pl.col("p") - pl.col("y")) ** 2).mean()).item())
    return 1.0 - brier / reference


def calibration(scored: pl.DataFrame, truth: pl.DataFrame, bins: int = 10) -> dict[str, object]:
    """Expected calibration error of ``probability`` against whether the product was ordered,
    the Brier skill over the base rate, and the reliability table (equal-count bins)."""
    frame = scored.join(
        truth.select("c", "p", pl.lit(1).alias("y")), on=["c", "p"], how="left"
    ).with_columns(pl.col("y").fill_null(0))
    if frame.height == 0:
        return {"ece": math.nan, "brier_skill": math.nan, "bins": []}
    ece, table = reliability(frame["probability"], frame["y"], bins)
    return {
        "ece": ece,
        "brier_skill": brier_skill(frame["probability"], frame["y"]),
        "bins": table.to_dicts(),
    }
