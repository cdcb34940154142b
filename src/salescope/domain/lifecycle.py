"""The life of a coverage recommendation: which action is allowed in which state.

A pure state machine, no I/O. ``transition(status, action)`` gives the next status or raises
``TransitionError`` saying why the action is refused and what can be done instead::

    proposed ──request_verification──▶ verification_requested ──(visit report)──▶ visit_reported
       │                                     │                                        │
       └──accept / reject / change_mode──────┴────────accept / reject / change_mode───┘
                                   ▼
                     accepted | rejected | mode_changed   (final)

Deciding while a verification is still requested cancels the rep's task. ``no_action`` rows
(keep, not now) have nothing to decide.
"""

from __future__ import annotations

from salescope.domain.errors import ConflictError
from salescope.domain.statuses import DecisionAction, RecommendationStatus

S = RecommendationStatus
A = DecisionAction

REPORT = "report_visit"
"""The transition a filed visit report makes (not a manager's action)."""

_FINAL: dict[str, RecommendationStatus] = {
    A.ACCEPT: S.ACCEPTED,
    A.REJECT: S.REJECTED,
    A.CHANGE_MODE: S.MODE_CHANGED,
}

TRANSITIONS: dict[RecommendationStatus, dict[str, RecommendationStatus]] = {
    S.PROPOSED: {A.REQUEST_VERIFICATION: S.VERIFICATION_REQUESTED, **_FINAL},
    S.VERIFICATION_REQUESTED: {REPORT: S.VISIT_REPORTED, **_FINAL},
    S.VISIT_REPORTED: {A.REQUEST_VERIFICATION: S.VERIFICATION_REQUESTED, **_FINAL},
    S.ACCEPTED: {},
    S.REJECTED: {},
    S.MODE_CHANGED: {},
    S.NO_ACTION: {},
}
"""status -> action -> next status. Anything not listed is refused."""


class TransitionError(ConflictError):
    """An action the recommendation's current status does not allow."""


def allowed_actions(status: RecommendationStatus) -> list[DecisionAction]:
    """The manager's actions allowed in ``status``, in display order."""
    return [a for a in DecisionAction if a.value in TRANSITIONS[status]]


def transition(status: RecommendationStatus, action: DecisionAction | str) -> RecommendationStatus:
    """The status after ``action``; ``TransitionError`` with a readable reason if refused."""
    nexts = TRANSITIONS[status]
    key = action.value if isinstance(action, DecisionAction) else action
    if key in nexts:
        return nexts[key]
    actions = {a.value: a for a in DecisionAction}
    what = actions[key].label.lower() if key in actions else "report a visit"
    if status.decided:
        raise TransitionError(
            f"cannot {what}: this recommendation is already {status.label.lower()} "
            "(a decision is final)"
        )
    if status is S.NO_ACTION:
        raise TransitionError(f"cannot {what}: the coverage run recommends no change for this shop")
    if key == REPORT:
        raise TransitionError(
            f"cannot {what}: no verification is requested (status: {status.label})"
        )
    if key == A.REQUEST_VERIFICATION:
        raise TransitionError(
            f"cannot {what}: a verification is already requested and not yet reported"
        )
    allowed = ", ".join(a.label.lower() for a in allowed_actions(status)) or "nothing"
    raise TransitionError(f"cannot {what} now (status: {status.label}); allowed: {allowed}")
