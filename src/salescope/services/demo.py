"""The demo: generate the synthetic company, store it like an import, and show it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from salescope.config import Settings
from salescope.data.adapters import AdapterOutput
from salescope.data.demo import DemoCompany, DemoConfig, generate_demo
from salescope.data.io import write_parquet
from salescope.progress import Progress, no_progress
from salescope.reports.plots import company_overview, save
from salescope.services.imports import ImportReport, store_output


@dataclass(frozen=True, slots=True)
class DemoResult:
    company: DemoCompany
    report: ImportReport
    tables_dir: Path
    truth_dir: Path
    overview: Path


def do_demo(
    settings: Settings,
    config: DemoConfig | None = None,
    *,
    actor: str = "demo",
    progress: Progress = no_progress,
) -> DemoResult:
    """Build the demo company into the data directory (replacing what is there).

    The canonical tables go to the table store and the database like an import, and also to
    ``<data_dir>/demo/tables/*.parquet`` for the batch commands; the ground truth to
    ``<data_dir>/demo/truth/``; an overview plot to ``<data_dir>/demo/overview.png``.
    """
    config = config or DemoConfig()
    company = generate_demo(config, progress=lambda s, f: progress(s, 0.6 * f))
    digest = hashlib.sha256(repr(config).encode()).hexdigest()
    progress("storing", 0.65)
    report = store_output(
        settings,
        AdapterOutput("demo", dict(company.tables)),
        files=(f"demo seed={config.seed}",),
        fingerprint=digest,
        replace=True,
        actor=actor,
    )
    root = settings.data_dir / "demo"
    progress("writing files", 0.8)
    tables_dir = root / "tables"
    company.write(tables_dir)
    truth_dir = root / "truth"
    for name, frame in company.truth.items():
        write_parquet(frame, truth_dir / f"{name}.parquet")
    progress("plotting", 0.9)
    t = company.tables
    overview = save(
        company_overview(t["customers"], t["reps"], t["orders"], t["products"]),
        root / "overview.png",
    )
    progress("done", 1.0)
    return DemoResult(company, report, tables_dir, truth_dir, overview)
