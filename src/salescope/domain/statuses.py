"""Small closed vocabularies, each value with a label (and a colour for screens).

In the spirit of NetBox's ``choices.py``: one place that every screen, file and engine uses.
"""

from __future__ import annotations

from enum import StrEnum


class CustomerStatus(StrEnum):
    SERVED = "served"
    PROSPECT = "prospect"

    @property
    def label(self) -> str:
        return {"served": "Served customer", "prospect": "Prospect"}[self.value]


class LineKind(StrEnum):
    """Kind of a line of the optimal order."""

    USUAL = "usual"
    DEVELOPMENT = "development"
    EXTENSION = "extension"
    OBJECTIVE = "objective"

    @property
    def is_novelty(self) -> bool:
        return self is not LineKind.USUAL


class Recommendation(StrEnum):
    """What coverage recommends: ``add`` / ``not_now`` for prospects, the others for served
    customers."""

    ADD = "add"
    NOT_NOW = "not_now"
    KEEP = "keep"
    GROW = "grow"
    REDUCE = "reduce"
    DROP = "drop"
    CHANGE_MODE = "change_mode"

    @property
    def colour(self) -> str:
        return {
            "add": "#2e7d32",
            "not_now": "#b0bec5",
            "keep": "#546e7a",
            "grow": "#1565c0",
            "reduce": "#ef6c00",
            "drop": "#c62828",
            "change_mode": "#6a1b9a",
        }[self.value]


class InteractionMode(StrEnum):
    FIELD = "field"
    VIDEO = "video"
    DIGITAL = "digital"
    AUTOMATIC = "automatic"
    MERCHANDISER = "merchandiser"
    WHOLESALER = "wholesaler"

    @property
    def label(self) -> str:
        return {
            "field": "Field visits",
            "video": "Video call",
            "digital": "Digital ordering platform",
            "automatic": "Automatic replenishment",
            "merchandiser": "Merchandiser",
            "wholesaler": "Wholesaler staff",
        }[self.value]


class RepRole(StrEnum):
    REP = "rep"
    MERCHANDISER = "merchandiser"
    TELESALES = "telesales"
    KEY_ACCOUNT = "key_account"


class PromotionMechanic(StrEnum):
    DISCOUNT_PCT = "discount_pct"
    FREE_UNITS = "free_units"
    BUNDLE = "bundle"


class LineOutcome(StrEnum):
    """What the customer's actual order did with a line of its proposal (feedback)."""

    ACCEPTED = "accepted"
    QUANTITY_CHANGED = "quantity_changed"
    REMOVED = "removed"
    ADDED = "added"

    @property
    def label(self) -> str:
        return {
            "accepted": "Accepted",
            "quantity_changed": "Quantity changed",
            "removed": "Removed",
            "added": "Added by the customer",
        }[self.value]

    @property
    def colour(self) -> str:
        return {
            "accepted": "#2e7d32",
            "quantity_changed": "#1565c0",
            "removed": "#c62828",
            "added": "#6a1b9a",
        }[self.value]

    @property
    def shown(self) -> bool:
        """Whether the line was in the proposal (every outcome but ``added``)."""
        return self is not LineOutcome.ADDED

    @property
    def taken(self) -> bool:
        """Whether a proposed line was ordered (accepted, possibly with another quantity)."""
        return self in (LineOutcome.ACCEPTED, LineOutcome.QUANTITY_CHANGED)
