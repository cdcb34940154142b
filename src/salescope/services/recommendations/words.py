"""The words of the coverage review: what ``salescope coverage`` writes and what the review
stores."""

RECOMMENDATIONS = ("add", "keep", "grow", "reduce", "drop", "change_mode", "not_now")
"""The words ``salescope coverage`` writes (CONTRACTS.md)."""
NO_ACTION = ("keep", "not_now")
"""Recommendations that leave the shop as it is: nothing for the manager to decide."""
REQUIRED = ("customer_id", "recommendation")
PLAN_COLUMNS = {
    "rep_id": "proposed_rep_id",
    "interaction_mode": "proposed_mode",
    "visits_per_month": "proposed_visits_per_month",
}
ENTITY = "recommendation"
