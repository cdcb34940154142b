"""The shops served online, as their rep and their manager see them: the shops in digital or
automatic mode in reach, the next automatic order of each shop in automatic mode (what and
when, or cancelled, or placed), and the tasks given to shops with their answers."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from salescope.domain.errors import PermissionDeniedError
from salescope.domain.statuses import InteractionMode, UserRole
from salescope.services.access import Permission, Scope, visible
from salescope.services.replenishment import AutoPlan, list_auto_plans
from salescope.services.serving import OrderEngine
from salescope.services.shop_tasks import list_tasks
from salescope.storage.models import Customer, ShopTask

ONLINE_MODES = (InteractionMode.DIGITAL.value, InteractionMode.AUTOMATIC.value)


@dataclass(frozen=True, slots=True)
class OnlineShops:
    customers: dict[str, Customer]  # the shops in digital or automatic mode, by id
    plans: list[AutoPlan]
    tasks: list[ShopTask]
    region: str | None


def online_shops(
    session: Session, scope: Scope, engine: OrderEngine, region: str | None = None
) -> OnlineShops:
    """The shops served online in the caller's reach (of ``region``), their automatic orders
    and the tasks of every shop in reach."""
    scope.require(Permission.ORDERS_READ)
    if scope.role is UserRole.SHOP:
        raise PermissionDeniedError("a shop sees its own order and tasks on its ordering page")
    scope.require_region(region)
    query = sa.select(Customer).where(
        visible(scope, Customer),
        Customer.status == "served",
        Customer.interaction_mode.in_(ONLINE_MODES),
    )
    if region:
        query = query.where(Customer.region == region)
    customers = list(session.scalars(query.order_by(Customer.customer_id)))
    tasks = list_tasks(session, scope, region=region)
    known = {c.customer_id: c for c in customers}
    missing = {t.customer_id for t in tasks} - set(known)
    if missing:
        for c in session.scalars(sa.select(Customer).where(Customer.customer_id.in_(missing))):
            known[c.customer_id] = c
    return OnlineShops(known, list_auto_plans(session, scope, engine, customers), tasks, region)
