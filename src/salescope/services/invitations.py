"""Use cases of shop users: an administrator or the region's manager invites a shop (a user
bound to its customer, without a password), the invitation link lets it choose its password
once, within ``INVITE_DAYS``. Only the SHA-256 of the link's token is stored; every step is
audited."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from salescope.domain.errors import FieldError, NotFoundError
from salescope.domain.statuses import UserRole
from salescope.services import users
from salescope.services.access import Permission, Scope, visible, visible_customer
from salescope.storage.models import Customer, Invitation, User, utcnow
from salescope.storage.repositories import record_audit

INVITE_DAYS = 7


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_invite(
    session: Session, scope: Scope, customer_id: str, email: str, full_name: str = ""
) -> users.NewUser:
    """A shop user to invite for a customer in the caller's reach."""
    scope.require(Permission.SHOPS_MANAGE)
    customer = visible_customer(session, scope, customer_id.strip())
    return users.check_new_user(
        session,
        email,
        UserRole.SHOP.value,
        customer_id=customer.customer_id,
        full_name=full_name.strip()[:150] or (customer.name or ""),
    )


def do_invite(
    session: Session, scope: Scope, new: users.NewUser, hasher: PasswordHasher
) -> tuple[User, str]:
    """Create the shop user (no password yet) and its invitation; returns the user and the
    token of the link (shown once)."""
    user = users.do_add_user(session, new, hasher, actor=scope.actor)
    token = secrets.token_urlsafe(32)
    session.add(
        Invitation(
            token_hash=_hash(token),
            user_id=user.id,
            created_by=scope.actor,
            expires_at=utcnow() + dt.timedelta(days=INVITE_DAYS),
        )
    )
    record_audit(
        session,
        scope.actor,
        "user.invited",
        "user",
        user.id,
        {"email": user.username, "customer_id": user.customer_id, "days": INVITE_DAYS},
    )
    return user, token


def check_invitation(session: Session, token: str) -> Invitation:
    """The open invitation of ``token``; NotFoundError when it is unknown, used or expired."""
    found = session.scalar(sa.select(Invitation).where(Invitation.token_hash == _hash(token)))
    if (
        found is None
        or found.used_at is not None
        or found.expires_at < utcnow()
        or not found.user.active
    ):
        raise NotFoundError(
            "this invitation link is not valid any more (used or expired): ask your sales "
            "contact for a new one"
        )
    return found


def do_accept(session: Session, hasher: PasswordHasher, token: str, password: str) -> User:
    """Set the invited user's password and close the invitation."""
    invitation = check_invitation(session, token)
    if len(password) < users.MIN_PASSWORD:
        raise FieldError(f"the password needs at least {users.MIN_PASSWORD} characters", "password")
    user = invitation.user
    user.password_hash = hasher.hash(password)
    invitation.used_at = utcnow()
    record_audit(session, user.username, "user.invitation_accepted", "user", user.id, {})
    return user


@dataclass(frozen=True, slots=True)
class ShopUser:
    email: str
    customer_id: str | None
    name: str | None
    active: bool
    invited: bool  # an invitation still open
    has_password: bool


def list_shop_users(session: Session, scope: Scope) -> list[ShopUser]:
    """The shop users of the customers in the caller's reach."""
    scope.require(Permission.SHOPS_MANAGE)
    rows = session.execute(
        sa.select(User, Customer.name)
        .join(Customer, Customer.customer_id == User.customer_id)
        .where(User.role == UserRole.SHOP.value, visible(scope, Customer))
        .order_by(User.customer_id, User.username)
    ).all()
    now = utcnow()
    open_ids = set(
        session.scalars(
            sa.select(Invitation.user_id).where(
                Invitation.used_at.is_(None), Invitation.expires_at >= now
            )
        )
    )
    return [
        ShopUser(
            user.username,
            user.customer_id,
            name,
            user.active,
            user.id in open_ids,
            user.password_hash is not None,
        )
        for user, name in rows
    ]
