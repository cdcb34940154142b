"""The demo: generate the synthetic company, store it like an import, then run every engine
on it and score them against the company's ground truth."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from salescope.config import Settings
from salescope.data.adapters import AdapterOutput
from salescope.data.demo import DemoCompany, DemoConfig, generate_demo
from salescope.data.demo_feedback import novelty_scores, reliability_points, simulated_orders
from salescope.data.io import write_parquet
from salescope.orders.metrics import proposal_metrics
from salescope.orders.model import NextOrderModel
from salescope.progress import Progress, no_progress
from salescope.reports.plots import company_overview, proposals_figure, save
from salescope.services.coverage import CoverageResult, check_coverage, do_coverage
from salescope.services.feedback import (
    FeedbackReport,
    check_feedback,
    do_feedback,
    in_force,
)
from salescope.services.imports import ImportReport, store_output
from salescope.services.orders import (
    EvaluateResult,
    NextOrdersRequest,
    check_evaluate,
    check_next_orders,
    do_evaluate,
    do_next_orders,
    fit_next_orders,
)


@dataclass(frozen=True, slots=True)
class DemoResult:
    company: DemoCompany
    report: ImportReport
    tables_dir: Path
    truth_dir: Path
    overview: Path
    next_orders: Path
    next_orders_score: dict[str, float]
    feedback: FeedbackRound
    coverage: CoverageResult
    potential_spearman: float
    evaluation: EvaluateResult | None


def do_demo(
    settings: Settings,
    config: DemoConfig | None = None,
    *,
    backtest: bool = True,
    actor: str = "demo",
    progress: Progress = no_progress,
) -> DemoResult:
    """Build the demo company into the data directory (replacing what is there) and run the
    engines on it.

    The canonical tables go to the table store and the database like an import, and to
    ``<data_dir>/demo/tables/*.parquet`` for the batch commands; the ground truth to
    ``<data_dir>/demo/truth/``; an overview plot to ``<data_dir>/demo/overview.png``. Then the
    next order of every served customer (``demo/next_orders.csv``, scored against the orders
    the company really placed next), coverage (``demo/coverage/``, its potential scored
    against the true one) and, with ``backtest``, the backtest at one cut-off
    (``demo/evaluation/``).
    """
    config = config or DemoConfig()
    company = generate_demo(config, progress=lambda s, f: progress(s, 0.05 * f))
    digest = hashlib.sha256(repr(config).encode()).hexdigest()
    progress("storing", 0.06)
    report = store_output(
        settings,
        AdapterOutput("demo", dict(company.tables)),
        files=(f"demo seed={config.seed}",),
        fingerprint=digest,
        replace=True,
        actor=actor,
    )
    root = settings.data_dir / "demo"
    tables_dir = root / "tables"
    company.write(tables_dir)
    truth_dir = root / "truth"
    for name, frame in company.truth.items():
        write_parquet(frame, truth_dir / f"{name}.parquet")
    t = company.tables
    overview = save(
        company_overview(t["customers"], t["reps"], t["orders"], t["products"]),
        root / "overview.png",
    )

    as_of = config.end + dt.timedelta(days=1)
    served = t["customers"].filter(pl.col("status") == "served").select("customer_id")
    targets = served.with_columns(pl.lit(as_of).alias("order_date"))
    next_path = root / "next_orders.csv"
    request = check_next_orders(
        orders=t["orders"],
        products=t["products"],
        customers=t["customers"],
        promotions=t["promotions"],
        objectives=t["objectives"],
        targets=targets,
        as_of=as_of,
    )
    model = fit_next_orders(
        request, progress=lambda s, f: progress(f"next orders: {s}", 0.1 + 0.35 * f)
    )
    lines = do_next_orders(request, next_path, model=model)
    score = _score_next_orders(lines, company.truth["future_orders"])
    progress("the model in use", 0.46)
    _use_model(settings, model, t, report.version, actor=actor)
    progress("feedback round", 0.47)
    feedback = _feedback_round(settings, company, request, model, lines, root, actor=actor)
    progress("coverage", 0.55)
    coverage = do_coverage(
        check_coverage(
            customers=t["customers"],
            orders=t["orders"],
            reps=t["reps"],
            products=t["products"],
            market=t["market"],
            as_of=as_of,
        ),
        root / "coverage",
        visits=t["visits"],
    )
    estimated = pl.read_csv(coverage.files["customers"], columns=["customer_id", "potential"])
    truth = company.truth["potential"].select("customer_id", pl.col("potential").alias("true"))
    joined = estimated.join(truth, on="customer_id")
    spearman = float(joined.select(pl.corr("potential", "true", method="spearman")).item())

    evaluation = None
    if backtest:
        cutoff = config.end - dt.timedelta(days=28)
        evaluation = do_evaluate(
            check_evaluate(orders=t["orders"], cutoffs=[cutoff]),
            root / "evaluation",
            progress=lambda s, f: progress(f"backtest: {s}", 0.7 + 0.3 * f),
        )
    progress("done", 1.0)
    return DemoResult(
        company,
        report,
        tables_dir,
        truth_dir,
        overview,
        next_path,
        score,
        feedback,
        coverage,
        spearman,
        evaluation,
    )


@dataclass(frozen=True, slots=True)
class FeedbackRound:
    """The demo's simulated feedback round: the proposals answered as the shops would have
    (truth), recorded with ``salescope feedback``, and the proposals made again with the
    acceptance recalibrated."""

    report: FeedbackReport
    before: dict[str, float]  # novelty_scores of the first proposals
    after: dict[str, float]  # ... of the proposals made after the feedback
    kinds: dict[str, int]  # lines by kind, after the feedback
    proposals: Path  # the proposals after the feedback
    plot: Path


def _feedback_round(
    settings: Settings,
    company: DemoCompany,
    request: NextOrdersRequest,
    model: NextOrderModel,
    lines: pl.DataFrame,
    root: Path,
    *,
    actor: str,
) -> FeedbackRound:
    """Answer the proposals with the orders the truth says the shops place, record the
    outcomes (database, resting, calibration), propose again with what was learned, and score
    both rounds' novelties against the true acceptance probabilities."""
    seed = company.config.seed
    placed = simulated_orders(lines, company.truth, seed=seed)
    report = do_feedback(
        check_feedback(
            proposals=lines,
            orders=placed,
            sources={"proposals": "demo proposals", "orders": "demo simulated orders"},
        ),
        settings,
        actor=actor,
        source="demo",
    )
    after_path = root / "next_orders_after_feedback.csv"
    again = do_next_orders(
        request, after_path, model=model, in_force=in_force(settings, request.as_of)
    )
    before = novelty_scores(lines, company.truth)
    after = novelty_scores(again, company.truth)
    kinds = {k: int(n) for k, n in again.group_by("kind").len().sort("kind").iter_rows()}
    figure = proposals_figure(
        kinds, reliability_points(lines, company.truth), reliability_points(again, company.truth)
    )
    return FeedbackRound(
        report, before, after, kinds, after_path, save(figure, root / "proposals.png")
    )


def _use_model(
    settings: Settings,
    model: NextOrderModel,
    tables: Mapping[str, pl.DataFrame],
    version: str | None,
    *,
    actor: str,
) -> None:
    """Write the fitted engine to ``<data_dir>/models/demo`` and make it the model the app
    serves (no second fit)."""
    from salescope.orders.persistence import fingerprint, save_model
    from salescope.services.database import open_database
    from salescope.services.models import do_register_model

    folder = save_model(
        model,
        settings.models_dir / "demo",
        data=fingerprint(tables["orders"], tables["products"], tables["customers"]),
        data_files={"tables": f"demo company ({version})"},
    )
    with open_database(settings) as database, database.session() as session:
        do_register_model(session, folder, actor=actor, source="demo", table_version=version)


def _score_next_orders(lines: pl.DataFrame, future: pl.DataFrame) -> dict[str, float]:
    """Precision / recall / F1 of the proposals against each customer's first real order
    after the history (customers who ordered again)."""
    first = future.group_by("customer_id").agg(pl.col("order_date").min().alias("_first"))
    truth = (
        future.join(first, on="customer_id")
        .filter(pl.col("order_date") == pl.col("_first"))
        .select(pl.col("customer_id").alias("c"), pl.col("product_id").alias("p"))
        .unique()
    )
    proposed = lines.select(pl.col("customer_id").alias("c"), pl.col("product_id").alias("p"))
    scored = proposed.join(truth.select("c").unique(), on="c")
    return proposal_metrics(scored, truth)
