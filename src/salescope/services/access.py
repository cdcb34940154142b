"""Who may see and do what: the one place where access is decided.

A ``Scope`` is built once per request from the signed-in user or the API key
(``scope_of``). Every service reads scoped data through ``visible(scope, Model)`` (a SQL
criterion added to its query) and ``get_visible`` (one row by id: 404 when it does not exist,
403 when it exists outside the caller's reach), and checks actions with ``scope.require``.
No route and no template decides access on its own.

* admin: every region, every action; director: every region, read only;
* manager: the regions given to it (``user_regions``), read and decide;
* rep, merchandiser: the customers it serves (``customers.rep_id``) and those of the visit
  tasks given to it; its own tasks; files visit reports;
* shop: its own customer only.

An API key acts as its user, narrowed to the key's scopes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from salescope.domain.errors import NotFoundError, PermissionDeniedError
from salescope.domain.statuses import ApiScope, UserRole
from salescope.storage.models import (
    AuditEvent,
    AutoOrder,
    Base,
    CoverageRecommendation,
    Customer,
    HeldOutLine,
    ModelRun,
    Photo,
    PlacedOrder,
    Rep,
    ShopTask,
    User,
    Visit,
)

_M = TypeVar("_M", bound=Base)
MAX_ID = 2**31 - 1
"""The largest id an integer key holds (PostgreSQL ``integer``)."""


class Permission(StrEnum):
    """An action, granted by role (and, for a key, by its scopes)."""

    CUSTOMERS_READ = "customers.read"
    RECOMMENDATIONS_READ = "recommendations.read"
    RECOMMENDATIONS_DECIDE = "recommendations.decide"
    VISITS_READ = "visits.read"
    VISITS_REPORT = "visits.report"
    AUDIT_READ = "audit.read"
    ORDERS_READ = "orders.read"  # suggested orders of the customers in reach
    ORDERS_PLACE = "orders.place"  # place (or take, or cancel) their orders
    MODELS_MANAGE = "models.manage"  # train the engine, see the model in use
    REPORTS_READ = "reports.read"  # acceptance and uplift of the customers in reach
    SHOPS_MANAGE = "shops.manage"  # invite shop users, give shops tasks
    TASKS_ANSWER = "tasks.answer"  # a shop answers its tasks


R = UserRole
P = Permission
ROLE_PERMISSIONS: dict[UserRole, frozenset[Permission]] = {
    R.ADMIN: frozenset(Permission) - {P.TASKS_ANSWER},
    R.DIRECTOR: frozenset(
        {
            P.CUSTOMERS_READ,
            P.RECOMMENDATIONS_READ,
            P.VISITS_READ,
            P.AUDIT_READ,
            P.ORDERS_READ,
            P.REPORTS_READ,
        }
    ),
    R.MANAGER: frozenset(
        {
            P.CUSTOMERS_READ,
            P.RECOMMENDATIONS_READ,
            P.RECOMMENDATIONS_DECIDE,
            P.VISITS_READ,
            P.AUDIT_READ,
            P.ORDERS_READ,
            P.ORDERS_PLACE,
            P.REPORTS_READ,
            P.SHOPS_MANAGE,
        }
    ),
    R.REP: frozenset(
        {P.CUSTOMERS_READ, P.VISITS_READ, P.VISITS_REPORT, P.ORDERS_READ, P.ORDERS_PLACE}
    ),
    R.MERCHANDISER: frozenset(
        {P.CUSTOMERS_READ, P.VISITS_READ, P.VISITS_REPORT, P.ORDERS_READ, P.ORDERS_PLACE}
    ),
    R.SHOP: frozenset({P.CUSTOMERS_READ, P.ORDERS_READ, P.ORDERS_PLACE, P.TASKS_ANSWER}),
}
"""What each role may do at most."""

SCOPE_PERMISSIONS: dict[ApiScope, frozenset[Permission]] = {
    ApiScope.ORDERS_READ: frozenset({P.CUSTOMERS_READ, P.ORDERS_READ}),
    ApiScope.ORDERS_WRITE: frozenset({P.CUSTOMERS_READ, P.ORDERS_READ, P.ORDERS_PLACE}),
    ApiScope.RECOMMENDATIONS_READ: frozenset({P.CUSTOMERS_READ, P.RECOMMENDATIONS_READ}),
    ApiScope.RECOMMENDATIONS_WRITE: frozenset(
        {P.CUSTOMERS_READ, P.RECOMMENDATIONS_READ, P.RECOMMENDATIONS_DECIDE}
    ),
    ApiScope.VISITS_READ: frozenset({P.CUSTOMERS_READ, P.VISITS_READ}),
    ApiScope.VISITS_WRITE: frozenset({P.CUSTOMERS_READ, P.VISITS_READ, P.VISITS_REPORT}),
}
"""What each key scope allows (still within the user's role)."""

SCOPES_OF_PERMISSION: dict[Permission, list[str]] = {
    permission: [s.value for s, allowed in SCOPE_PERMISSIONS.items() if permission in allowed]
    for permission in Permission
}


@dataclass(frozen=True, slots=True)
class Scope:
    """The caller of one request: who, in which role, over which regions and customers."""

    user_id: int
    email: str
    role: UserRole
    regions: frozenset[str] = frozenset()
    rep_id: str | None = None
    customer_id: str | None = None
    name: str = ""
    key_scopes: frozenset[ApiScope] | None = None  # None: a browser session (the whole role)
    permissions: frozenset[Permission] = field(default=frozenset())

    @property
    def actor(self) -> str:
        """How the audit trail names the caller."""
        return self.email if self.key_scopes is None else f"{self.email} (API key)"

    def may(self, permission: Permission) -> bool:
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        """Raise ``PermissionDeniedError`` unless the caller may do ``permission``."""
        if self.may(permission):
            return
        if permission in ROLE_PERMISSIONS[self.role]:
            needed = " or ".join(SCOPES_OF_PERMISSION[permission])
            raise PermissionDeniedError(f"this API key lacks the scope {needed}")
        raise PermissionDeniedError(
            f"a {self.role.label.lower()} may not do this ({permission.value})"
        )

    def may_see_region(self, region: str | None) -> bool:
        """Whether a whole region is within reach (lists filtered by region, the map)."""
        if self.role.all_regions:
            return True
        return self.role is UserRole.MANAGER and region is not None and region in self.regions

    def require_region(self, region: str | None) -> None:
        if region is not None and not self.may_see_region(region):
            raise PermissionDeniedError(f"region {region!r} is outside your regions")


def scope_of(user: User, key_scopes: Iterable[str] | None = None) -> Scope:
    """The scope of ``user``, narrowed to ``key_scopes`` when it acts through an API key."""
    role = UserRole(user.role)
    permissions = ROLE_PERMISSIONS[role]
    scopes: frozenset[ApiScope] | None = None
    if key_scopes is not None:
        scopes = frozenset(ApiScope(s) for s in key_scopes)
        granted: frozenset[Permission] = frozenset().union(*(SCOPE_PERMISSIONS[s] for s in scopes))
        permissions = permissions & granted
    return Scope(
        user_id=user.id,
        email=user.username,
        role=role,
        regions=frozenset(r.code for r in user.regions),
        rep_id=user.rep_id,
        customer_id=user.customer_id,
        name=user.full_name,
        key_scopes=scopes,
        permissions=permissions,
    )


def system_scope(actor: str) -> Scope:
    """The business acting on its own (automatic replenishment at the cut-off): it reads and
    places the orders of any customer, and nothing else; no user behind it (``user_id`` 0)."""
    return Scope(
        user_id=0,
        email=actor,
        role=UserRole.ADMIN,
        name=actor,
        permissions=frozenset({P.CUSTOMERS_READ, P.ORDERS_READ, P.ORDERS_PLACE}),
    )


def _field_customers(scope: Scope) -> sa.Select[tuple[str]]:
    """Customer ids a rep or merchandiser may see: those it serves and its tasks'."""
    return sa.union(
        sa.select(Customer.customer_id).where(Customer.rep_id == scope.rep_id),
        sa.select(Visit.customer_id).where(Visit.rep_id == scope.rep_id),
    )  # type: ignore[return-value]


def _by_customer(scope: Scope, region: Any, customer_id: Any) -> ColumnElement[bool]:
    """Rows tied to a customer (and its region): visible when the customer is."""
    role = scope.role
    if role.all_regions:
        return sa.true()
    if role is UserRole.MANAGER:
        return (
            cast(ColumnElement[bool], region.in_(sorted(scope.regions)))
            if scope.regions
            else sa.false()
        )
    if role.field:
        if scope.rep_id is None:
            return sa.false()
        return cast(ColumnElement[bool], customer_id.in_(_field_customers(scope)))
    if role is UserRole.SHOP and scope.customer_id is not None:
        return cast(ColumnElement[bool], customer_id == scope.customer_id)
    return sa.false()


def visible(scope: Scope, model: type[Base]) -> ColumnElement[bool]:
    """The SQL criterion of the rows of ``model`` that ``scope`` may see."""
    rule = _RULES.get(model)
    if rule is not None:
        return rule(scope)
    if model in (PlacedOrder, AutoOrder, ShopTask):
        # an order or a task of a customer: seen by whoever sees the customer
        return _by_customer(scope, model.region, model.customer_id)
    raise TypeError(f"no access rule for {model.__name__}")  # a bug: every model needs one


def _customers(scope: Scope) -> ColumnElement[bool]:
    return _by_customer(scope, Customer.region, Customer.customer_id)


def _recommendations(scope: Scope) -> ColumnElement[bool]:
    if scope.role is UserRole.SHOP:
        return sa.false()  # internal: a shop never sees its own coverage review
    return _by_customer(scope, CoverageRecommendation.region, CoverageRecommendation.customer_id)


def _visits(scope: Scope) -> ColumnElement[bool]:
    if scope.role.field:
        return Visit.rep_id == scope.rep_id if scope.rep_id else sa.false()
    if scope.role is UserRole.SHOP:
        return sa.false()
    return _by_customer(scope, Visit.region, Visit.customer_id)


def _photos(scope: Scope) -> ColumnElement[bool]:
    return Photo.visit_id.in_(sa.select(Visit.id).where(visible(scope, Visit)))


def _reps(scope: Scope) -> ColumnElement[bool]:
    if scope.role.all_regions:
        return sa.true()
    if scope.role is UserRole.MANAGER:
        return Rep.region.in_(sorted(scope.regions)) if scope.regions else sa.false()
    if scope.role.field and scope.rep_id:
        return Rep.rep_id == scope.rep_id
    return sa.false()


def _held_out(scope: Scope) -> ColumnElement[bool]:
    if scope.role is UserRole.SHOP:
        return sa.false()  # internal: what the uplift holdout was not shown
    return HeldOutLine.customer_id.in_(
        sa.select(Customer.customer_id).where(visible(scope, Customer))
    )


def _model_runs(scope: Scope) -> ColumnElement[bool]:
    return sa.true() if scope.may(Permission.MODELS_MANAGE) else sa.false()


def _audit(scope: Scope) -> ColumnElement[bool]:
    # Events about recommendations the caller may see (the trail on their pages).
    ids = sa.select(sa.cast(CoverageRecommendation.id, sa.String)).where(
        visible(scope, CoverageRecommendation)
    )
    if scope.role.all_regions:
        return sa.true()
    return sa.and_(AuditEvent.entity_type == "recommendation", AuditEvent.entity_id.in_(ids))


_RULES: dict[type[Base], Callable[[Scope], ColumnElement[bool]]] = {
    Customer: _customers,
    CoverageRecommendation: _recommendations,
    Visit: _visits,
    Photo: _photos,
    Rep: _reps,
    HeldOutLine: _held_out,
    ModelRun: _model_runs,
    AuditEvent: _audit,
}
"""The access rule of each model (orders and tasks follow their customer: ``visible``)."""


def scoped(scope: Scope, model: type[_M]) -> sa.Select[Any]:
    """``SELECT model`` restricted to what ``scope`` may see."""
    return sa.select(model).where(visible(scope, model))


def get_visible(session: Session, scope: Scope, model: type[_M], key: Any, *, what: str) -> _M:
    """The row of ``model`` with primary key ``key``: ``NotFoundError`` when there is none,
    ``PermissionDeniedError`` when it exists but is out of the caller's reach. ``what`` names
    it in the message ("recommendation 12")."""
    if isinstance(key, int) and not 0 < key <= MAX_ID:
        raise NotFoundError(f"{what} does not exist")
    row = session.get(model, key)
    if row is None:
        raise NotFoundError(f"{what} does not exist")
    allowed = session.scalar(
        sa.select(sa.literal(True))
        .select_from(model)
        .where(sa.and_(*(c == getattr(row, c.key) for c in model.__table__.primary_key)))
        .where(visible(scope, model))
    )
    if not allowed:
        raise PermissionDeniedError(f"{what} is outside your regions or customers")
    return row


def visible_customer(session: Session, scope: Scope, customer_id: str) -> Customer:
    """The customer ``customer_id`` if the caller may see it (404 / 403 otherwise)."""
    row = session.scalar(sa.select(Customer).where(Customer.customer_id == customer_id))
    if row is None:
        raise NotFoundError(f"customer {customer_id!r} does not exist")
    return get_visible(session, scope, Customer, row.id, what=f"customer {customer_id!r}")
