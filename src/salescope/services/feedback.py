"""Use cases of feedback: what customers did with their proposals, and what it changes.

``check_feedback`` validates the proposals (what ``salescope next-orders`` wrote: its lines
carry the date each proposal is for), the orders the customers really placed and the matching
options.
``do_feedback`` then, in one transaction:

1. stores the proposals — a proposal (customer, date) is stored once, by the first file that
   brings it, so the same file twice stores nothing new;
2. matches the orders against every stored proposal they can answer (those of the file and
   earlier ones still waiting for an order) and stores the outcome of each line — accepted,
   quantity changed, removed, added by the customer (``salescope.orders.outcomes``); a
   proposal is answered once, so the same orders twice record nothing new;
3. updates the resting of novelties the customers turned down repeatedly;
4. writes an audit event;
5. refits the acceptance calibrator on every stored outcome when new ones came in
   (``salescope.orders.acceptance``) and stores the fit;

and returns a report: outcomes by kind, proposals answered and pending, acceptance by kind and
promotion, calibration error before and after, products resting.

Next orders apply the results (``InForce``: ``in_force`` with the settings, ``in_force_at`` in
a transaction) through ``services.orders.propose``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl
from sqlalchemy.orm import Session

from salescope.config import Settings
from salescope.domain.errors import FieldError
from salescope.domain.schemas import PROPOSALS
from salescope.domain.statuses import LineKind, LineOutcome
from salescope.faults import checkpoint
from salescope.orders.acceptance import (
    AcceptanceCalibrator,
    acceptance_report,
    calibration_errors,
)
from salescope.orders.offers import Acceptance
from salescope.orders.outcomes import (
    LINE_KEY,
    OUTCOME_SCHEMA,
    PROPOSAL_KEY,
    match_outcomes,
    next_resting,
)
from salescope.storage import repositories as repo
from salescope.storage.db import Database, sqlite_path, writer_lock
from salescope.storage.lock import data_folder_lock

WINDOW_DAYS = 14
"""Days after a proposal's date within which the customer's order answers it."""
REST_DAYS = 90
"""Days a novelty rests once the customer turned it down ``REJECTIONS`` times in a row."""
REJECTIONS = 2
"""Rejections in a row that make a novelty rest."""


@dataclass(frozen=True, slots=True)
class FeedbackRequest:
    """Validated proposals (``PROPOSALS`` table) and orders (``ORDERS`` table), the names
    they came under (the files, for the command line) and how to match them: an order
    answers a proposal within ``window_days``; a novelty turned down ``rejections`` times in
    a row rests ``rest_days``."""

    proposals: pl.DataFrame
    orders: pl.DataFrame
    proposals_name: str
    orders_name: str
    window_days: int = WINDOW_DAYS
    rest_days: int = REST_DAYS
    rejections: int = REJECTIONS


def check_feedback(
    *,
    proposals: pl.DataFrame | None,
    orders: pl.DataFrame | None,
    window_days: int = WINDOW_DAYS,
    rest_days: int = REST_DAYS,
    rejections: int = REJECTIONS,
    sources: Mapping[str, str | Path | None] | None = None,
) -> FeedbackRequest:
    """Check the proposals (at least one line) and the orders placed (read by
    ``data.io.read_tables``, which reports the problems of both files together) and the
    matching options; ``sources`` names where the frames came from."""
    names = {k: str(v) for k, v in (sources or {}).items() if v is not None}
    assert proposals is not None and orders is not None  # both required
    if proposals.is_empty():
        raise FieldError("holds no proposal lines (only a header): nothing to record", "proposals")
    if window_days < 0:
        raise FieldError("must be 0 or more", "window_days", value=str(window_days))
    if rest_days < 0:
        raise FieldError("must be 0 or more", "rest_days", value=str(rest_days))
    if rejections < 1:
        raise FieldError("must be at least 1", "rejections", value=str(rejections))
    return FeedbackRequest(
        proposals=proposals,
        orders=orders,
        proposals_name=names.get("proposals", "proposals"),
        orders_name=names.get("orders", "orders"),
        window_days=window_days,
        rest_days=rest_days,
        rejections=rejections,
    )


@dataclass(frozen=True, slots=True)
class CalibrationReport:
    """The acceptance calibrator in force after feedback, and how well it fits.

    ``ece_before`` is the calibration error of the novelty probabilities as they were shown,
    ``ece_after`` that of the calibrator's, both on the ``outcomes`` it was fitted on (in
    sample: it has one slope and at most four intercepts, so little to overfit).
    ``refitted`` says whether this run fitted it (new outcomes came in) or it is the stored
    fit.
    """

    outcomes: int
    fitted: bool
    refitted: bool
    ece_before: float
    ece_after: float
    slope: float
    intercepts: dict[str, float]
    min_outcomes: int

    def describe(self) -> str:
        """One sentence for people."""
        if self.outcomes == 0:
            return "no outcome of a shown novelty yet: probabilities are used as the engine gives"
        if not self.fitted:
            return (
                f"{self.outcomes:,} outcomes of shown novelties (at least {self.min_outcomes} "
                "with both accepted and turned-down lines are needed): probabilities are used "
                f"as the engine gives; calibration error {_ece(self.ece_before)}"
            )
        kinds = ", ".join(f"{k} {v:+.2f}" for k, v in self.intercepts.items())
        when = "refitted" if self.refitted else "as stored (no new outcome)"
        return (
            f"{when}, on {self.outcomes:,} outcomes of shown novelties (slope {self.slope:.2f}; "
            f"intercepts {kinds}): calibration error {_ece(self.ece_before)} as shown, "
            f"{_ece(self.ece_after)} recalibrated"
        )


def _ece(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


@dataclass(frozen=True, slots=True)
class FeedbackReport:
    """What ``do_feedback`` stored and found."""

    run_id: int
    new_run: bool
    proposals: int  # in the request
    proposal_lines: int  # in the request
    proposals_stored: int  # new proposals stored (the others were stored before)
    lines_stored: int
    considered: int  # stored proposals the orders could answer
    answered: int  # answered by this request's orders
    answered_before: int
    pending: int  # still without an answering order
    outcomes: dict[str, int]  # lines recorded now, by outcome
    outcome_table: pl.DataFrame  # lines recorded now: kind x outcome
    acceptance: pl.DataFrame  # acceptance_report of every stored outcome
    calibration: CalibrationReport
    resting: int  # products resting at as_of
    resting_started: int  # pairs whose rest began or was extended by this request
    as_of: dt.date
    window_days: int
    rest_days: int
    rejections: int

    @property
    def changed(self) -> bool:
        return bool(self.lines_stored or sum(self.outcomes.values()))

    def lines(self) -> list[str]:
        """The short summary printed by the command line."""
        recorded = sum(self.outcomes.values())
        kinds = ", ".join(f"{o.label.lower()} {self.outcomes[o.value]:,}" for o in LineOutcome)
        out = [
            f"{self.proposals:,} proposals ({self.proposal_lines:,} lines): "
            f"{self.proposals_stored:,} stored now, {self.proposals - self.proposals_stored:,} "
            f"stored before (proposal run {self.run_id})",
            f"Orders matched against {self.considered:,} stored proposals (an order answers a "
            f"proposal within {self.window_days} days): {self.answered:,} answered now, "
            f"{self.answered_before:,} answered before, {self.pending:,} still pending",
            f"Outcomes recorded: {recorded:,} lines" + (f" ({kinds})" if recorded else ""),
            f"Acceptance calibration: {self.calibration.describe()}",
            f"Resting: {self.resting:,} products rest at {self.as_of}, "
            f"{self.resting_started:,} of them since this feedback (a novelty turned down "
            f"{self.rejections} times in a row rests {self.rest_days} days)",
        ]
        if not self.changed:
            out.append("Nothing new: these proposals and outcomes were already recorded.")
        return out

    def details(self) -> dict[str, Any]:
        """JSON-ready counts, for the audit trail."""
        return {
            "proposals": self.proposals,
            "proposal_lines": self.proposal_lines,
            "proposals_stored": self.proposals_stored,
            "lines_stored": self.lines_stored,
            "considered": self.considered,
            "answered": self.answered,
            "answered_before": self.answered_before,
            "pending": self.pending,
            "outcomes": self.outcomes,
            "resting": self.resting,
            "resting_started": self.resting_started,
            "as_of": self.as_of.isoformat(),
            "window_days": self.window_days,
            "rest_days": self.rest_days,
            "rejections": self.rejections,
            "calibration": {
                "outcomes": self.calibration.outcomes,
                "fitted": self.calibration.fitted,
                "refitted": self.calibration.refitted,
                "ece_before": _json_float(self.calibration.ece_before),
                "ece_after": _json_float(self.calibration.ece_after),
            },
        }


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 6)


def proposals_fingerprint(proposals: pl.DataFrame) -> str:
    """sha256 of the proposal lines' content, whatever file or format they came in."""
    canonical = proposals.select(PROPOSALS.names).sort(LINE_KEY)
    return hashlib.sha256(canonical.write_csv(date_format="%Y-%m-%d").encode()).hexdigest()


def do_feedback(
    request: FeedbackRequest,
    target: Settings | Session,
    *,
    actor: str,
    source: str = "cli",
) -> FeedbackReport:
    """Record what the customers' orders did with their proposals (see the module docstring).

    The transaction's owner: given the settings of the database (migrated to the newest
    revision), one transaction is opened and committed here; given a session, its caller
    owns the transaction (the API's) and everything happens inside a savepoint, so a failure
    leaves nothing half-written either way.

    Concurrent runs are serialised: with settings, the run holds the data-folder lock (a
    second run waits, then says another run is in progress); on the database, the
    transaction takes the writer lock (SQLite's write lock from its start, a PostgreSQL
    advisory lock), and a transient conflict makes it start again.
    """

    def record(session: Session) -> FeedbackReport:
        return _record(session, request, actor=actor, source=source)

    if isinstance(target, Session):
        with target.begin_nested():
            writer_lock(target)
            return record(target)
    with data_folder_lock(target.data_dir, command="feedback", wait=target.lock_wait):
        checkpoint("feedback.locked")
        database = Database.from_settings(target)
        try:
            database.upgrade()
            report = database.transaction(record, writer=True)
            checkpoint("feedback.recorded")
            return report
        finally:
            database.dispose()


def _scope(request: FeedbackRequest, window_days: int) -> tuple[list[str], dt.date, dt.date] | None:
    """Customers and proposal dates of the stored proposals the request concerns: those of
    its proposals, and those its orders can answer."""
    customers = pl.concat(
        [request.proposals["customer_id"], request.orders["customer_id"]]
    ).unique()
    if customers.is_empty():
        return None
    first, last = pl.col("order_date").min(), pl.col("order_date").max()
    dates = [
        *request.proposals.select(first.alias("a"), last.alias("b")).row(0),
        *request.orders.select(
            (first - pl.duration(days=window_days)).alias("a"), last.alias("b")
        ).row(0),
    ]
    known = [d for d in dates if d is not None]
    return customers.sort().to_list(), min(known), max(known)


def _record(
    session: Session, request: FeedbackRequest, *, actor: str, source: str
) -> FeedbackReport:
    window_days, rest_days, rejections = (
        request.window_days,
        request.rest_days,
        request.rejections,
    )
    proposal_keys = request.proposals.select(PROPOSAL_KEY).unique()
    fingerprint = proposals_fingerprint(request.proposals)
    run = repo.find_proposal_run(session, fingerprint)
    new_run = run is None
    if run is None:
        run = repo.add_proposal_run(
            session,
            source=source,
            fingerprint=fingerprint,
            actor=actor,
            file_name=request.proposals_name,
        )
    before_store = repo.stored_proposals(session, proposal_keys["customer_id"].unique())
    lines_stored = repo.add_proposal_lines(session, run.id, request.proposals)
    proposals_stored = proposal_keys.join(before_store, on=PROPOSAL_KEY, how="anti").height
    if new_run:
        run.counts = {
            "proposals": proposal_keys.height,
            "lines": request.proposals.height,
            "lines_stored": lines_stored,
        }

    outcomes = pl.DataFrame(schema=OUTCOME_SCHEMA)  # recorded by this request
    considered = answered_before = pending = 0
    scope = _scope(request, window_days)
    if scope is not None:
        customers, since, until = scope
        stored = repo.proposal_lines(session, customers, since=since, until=until)
        matched, summary = match_outcomes(stored, request.orders, window_days=window_days)
        before = repo.answered_proposals(session, customers, since=since, until=until)
        fresh = matched.join(before, on=PROPOSAL_KEY, how="anti")
        inserted = repo.add_feedback_outcomes(session, fresh)
        outcomes = fresh.join(inserted, on=LINE_KEY, how="semi")
        considered = summary.proposals
        answered_before = stored.select(PROPOSAL_KEY).unique().join(before, on=PROPOSAL_KEY).height
        pending = considered - answered_before - fresh.select(PROPOSAL_KEY).unique().height

    as_of = request.orders.select(pl.col("order_date").max()).item() or dt.date.today()
    resting_started = 0
    if not outcomes.is_empty():
        previous = repo.resting_products(session, outcomes["customer_id"].unique())
        resting = next_resting(outcomes, previous, rest_days=rest_days, rejections=rejections)
        repo.upsert_resting(session, resting)
        resting_started = (
            resting.join(previous, on=["customer_id", "product_id"], how="left", suffix="_old")
            .filter(
                pl.col("rest_until").is_not_null()
                & pl.col("rest_until").ne_missing(pl.col("rest_until_old"))
            )
            .height
        )

    everything = repo.feedback_outcomes(session)
    calibration = _recalibrate(session, everything, refit=not outcomes.is_empty())
    report = FeedbackReport(
        run_id=run.id,
        new_run=new_run,
        proposals=proposal_keys.height,
        proposal_lines=request.proposals.height,
        proposals_stored=proposals_stored,
        lines_stored=lines_stored,
        considered=considered,
        answered=outcomes.select(PROPOSAL_KEY).unique().height,
        answered_before=answered_before,
        pending=pending,
        outcomes=_counts(outcomes),
        outcome_table=_outcome_table(outcomes),
        acceptance=acceptance_report(everything),
        calibration=calibration,
        resting=repo.resting(session, as_of).height,
        resting_started=resting_started,
        as_of=as_of,
        window_days=window_days,
        rest_days=rest_days,
        rejections=rejections,
    )
    repo.record_audit(
        session,
        actor,
        "feedback.recorded" if report.changed else "feedback.unchanged",
        "proposal_run",
        run.id,
        {
            "source": source,
            "proposals_file": request.proposals_name,
            "orders_file": request.orders_name,
            **report.details(),
        },
    )
    return report


def _counts(outcomes: pl.DataFrame) -> dict[str, int]:
    counts = dict(outcomes.group_by("outcome").len().iter_rows())
    return {o.value: int(counts.get(o.value, 0)) for o in LineOutcome}


OUTCOME_TABLE_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String(),
    **{o.value: pl.Int64() for o in LineOutcome},
}


def _outcome_table(outcomes: pl.DataFrame) -> pl.DataFrame:
    """Lines by kind (rows; null: added by the customer) and outcome (columns), kinds in
    ``LineKind`` order then the added lines; only kinds that occur."""
    if outcomes.is_empty():
        return pl.DataFrame(schema=OUTCOME_TABLE_SCHEMA)
    counts = outcomes.group_by("kind", "outcome").len().with_columns(pl.col("len").cast(pl.Int64))
    order = {k.value: i for i, k in enumerate(LineKind)}
    return (
        counts.pivot(on="outcome", index="kind", values="len")
        .with_columns(
            pl.lit(0, dtype=pl.Int64).alias(o.value)
            for o in LineOutcome
            if o.value not in counts["outcome"]
        )
        .select(
            pl.col(c).cast(t).fill_null(0) if c != "kind" else pl.col(c)
            for c, t in OUTCOME_TABLE_SCHEMA.items()
        )
        .sort(pl.col("kind").replace_strict(order, default=len(order)), nulls_last=True)
    )


def _recalibrate(session: Session, outcomes: pl.DataFrame, *, refit: bool) -> CalibrationReport:
    """Refit the calibrator on ``outcomes`` (every stored one) and store the fit when new
    outcomes came in or none is stored yet; else report the stored fit."""
    latest = repo.latest_calibration(session)
    if refit or latest is None:
        calibrator = AcceptanceCalibrator().fit(outcomes)
        before, after = calibration_errors(outcomes, calibrator)
        repo.add_calibration(
            session,
            outcomes=calibrator.outcomes_,
            parameters=calibrator.to_dict(),
            ece_before=_json_float(before),
            ece_after=_json_float(after),
        )
        refitted = True
    else:
        calibrator = AcceptanceCalibrator.from_dict(latest.parameters)
        before = math.nan if latest.ece_before is None else latest.ece_before
        after = math.nan if latest.ece_after is None else latest.ece_after
        refitted = False
    return CalibrationReport(
        outcomes=calibrator.outcomes_,
        fitted=calibrator.is_fitted,
        refitted=refitted,
        ece_before=before,
        ece_after=after,
        slope=calibrator.slope_,
        intercepts=calibrator.intercepts(),
        min_outcomes=calibrator.min_outcomes,
    )


def acceptance_calibrator(session: Session) -> AcceptanceCalibrator:
    """The acceptance calibrator in force: the newest fit stored by ``do_feedback``, or the
    identity when there is none.

    For next orders: ``calibrator.apply(lines)`` (``kind`` and ``model_probability`` columns)
    gives each novelty's calibrated acceptance probability — write it as ``probability`` and
    keep the engine's own as ``model_probability``, so that the next feedback refits on it.
    Usual lines keep their probability.
    """
    latest = repo.latest_calibration(session)
    if latest is None:
        return AcceptanceCalibrator()
    return AcceptanceCalibrator.from_dict(latest.parameters)


def resting_at(
    session: Session, as_of: dt.date, customers: list[str] | None = None
) -> pl.DataFrame:
    """The products resting at ``as_of`` (of ``customers`` when given): ``customer_id,
    product_id, rest_until``. For next orders dated ``as_of``: these are not offered as
    novelties (they may be again from ``rest_until`` on); usual lines are not affected."""
    return repo.resting(session, as_of, customers)


class InForce(NamedTuple):
    """What earlier feedback makes next orders use: the resting products (``customer_id,
    product_id, rest_until``) and the acceptance calibrator (the identity before any
    feedback)."""

    resting: pl.DataFrame
    calibrator: AcceptanceCalibrator

    @property
    def acceptance(self) -> Acceptance | None:
        """The calibration of the novelties' probabilities, once the calibrator is fitted."""
        return self.calibrator.apply if self.calibrator.is_fitted else None

    @classmethod
    def nothing(cls) -> InForce:
        """Before any feedback: nothing rests, probabilities as the engine gives them."""
        columns = ("customer_id", "product_id", "rest_until")
        schema = {c: repo.RESTING_SCHEMA[c] for c in columns}
        return cls(pl.DataFrame(schema=schema), AcceptanceCalibrator())


def in_force_at(session: Session, as_of: dt.date, customers: list[str] | None = None) -> InForce:
    """The feedback in force for next orders dated ``as_of`` (of ``customers`` when given),
    read in the caller's transaction."""
    return InForce(resting_at(session, as_of, customers), acceptance_calibrator(session))


def in_force(settings: Settings, as_of: dt.date) -> InForce:
    """The feedback in force for next orders dated ``as_of`` (``in_force_at``), read from the
    operational database in a read-only transaction of its own, migrating it first; a SQLite
    database that does not exist yet holds no feedback and is not created."""
    path = sqlite_path(settings.resolved_database_url)
    if path is not None and not path.exists():
        return InForce.nothing()
    database = Database.from_settings(settings)
    try:
        database.upgrade()
        return database.transaction(lambda session: in_force_at(session, as_of), readonly=True)
    finally:
        database.dispose()
