"""Benchmark: how far any quantity forecast can get below "repeat the last quantity".

    .venv/bin/python benchmarks/quantity_headroom.py [--data ../shared/data]
        [--datasets iowa uci]

The next-order issue asks for quantity WAPE on hit lines at most 0.9 x "repeat the last
quantity". This script measures, at the issue's cut-offs and on every repeat line of each
customer's first order after the cut-off (the lines any engine could hit), the WAPE of simple
forecasts from the customer's own history and of two oracles that peek at the target order:

- *oracle customer scale*: the last quantity times the customer's best order-level factor for
  the target order (the weighted median of actual / last, weights last, which minimises the
  customer's absolute error), i.e. a perfect forecast of how much bigger or smaller this
  order is than usual, leaving only the line-level noise;
- *oracle pick*: per line, the better of the last quantity and the median of the last three.

It also prints the share of lines whose last quantity was exactly right, and the median of
actual / last within each tenth of the lines by days since the pair's last order (min and max
over the tenths): absolute error is minimised by the conditional median, so when that median
is 1 in every tenth, the history's timing says nothing that moves the best forecast off the
last quantity. Finally the correlation, over customers, between the log scale of the target
order and the log scale of the customer's last order before the cut-off (each line against the
pair's previous quantity): near 0 means the size of the coming order cannot be read off the
size of the last one. The customer-scale oracle is generous (a customer with one repeat line gets it
exactly), so it bounds what knowing the size of the coming order could bring.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from _common import NEXT_ORDER_CUTOFFS, SHARED_DATA, heading, orders_of  # the script's own folder

FORECASTS = {
    "last": "last quantity",
    "med3": "median of the last 3",
    "oracle_scale": "oracle customer scale",
    "oracle_pick": "oracle pick of last / median of 3",
}


def order_scale(lines, base: str):  # type: ignore[no-untyped-def]
    """Per customer ``c``: the weighted median of ``q / base`` (weights ``base``) over its lines,
    the one factor on ``base`` that minimises the customer's absolute error, as ``scale``."""
    import polars as pl

    return (
        lines.with_columns((pl.col("q") / pl.col(base)).alias("_ratio"))
        .sort("c", "_ratio")
        .group_by("c", maintain_order=True)
        .agg(
            pl.col("_ratio")
            .filter(pl.col(base).cum_sum() >= pl.col(base).sum() / 2)
            .first()
            .alias("scale")
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=type(SHARED_DATA), default=SHARED_DATA)
    parser.add_argument("--datasets", nargs="+", default=["iowa", "uci"], choices=["iowa", "uci"])
    args = parser.parse_args()
    import numpy as np
    import polars as pl

    from salescope.orders.history import encode, split_at

    print(heading("Quantity headroom: WAPE against repeating the last quantity"))
    print(
        "| dataset | cut-off | repeat lines | "
        + " | ".join(FORECASTS.values())
        + " | last exactly right | median actual / last by elapsed time"
        + " | correlation of next and last order scale |"
    )
    print(
        "| --- | --- | ---: | " + " | ".join("---:" for _ in FORECASTS) + " | ---: | ---: | ---: |"
    )
    for dataset in args.datasets:
        print(f"  reading {dataset}", file=sys.stderr)
        lines, _ = encode(orders_of(dataset, args.data))
        for cut in NEXT_ORDER_CUTOFFS[dataset]:
            history, truth = split_at(lines, dt.date.fromisoformat(cut))
            history = history.sort("c", "p", "d").with_columns(
                pl.col("q").shift(1).over("c", "p").alias("previous")
            )
            own = history.group_by("c", "p").agg(
                pl.col("q").last().alias("last"),
                pl.col("q").tail(3).median().alias("med3"),
                pl.col("d").last().alias("last_d"),
            )
            x = truth.join(own, on=["c", "p"]).filter(pl.col("q") > 0, pl.col("last") > 0)
            next_scale = order_scale(x, "last")
            last_scale = order_scale(
                history.filter(pl.col("d") == pl.col("d").max().over("c"), pl.col("previous") > 0),
                "previous",
            )
            both = next_scale.join(last_scale, on="c", suffix="_last").filter(
                pl.col("scale") > 0, pl.col("scale_last") > 0
            )
            correlation = float(
                np.corrcoef(
                    np.log(both["scale"].to_numpy()), np.log(both["scale_last"].to_numpy())
                )[0, 1]
            )
            x = x.join(next_scale, on="c").with_columns(
                (pl.col("q") / pl.col("last")).alias("ratio"),
                (pl.col("last") * pl.col("scale")).alias("oracle_scale"),
                pl.when(
                    (pl.col("last") - pl.col("q")).abs() <= (pl.col("med3") - pl.col("q")).abs()
                )
                .then(pl.col("last"))
                .otherwise(pl.col("med3"))
                .alias("oracle_pick"),
            )
            by_elapsed = (
                x.with_columns(
                    (pl.col("d") - pl.col("last_d"))
                    .dt.total_days()
                    .rank("ordinal")
                    .truediv(x.height + 1)
                    .mul(10)
                    .floor()
                    .alias("tenth")
                )
                .group_by("tenth")
                .agg(pl.col("ratio").median())
            )
            medians = by_elapsed["ratio"].to_numpy()
            exact = float(np.mean(x["q"].to_numpy() == x["last"].to_numpy()))
            actual = x["q"].to_numpy()
            wape = {
                k: float(np.abs(x[k].to_numpy() - actual).sum() / actual.sum()) for k in FORECASTS
            }
            cells = [f"{wape['last']:.3f}"] + [
                f"{wape[k]:.3f} ({wape[k] / wape['last']:.2f}x)" for k in list(FORECASTS)[1:]
            ]
            cells += [
                f"{exact:.0%}",
                f"{np.min(medians):.2f}–{np.max(medians):.2f}",
                f"{correlation:+.2f} ({both.height:,} customers)",
            ]
            print(f"| {dataset} | {cut} | {x.height:,} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
