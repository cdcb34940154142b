"""Publishing a ``salescope coverage`` output as recommendations to review (see the
package docstring)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from salescope.data.io import CoverageFiles
from salescope.domain.errors import InputError
from salescope.domain.statuses import (
    InteractionMode,
    RecommendationStatus,
)
from salescope.services.recommendations.words import (
    ENTITY,
    NO_ACTION,
    PLAN_COLUMNS,
    RECOMMENDATIONS,
    REQUIRED,
)
from salescope.storage.models import (
    CoverageRecommendation,
    CoverageRun,
    Customer,
)
from salescope.storage.repositories import record_audit


# -- publish a coverage run ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CoverageOutput:
    """A coverage output folder, read and checked."""

    folder: Path
    customers: pl.DataFrame
    assignments: pl.DataFrame | None
    summary: dict[str, Any]
    fingerprint: str
    reps: dict[str, dict[str, Any]] = field(default_factory=dict)


def check_coverage_output(files: CoverageFiles) -> CoverageOutput:
    """Check a coverage output read by ``data.io.read_coverage_output``: customers.csv has
    the required columns (``customer_id``, ``recommendation``), every recommendation a known
    word and every customer once."""
    path, frame = files.folder / "customers.csv", files.customers
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InputError.single(str(path), "required column is missing", column=missing[0])
    frame = frame.with_columns(pl.col("customer_id").cast(pl.String))
    bad = frame.with_row_index("row", offset=2).filter(
        ~pl.col("recommendation").is_in(RECOMMENDATIONS) | pl.col("customer_id").is_null()
    )
    if bad.height:
        first = bad.row(0, named=True)
        raise InputError.single(
            str(path),
            f"is not a recommendation ({', '.join(RECOMMENDATIONS)}); {bad.height} such rows",
            row=int(first["row"]),
            column="recommendation",
            value=str(first["recommendation"]),
        )
    repeated = frame.filter(pl.col("customer_id").is_duplicated())
    if repeated.height:
        raise InputError.single(
            str(path), "repeats a customer", column="customer_id", value=repeated["customer_id"][0]
        )
    reps: dict[str, dict[str, Any]] = {}
    if files.reps is not None and "rep_id" in files.reps.columns:
        for row in files.reps.iter_rows(named=True):
            reps[str(row["rep_id"])] = {
                k: _clean(v) for k, v in row.items() if k != "rep_id" and _clean(v) is not None
            }
    return CoverageOutput(
        files.folder, frame, files.assignments, files.summary, files.fingerprint, reps
    )


@dataclass(frozen=True, slots=True)
class PublishReport:
    run_id: int
    already: bool = False
    added: int = 0
    refreshed: int = 0
    unchanged: int = 0
    decided_kept: int = 0
    without_region: int = 0
    by_recommendation: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        if self.already:
            return [f"This coverage output is already published (run {self.run_id}): no change."]
        counts = ", ".join(f"{k} {v:,}" for k, v in sorted(self.by_recommendation.items()))
        out = [
            f"Published coverage run {self.run_id}: {self.added:,} new recommendations, "
            f"{self.refreshed:,} refreshed, {self.unchanged:,} unchanged, "
            f"{self.decided_kept:,} decided ones kept (the new proposal is shown beside them).",
            f"Recommendations: {counts}.",
        ]
        if self.without_region:
            out.append(
                f"{self.without_region:,} shops have no region (not in the customers table): "
                "only admins and directors see them."
            )
        return out


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _proposal(row: Mapping[str, Any]) -> dict[str, Any]:
    """What a run proposes for one shop: recommendation, reason, plan, evidence."""
    evidence = {
        k: _clean(v)
        for k, v in row.items()
        if k not in ("customer_id", "recommendation", "reason", *PLAN_COLUMNS)
        and _clean(v) is not None
    }
    visits = _clean(row.get("visits_per_month"))
    mode = row.get("interaction_mode")
    potential = evidence.get("potential")
    return {
        "recommendation": str(row["recommendation"]),
        "reason": str(row.get("reason") or ""),
        "proposed_rep_id": None if row.get("rep_id") is None else str(row["rep_id"]),
        "proposed_mode": mode if mode in InteractionMode.__members__.values() else None,
        "proposed_visits_per_month": float(visits) if isinstance(visits, int | float) else None,
        "potential": float(potential) if isinstance(potential, int | float) else None,
        "evidence": evidence,
    }


PLAN_FIELDS = ("recommendation", "proposed_rep_id", "proposed_mode", "proposed_visits_per_month")


def do_publish(session: Session, output: CoverageOutput, *, actor: str | None) -> PublishReport:
    """Store the run and its recommendations (see the module's docstring); idempotent: the
    same customers.csv twice changes nothing."""
    existing_run = session.scalar(
        sa.select(CoverageRun).where(CoverageRun.fingerprint == output.fingerprint)
    )
    if existing_run is not None:
        return PublishReport(existing_run.id, already=True)
    as_of = output.summary.get("as_of")
    run = CoverageRun(
        actor=actor,
        source=str(output.folder),
        fingerprint=output.fingerprint,
        as_of=dt.date.fromisoformat(as_of) if isinstance(as_of, str) else None,
        summary={k: _clean(v) for k, v in output.summary.items() if k != "counts"}
        | ({"reps": output.reps} if output.reps else {}),
        counts=dict(output.customers.group_by("recommendation").len().iter_rows()),
    )
    session.add(run)
    session.flush()
    ids = output.customers["customer_id"].to_list()
    known: dict[str, tuple[str | None, str | None]] = {}
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        for cid, region, name in session.execute(
            sa.select(Customer.customer_id, Customer.region, Customer.name).where(
                Customer.customer_id.in_(chunk)
            )
        ):
            known[cid] = (region, name)
    current = {
        r.customer_id: r
        for start in range(0, len(ids), 5000)
        for r in session.scalars(
            sa.select(CoverageRecommendation).where(
                CoverageRecommendation.customer_id.in_(ids[start : start + 5000])
            )
        )
    }
    added = refreshed = unchanged = decided = no_region = 0
    for row in output.customers.iter_rows(named=True):
        cid = str(row["customer_id"])
        proposal = _proposal(row)
        region, name = known.get(cid, (None, None))
        no_region += region is None
        actionable = proposal["recommendation"] not in NO_ACTION
        rec = current.get(cid)
        if rec is None:
            status = RecommendationStatus.PROPOSED if actionable else RecommendationStatus.NO_ACTION
            session.add(
                CoverageRecommendation(
                    customer_id=cid,
                    name=name,
                    region=region,
                    run_id=run.id,
                    status=status.value,
                    **proposal,
                )
            )
            added += 1
            continue
        status = RecommendationStatus(rec.status)
        if status.decided:
            rec.rerun_id = run.id
            rec.rerun = {**proposal, "run_id": run.id, "as_of": run.as_of}
            decided += 1
            continue
        before = {f: getattr(rec, f) for f in PLAN_FIELDS}
        after = {f: proposal[f] for f in PLAN_FIELDS}
        rec.run_id, rec.name, rec.region = run.id, name, region
        rec.reason, rec.evidence, rec.potential = (
            proposal["reason"],
            proposal["evidence"],
            proposal["potential"],
        )
        for f in PLAN_FIELDS:
            setattr(rec, f, proposal[f])
        if status is RecommendationStatus.NO_ACTION and actionable:
            rec.status = RecommendationStatus.PROPOSED.value
        elif status is RecommendationStatus.PROPOSED and not actionable:
            rec.status = RecommendationStatus.NO_ACTION.value
        if before != after or rec.status != status.value:
            refreshed += 1
            record_audit(
                session,
                actor,
                "recommendation.refreshed",
                ENTITY,
                rec.id,
                {
                    "run_id": run.id,
                    "before": before | {"status": status.value},
                    "after": after | {"status": rec.status},
                    "reason": f"coverage run {run.id} ({run.as_of or 'no date'})",
                },
            )
        else:
            unchanged += 1
    session.flush()
    record_audit(
        session,
        actor,
        "coverage.published",
        "coverage_run",
        run.id,
        {"source": run.source, "added": added, "refreshed": refreshed, "decided_kept": decided},
    )
    return PublishReport(
        run.id, False, added, refreshed, unchanged, decided, no_region, dict(run.counts)
    )
