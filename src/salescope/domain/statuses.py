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


class UserRole(StrEnum):
    """What a user of the web app and API may do (CONTRACTS.md, "Users and keys")."""

    ADMIN = "admin"
    DIRECTOR = "director"
    MANAGER = "manager"
    REP = "rep"
    MERCHANDISER = "merchandiser"
    SHOP = "shop"

    @property
    def label(self) -> str:
        return {
            "admin": "Administrator",
            "director": "Sales director",
            "manager": "Regional manager",
            "rep": "Sales rep",
            "merchandiser": "Merchandiser",
            "shop": "Shop (B2B)",
        }[self.value]

    @property
    def colour(self) -> str:
        return {
            "admin": "#37474f",
            "director": "#4527a0",
            "manager": "#1565c0",
            "rep": "#2e7d32",
            "merchandiser": "#00838f",
            "shop": "#6d4c41",
        }[self.value]

    @property
    def all_regions(self) -> bool:
        """Sees every region (admin, director)."""
        return self in (UserRole.ADMIN, UserRole.DIRECTOR)

    @property
    def field(self) -> bool:
        """Works in the field: sees its own customers and tasks (rep, merchandiser)."""
        return self in (UserRole.REP, UserRole.MERCHANDISER)


class ApiScope(StrEnum):
    """What an API key may be used for; a key never does more than its user may."""

    ORDERS_READ = "orders:read"
    ORDERS_WRITE = "orders:write"
    RECOMMENDATIONS_READ = "recommendations:read"
    RECOMMENDATIONS_WRITE = "recommendations:write"
    VISITS_READ = "visits:read"
    VISITS_WRITE = "visits:write"

    @property
    def label(self) -> str:
        noun, verb = self.value.split(":")
        return f"{'Read' if verb == 'read' else 'Write'} {noun}"


class RecommendationStatus(StrEnum):
    """Where a coverage recommendation is in the manager's review.

    proposed -> (verification_requested -> visit_reported) -> accepted | rejected |
    mode_changed; ``no_action`` is a shop the run recommends to leave as it is (keep, not now):
    shown as evidence, nothing to decide. The transitions live in
    ``salescope.domain.lifecycle``.
    """

    PROPOSED = "proposed"
    VERIFICATION_REQUESTED = "verification_requested"
    VISIT_REPORTED = "visit_reported"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    MODE_CHANGED = "mode_changed"
    NO_ACTION = "no_action"

    @property
    def label(self) -> str:
        return {
            "proposed": "To review",
            "verification_requested": "Verification requested",
            "visit_reported": "Visit reported",
            "accepted": "Accepted",
            "rejected": "Rejected",
            "mode_changed": "Mode changed",
            "no_action": "No action",
        }[self.value]

    @property
    def colour(self) -> str:
        return {
            "proposed": "#1565c0",
            "verification_requested": "#ef6c00",
            "visit_reported": "#6a1b9a",
            "accepted": "#2e7d32",
            "rejected": "#c62828",
            "mode_changed": "#00838f",
            "no_action": "#78909c",
        }[self.value]

    @property
    def open(self) -> bool:
        """Still waiting for the manager (not decided, not a no-action row)."""
        return self in (
            RecommendationStatus.PROPOSED,
            RecommendationStatus.VERIFICATION_REQUESTED,
            RecommendationStatus.VISIT_REPORTED,
        )

    @property
    def decided(self) -> bool:
        return self in (
            RecommendationStatus.ACCEPTED,
            RecommendationStatus.REJECTED,
            RecommendationStatus.MODE_CHANGED,
        )


class DecisionAction(StrEnum):
    """What a manager does with a recommendation (``POST .../decision``)."""

    ACCEPT = "accept"
    REJECT = "reject"
    REQUEST_VERIFICATION = "request_verification"
    CHANGE_MODE = "change_mode"

    @property
    def label(self) -> str:
        return {
            "accept": "Accept",
            "reject": "Reject",
            "request_verification": "Request verification",
            "change_mode": "Change mode",
        }[self.value]


class VisitStatus(StrEnum):
    """A visit task of a rep or merchandiser (a verification visit, for now)."""

    REQUESTED = "requested"
    DRAFT = "draft"
    REPORTED = "reported"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return {
            "requested": "To do",
            "draft": "Draft saved",
            "reported": "Reported",
            "cancelled": "Cancelled",
        }[self.value]

    @property
    def colour(self) -> str:
        return {
            "requested": "#ef6c00",
            "draft": "#1565c0",
            "reported": "#2e7d32",
            "cancelled": "#78909c",
        }[self.value]

    @property
    def open(self) -> bool:
        return self in (VisitStatus.REQUESTED, VisitStatus.DRAFT)


class VisitPurpose(StrEnum):
    SALES = "sales"
    VERIFICATION = "verification"
    MERCHANDISING = "merchandising"


class LineKind(StrEnum):
    """Kind of a line of the optimal order."""

    USUAL = "usual"
    DEVELOPMENT = "development"
    EXTENSION = "extension"
    OBJECTIVE = "objective"

    @property
    def is_novelty(self) -> bool:
        return self is not LineKind.USUAL

    @property
    def label(self) -> str:
        return {
            "usual": "Usual (pre-filled)",
            "development": "More of a product it buys",
            "extension": "New to the shop",
            "objective": "Business priority",
        }[self.value]

    @property
    def colour(self) -> str:
        return {
            "usual": "#546e7a",
            "development": "#00838f",
            "extension": "#6a1b9a",
            "objective": "#ef6c00",
        }[self.value]


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


# -- vocabularies the engines, plots and screens share (issue 14) ------------------------------

#: The line kinds that complete an order beyond its usual products (development, extension,
#: objective): the kinds gated, calibrated on feedback and rested.
NOVELTY_KINDS: tuple[str, ...] = tuple(k.value for k in LineKind if k.is_novelty)

#: Labels and colours of the line kinds (the proposals plot; next, the order screens).
LINE_KIND_LABELS: dict[LineKind, str] = {
    LineKind.USUAL: "Usual",
    LineKind.DEVELOPMENT: "Development (more of a product it buys)",
    LineKind.EXTENSION: "Extension (a product it never bought)",
    LineKind.OBJECTIVE: "Objective (wanted sold to its segment)",
}
LINE_KIND_COLOURS: dict[LineKind, str] = {
    LineKind.USUAL: "#90a4ae",
    LineKind.DEVELOPMENT: "#2e7d32",
    LineKind.EXTENSION: "#1565c0",
    LineKind.OBJECTIVE: "#ef6c00",
}

#: Colours of the customer statuses, in drawing order (prospects under the served shops).
CUSTOMER_STATUS_COLOURS: dict[CustomerStatus, str] = {
    CustomerStatus.PROSPECT: "#b0bec5",
    CustomerStatus.SERVED: "#1565c0",
}


class RuleSegment(StrEnum):
    """Segments given by a rule before the clustering of established customers."""

    NEW = "new"
    LAPSED = "lapsed"
    NO_ORDERS = "no_orders"

    @property
    def label(self) -> str:
        return {
            "new": "New customers",
            "lapsed": "Lapsed (no recent order)",
            "no_orders": "No orders (prospects)",
        }[self.value]


class OrderChannel(StrEnum):
    """How an order placed through Salescope came in."""

    API = "api"
    ONLINE = "online"
    REP = "rep"
    AUTOMATIC = "automatic"

    @property
    def label(self) -> str:
        return {
            "api": "Online shop (API)",
            "online": "Ordering page",
            "rep": "Taken by the rep",
            "automatic": "Automatic replenishment",
        }[self.value]

    @property
    def colour(self) -> str:
        return {
            "api": "#1565c0",
            "online": "#2e7d32",
            "rep": "#6d4c41",
            "automatic": "#6a1b9a",
        }[self.value]

    @property
    def online(self) -> bool:
        """Placed without a person of the sales force (the shop's own systems or page, or
        automatic replenishment)."""
        return self is not OrderChannel.REP


class ModelRunStatus(StrEnum):
    """A training of the next-order engine for the app."""

    TRAINING = "training"
    READY = "ready"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return {"training": "Training", "ready": "Ready", "failed": "Failed"}[self.value]

    @property
    def colour(self) -> str:
        return {"training": "#ef6c00", "ready": "#2e7d32", "failed": "#c62828"}[self.value]


class AutoOrderStatus(StrEnum):
    """An order of automatic replenishment, until its cut-off."""

    SCHEDULED = "scheduled"
    EDITED = "edited"
    CANCELLED = "cancelled"
    PLACED = "placed"

    @property
    def label(self) -> str:
        return {
            "scheduled": "Will be ordered",
            "edited": "Will be ordered (changed by the shop)",
            "cancelled": "Cancelled",
            "placed": "Ordered",
        }[self.value]

    @property
    def colour(self) -> str:
        return {
            "scheduled": "#1565c0",
            "edited": "#00838f",
            "cancelled": "#78909c",
            "placed": "#2e7d32",
        }[self.value]

    @property
    def open(self) -> bool:
        """Still to be ordered at the cut-off."""
        return self in (AutoOrderStatus.SCHEDULED, AutoOrderStatus.EDITED)


class ShopTaskKind(StrEnum):
    """What the business asks a shop to do online."""

    DELIVERY_WINDOW = "delivery_window"
    SURVEY = "survey"
    PROMOTION = "promotion"

    @property
    def label(self) -> str:
        return {
            "delivery_window": "Confirm a delivery window",
            "survey": "Short shelf survey",
            "promotion": "Accept a promotion",
        }[self.value]


class ShopTaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    DECLINED = "declined"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return {
            "open": "To do",
            "done": "Done",
            "declined": "Declined",
            "cancelled": "Cancelled",
        }[self.value]

    @property
    def colour(self) -> str:
        return {
            "open": "#ef6c00",
            "done": "#2e7d32",
            "declined": "#c62828",
            "cancelled": "#78909c",
        }[self.value]
