"""Use cases of the coverage review: publish a coverage run as recommendations, list and read
them within the caller's reach, and decide (accept, reject, request verification, change the
interaction mode) under the state machine of ``domain.lifecycle`` with optimistic locking and
an audit record per step.

Publishing reads ``DIR/customers.csv`` of ``salescope coverage`` by column name (extra columns
are kept as evidence, missing optional ones are simply absent), ``assignments.csv`` and
``summary.json``. A new run never loses a decision: an open recommendation is refreshed (the
audit trail says what changed), a decided one keeps its decision and gets the new run's
proposal beside it (``rerun``).
"""

from salescope.services.recommendations.decisions import (
    MAX_TEXT,
    BulkResult,
    Decision,
    DecisionInput,
    check_decision,
    decide,
    decide_many,
    do_decision,
    flush_or_conflict,
    mark_visit_reported,
)
from salescope.services.recommendations.publish import (
    PLAN_FIELDS,
    CoverageOutput,
    PublishReport,
    check_coverage_output,
    do_publish,
)
from salescope.services.recommendations.queries import (
    ASSUMPTIONS,
    SORTS,
    RecommendationFilter,
    audit_trail,
    count_by,
    decode_cursor,
    encode_cursor,
    get_recommendation,
    latest_run,
    list_recommendations,
    peers,
    recent_audit,
    region_reps,
    run_context,
)
from salescope.services.recommendations.words import (
    ENTITY,
    NO_ACTION,
    PLAN_COLUMNS,
    RECOMMENDATIONS,
    REQUIRED,
)

__all__ = [
    "ASSUMPTIONS",
    "ENTITY",
    "MAX_TEXT",
    "NO_ACTION",
    "PLAN_COLUMNS",
    "PLAN_FIELDS",
    "RECOMMENDATIONS",
    "REQUIRED",
    "SORTS",
    "BulkResult",
    "CoverageOutput",
    "Decision",
    "DecisionInput",
    "PublishReport",
    "RecommendationFilter",
    "audit_trail",
    "check_coverage_output",
    "check_decision",
    "count_by",
    "decide",
    "decide_many",
    "decode_cursor",
    "do_decision",
    "do_publish",
    "encode_cursor",
    "flush_or_conflict",
    "get_recommendation",
    "latest_run",
    "list_recommendations",
    "mark_visit_reported",
    "peers",
    "recent_audit",
    "region_reps",
    "run_context",
]
