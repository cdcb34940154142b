"""The hand-over from the recommendations to rep assignment: the reps and customers
``salescope assign`` takes, and the shops to add placed on reps."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from salescope.coverage.params import (
    MERCHANDISER,
    CoverageParams,
)
from salescope.coverage.plans import (
    Recommendations,
    _column,
    _roles,
)
from salescope.domain.statuses import Recommendation

FloatArray = npt.NDArray[np.float64]


def assignment_frames(
    recommendations: Recommendations,
    customers: pl.DataFrame,
    reps: pl.DataFrame,
    params: CoverageParams | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The reps and customers to hand to rep assignment (``salescope assign``'s inputs).

    Customers: the shops recommended ``add`` (no rep yet, workload of their plan, priority =
    its expected net value) and today's customers kept by reps of the same role (their rep and
    their *recommended* workload), so that the reps' load counts. Workloads are in the reps'
    capacity unit (``cycle_months``). Reps: those of the roles the adds need (not
    merchandisers), each capacity reduced by the load of its customers without coordinates.
    """
    params = params or CoverageParams()
    roles = _roles(reps)
    field_reps = reps.filter(roles != MERCHANDISER) if (roles != MERCHANDISER).any() else reps
    recs = recommendations.customers.join(
        customers.select(
            "customer_id",
            _column(customers, "latitude", pl.Float64),
            _column(customers, "longitude", pl.Float64),
            _column(customers, "region", pl.String),
        ),
        on="customer_id",
        how="left",
    ).with_columns((pl.col("minutes_per_month") * params.cycle_months).alias("workload_minutes"))
    kept = recs.filter(
        (pl.col("status") == "served")
        & pl.col("rep_id").is_in(field_reps["rep_id"].implode())
        & (pl.col("workload_minutes") > 0)
    )
    unplaced = (
        kept.filter(pl.col("latitude").is_null() | pl.col("longitude").is_null())
        .group_by("rep_id")
        .agg(pl.col("workload_minutes").sum().alias("_elsewhere"))
    )
    adds = recs.filter(pl.col("recommendation") == Recommendation.ADD.value)
    frame = pl.concat(
        [
            kept.drop_nulls(["latitude", "longitude"]).select(
                "customer_id",
                "latitude",
                "longitude",
                "workload_minutes",
                "rep_id",
                pl.lit(None, dtype=pl.Float64).alias("priority"),
                "region",
            ),
            adds.drop_nulls(["latitude", "longitude"]).select(
                "customer_id",
                "latitude",
                "longitude",
                "workload_minutes",
                pl.lit(None, dtype=pl.String).alias("rep_id"),
                pl.col("expected_margin_recommended").clip(0.0).alias("priority"),
                "region",
            ),
        ]
    )
    if frame["region"].null_count() == frame.height or "region" not in reps.columns:
        frame = frame.drop("region")
    staff = (
        field_reps.join(unplaced, on="rep_id", how="left")
        .with_columns(
            (pl.col("capacity_minutes") - pl.col("_elsewhere").fill_null(0.0))
            .clip(0.0)
            .alias("capacity_minutes")
        )
        .drop("_elsewhere")
    )
    return staff, frame


def assign_added(
    recommendations: Recommendations,
    customers: pl.DataFrame,
    reps: pl.DataFrame,
    params: CoverageParams | None = None,
    assign_params: Any = None,
) -> tuple[pl.DataFrame, str]:
    """Assignments of the shops recommended ``add``: customer_id, rep_id, previous_rep_id,
    distance_km — and how they were made.

    The rep assignment engine (``salescope.coverage.assignment.assign``, with
    ``assign_params``) places the added shops that have coordinates; an added shop without
    coordinates goes to the rep it was planned on (the nearest rep of its role, whose free
    capacity the allocation already respected).
    """
    from salescope.coverage.assignment import AssignParams, assign

    staff, frame = assignment_frames(recommendations, customers, reps, params)
    adds = recommendations.customers.filter(pl.col("recommendation") == Recommendation.ADD.value)
    placed = frame.filter(pl.col("rep_id").is_null()) if frame.height else frame
    parts: list[pl.DataFrame] = []
    how = "no shop to add"
    if placed.height:
        result = assign(staff, frame, assign_params or AssignParams(time_limit_seconds=20))
        parts.append(
            result.assignments.join(
                adds.select("customer_id"), on="customer_id", how="semi"
            ).select(
                "customer_id",
                pl.col("rep_id").cast(pl.String),
                pl.col("previous_rep_id").cast(pl.String),
                pl.col("distance_km").cast(pl.Float64),
            )
        )
        how = (
            "rep assignment engine (capacity, priority, then least distance; "
            f"{result.unassigned:,} left unassigned, gap {result.gap:.2%})"
        )
    rest = adds.join(pl.concat(parts) if parts else adds.head(0), on="customer_id", how="anti")
    if rest.height:
        parts.append(
            rest.select(
                "customer_id",
                pl.col("planning_rep_id").alias("rep_id"),
                pl.lit(None, dtype=pl.String).alias("previous_rep_id"),
                pl.col("distance_km"),
            )
        )
        how = (
            f"{how}; " if placed.height else ""
        ) + f"{rest.height:,} without coordinates on the nearest rep planned for them"
    if not parts:
        return (
            pl.DataFrame(
                schema={
                    "customer_id": pl.String,
                    "rep_id": pl.String,
                    "previous_rep_id": pl.String,
                    "distance_km": pl.Float64,
                }
            ),
            how,
        )
    return pl.concat(parts).sort("customer_id"), how
