"""``salescope demo``: the synthetic company, every engine run on it, the app served."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from salescope.cli.common import out, progress_bar, render_table, settings_of
from salescope.cli.orders import show_backtest


def demo(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic company.")] = 7,
    small: Annotated[
        bool, typer.Option("--small", help="A small company (300 shops, 8 months).")
    ] = False,
    backtest: Annotated[
        bool, typer.Option(help="Also backtest the next-order engine at one cut-off.")
    ] = True,
    serve_app: Annotated[
        bool,
        typer.Option(
            "--serve/--no-serve",
            help="Serve the web app at the end (--no-serve: exit, for scripts).",
        ),
    ] = True,
    host: Annotated[str, typer.Option(help="Interface the app listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the app.", min=1, max=65535)] = 8000,
) -> None:
    """Build the synthetic demo company, run every engine on it, and score them against the
    company's ground truth; publish its coverage recommendations, create a user per role and
    serve the web app (unless --no-serve)."""
    from salescope.data.demo import DemoConfig
    from salescope.services.calendar import next_delivery_date
    from salescope.services.demo import do_demo

    settings = settings_of(ctx)
    config = DemoConfig.small(seed) if small else DemoConfig(seed=seed)
    with progress_bar("demo company") as update:
        result = do_demo(settings, config, backtest=backtest, progress=update)
    summary = result.company.summary()
    labels = {
        "regions": "regions",
        "towns": "towns",
        "shops": "shops in the market universe",
        "served": "  served customers",
        "prospects": "  prospects",
        "new_in_history": "  customers won during the history",
        "churned": "  customers lost during the history",
        "reps": "reps",
        "merchandisers": "merchandisers",
        "categories": "categories",
        "products_own": "our products",
        "products_competitor": "competitors' products",
        "launches": "launches during the history",
        "promotions": "promotions",
        "objectives": "objectives",
        "orders": "orders",
        "order_lines": "order lines",
        "lines_per_order": "lines per order",
        "first_order": "first order",
        "last_order": "last order",
        "revenue": "revenue",
        "revenue_last_12m": "revenue, last 12 months",
        "lines_on_promotion": "lines bought on promotion",
        "market_rows": "market observations",
        "visits": "visits",
    }
    rows = [
        (label, f"{summary[key]:,}" if isinstance(summary[key], int | float) else str(summary[key]))
        for key, label in labels.items()
    ]
    out.print(render_table(f"Demo company (seed {seed})", rows, ("", "")))
    out.print(f"Tables stored in {settings.data_dir} (version {result.report.version}); files for")
    out.print(f"the batch commands in {result.tables_dir}, ground truth in {result.truth_dir}.")
    out.print(f"Overview plot: {result.overview}")
    s = result.next_orders_score
    out.print(
        f"\n[bold]Next orders[/] of every served customer: {result.next_orders}\n"
        f"  against the orders the customers really placed next: precision {s['precision']:.2f}, "
        f"recall {s['recall']:.2f}, F1 {s['f1']:.2f} ({s['lines_per_proposal']:.1f} lines "
        f"proposed, {s['lines_per_order']:.1f} ordered)"
    )
    show_demo_feedback(result)
    out.print("\n[bold]Coverage[/]")
    for line in result.coverage.lines():
        out.print(line, highlight=False, soft_wrap=True)
    out.print(
        f"  estimated potential against the true one: Spearman {result.potential_spearman:.3f}"
    )
    if result.evaluation is not None:
        out.print("\n[bold]Backtest[/] of the next-order engine against the baselines")
        show_backtest(result.evaluation.results)
        out.print(f"Report and plot in {result.evaluation.report.parent}")
    from salescope.services.demo_web import do_demo_web

    url = f"http://{host}:{port}"
    published, made, users_file = do_demo_web(
        settings, result.coverage.out_dir, url=url, proposals=result.feedback.proposals
    )
    out.print("\n[bold]Web app[/]")
    for line in published.lines():
        out.print(f"  {line}", highlight=False, soft_wrap=True)
    out.print(f"  Demo users (also in {users_file}):", highlight=False)
    width = max(len(u.email) for u in made) if made else 0
    for u in made:
        out.print(
            f"    {u.email:<{width}}  {u.password:<14} {u.role:<13} {u.scope}",
            highlight=False,
            soft_wrap=True,
        )
    today = settings.today or result.company.config.end + dt.timedelta(days=1)
    out.print(
        f"  The app works on {today} (the day after the demo's history; SALESCOPE_TODAY), "
        f"so the shop's next delivery is {next_delivery_date(today)}."
    )
    if serve_app:
        from salescope.web.serve import run

        run(settings.model_copy(update={"today": today}), host=host, port=port, console=out)
    else:
        out.print(
            f"Start the app with: SALESCOPE_TODAY={today} salescope --data-dir "
            f"{settings.data_dir} serve --port {port}",
            highlight=False,
            soft_wrap=True,
        )


def show_demo_feedback(result: Any) -> None:
    """The demo's proposals: the top customers' lines, counts by kind, and the simulated
    feedback round against the true acceptance."""
    import polars as pl

    lines = pl.read_csv(result.feedback.proposals, try_parse_dates=True)
    top = (
        lines.group_by("customer_id")
        .agg(pl.len().alias("n"), (pl.col("kind") != "usual").sum().alias("novel"))
        .sort(["novel", "n", "customer_id"], descending=[True, True, False])
        .head(2)["customer_id"]
        .to_list()
    )
    for customer in top:
        rows = [
            (
                str(r["rank"]),
                str(r["product_id"]),
                str(r["kind"]),
                f"{r['probability']:.2f}",
                f"{r['quantity']:g}",
                str(r["reason"] or ""),
            )
            for r in lines.filter(
                (pl.col("customer_id") == customer)
                & ((pl.col("kind") != "usual") | (pl.col("rank") <= 5))
            ).iter_rows(named=True)
        ]
        out.print(
            render_table(
                f"Proposal of {customer}",
                rows,
                ("#", "product", "kind", "prob.", "qty", "reason"),
            )
        )
    feedback = result.feedback
    kinds = ", ".join(f"{k}: {n:,}" for k, n in feedback.kinds.items())
    with_novelty = lines.group_by("customer_id").agg((pl.col("kind") != "usual").any())
    share = float(with_novelty["kind"].cast(pl.Float64).to_numpy().mean())
    out.print(f"Lines by kind: {kinds}; {share:.0%} of the proposals carry a novelty.")
    b, a = feedback.before, feedback.after
    out.print(
        "[bold]Simulated feedback round[/] (the shops answer as the truth says): "
        f"shown novelties accepted with true probability {b.get('shown_acceptance', 0):.2f} "
        f"before and {a.get('shown_acceptance', 0):.2f} after the feedback, against "
        f"{a.get('random_acceptance', 0):.2f} for products chosen at random "
        f"({a.get('lift_over_random', 0):.1f} x); calibration error of the novelties' "
        f"probabilities {b.get('ece', float('nan')):.3f} before, {a.get('ece', float('nan')):.3f} "
        "after."
    )
    for line in feedback.report.lines():
        out.print(f"  {line}", highlight=False, soft_wrap=True)
    out.print(f"Proposals after the feedback: {feedback.proposals}; plot: {feedback.plot}")
