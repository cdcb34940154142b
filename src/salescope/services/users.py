"""Use cases of users: add, list, disable; sign-in; browser sessions.

Passwords are hashed with Argon2id (argon2-cffi). Signing in takes the same work whether the
e-mail is known or not (an unknown user's password is checked against a dummy hash) and
answers the same message; failures are counted per e-mail and per address, and past the limit
every attempt is refused for 15 minutes, known user or not. A session is a random token in
the cookie; the database keeps only its SHA-256, so a stolen database opens no session, and
revoking a row ends it at once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session, selectinload

from salescope.config import Settings
from salescope.domain.errors import (
    AuthenticationError,
    ConflictError,
    FieldError,
    NotFoundError,
    RateLimitedError,
)
from salescope.domain.statuses import UserRole
from salescope.storage.models import Customer, LoginAttempt, Region, Rep, User, WebSession, utcnow
from salescope.storage.repositories import record_audit

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,150}\.[^@\s]{2,63}$")
MIN_PASSWORD = 10
RATE_WINDOW = timedelta(minutes=15)
LOGIN_FAILED = "wrong e-mail or password"


def password_hasher(settings: Settings) -> PasswordHasher:
    """Argon2id with the costs of ``settings`` (tests lower the memory cost)."""
    return PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=1,
    )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- users -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NewUser:
    email: str
    role: UserRole
    regions: tuple[str, ...]
    rep_id: str | None
    customer_id: str | None
    password: str | None
    full_name: str = ""


def normalize_email(email: str) -> str:
    return email.strip().lower()


def check_new_user(
    session: Session,
    email: str,
    role: str,
    *,
    regions: tuple[str, ...] | list[str] = (),
    rep_id: str | None = None,
    customer_id: str | None = None,
    password: str | None = None,
    full_name: str = "",
) -> NewUser:
    """Validate a user to add: a new e-mail, a role, and what the role needs — regions for a
    manager (known regions), a known rep for a rep or merchandiser, a known customer for a
    shop; a password of at least 10 characters when one is given."""
    email = normalize_email(email)
    if not EMAIL.match(email) or len(email) > 150:
        raise FieldError(f"{email!r} is not an e-mail address", "email")
    try:
        user_role = UserRole(role)
    except ValueError:
        roles = ", ".join(r.value for r in UserRole)
        raise FieldError(f"unknown role {role!r}: one of {roles}", "role") from None
    if session.scalar(sa.select(User.id).where(User.username == email)) is not None:
        raise ConflictError(f"a user {email} already exists")
    codes = _checked_regions(session, user_role, regions)
    _check_rep(session, user_role, rep_id)
    _check_customer(session, user_role, customer_id)
    if password is not None and len(password) < MIN_PASSWORD:
        raise FieldError(f"the password needs at least {MIN_PASSWORD} characters", "password")
    return NewUser(email, user_role, codes, rep_id, customer_id, password, full_name)


def _checked_regions(
    session: Session, role: UserRole, regions: tuple[str, ...] | list[str]
) -> tuple[str, ...]:
    """The regions a manager manages: at least one, each known; none for other roles."""
    codes = tuple(dict.fromkeys(r.strip() for r in regions if r.strip()))
    if role is UserRole.MANAGER and not codes:
        raise FieldError("a manager needs at least one {field:region}", "region")
    if codes and role is not UserRole.MANAGER:
        raise FieldError(
            f"regions are given to managers only ({role.value}s see "
            + ("every region)" if role.all_regions else "their own customers)"),
            "region",
        )
    if codes:
        known = set(session.scalars(sa.select(Region.code)))
        unknown = [c for c in codes if c not in known]
        if unknown:
            listed = ", ".join(sorted(known)) or "none yet: import customers first"
            raise FieldError(
                f"unknown region {', '.join(map(repr, unknown))} (known: {listed})", "region"
            )
    return codes


def _check_rep(session: Session, role: UserRole, rep_id: str | None) -> None:
    """A rep or merchandiser is a known rep; no other role is."""
    if role.field:
        if not rep_id:
            raise FieldError(f"a {role.value} needs {{field:rep_id}}", "rep_id")
        if session.scalar(sa.select(Rep.id).where(Rep.rep_id == rep_id)) is None:
            raise FieldError(f"unknown rep {rep_id!r} (import the reps table first)", "rep_id")
    elif rep_id:
        raise FieldError("{field:rep_id} is for reps and merchandisers", "rep_id")


def _check_customer(session: Session, role: UserRole, customer_id: str | None) -> None:
    """A shop is a known customer; no other role is."""
    if role is UserRole.SHOP:
        if not customer_id:
            raise FieldError("a shop needs {field:customer_id}", "customer_id")
        found = session.scalar(sa.select(Customer.id).where(Customer.customer_id == customer_id))
        if found is None:
            raise FieldError(f"unknown customer {customer_id!r}", "customer_id")
    elif customer_id:
        raise FieldError("{field:customer_id} is for shops", "customer_id")


def do_add_user(
    session: Session, new: NewUser, hasher: PasswordHasher, *, actor: str | None
) -> User:
    """Store the user (password hashed; without a password it cannot sign in until one is
    set, but its API keys work) and audit it."""
    regions = (
        list(session.scalars(sa.select(Region).where(Region.code.in_(new.regions))))
        if new.regions
        else []
    )
    user = User(
        username=new.email,
        full_name=new.full_name,
        role=new.role.value,
        password_hash=hasher.hash(new.password) if new.password else None,
        rep_id=new.rep_id,
        customer_id=new.customer_id,
        regions=regions,
    )
    session.add(user)
    session.flush()
    record_audit(
        session,
        actor,
        "user.created",
        "user",
        user.id,
        {
            "email": user.username,
            "role": user.role,
            "regions": list(new.regions),
            "rep_id": new.rep_id,
            "customer_id": new.customer_id,
        },
    )
    return user


def list_users(session: Session) -> list[User]:
    return list(
        session.scalars(sa.select(User).options(selectinload(User.regions)).order_by(User.username))
    )


def find_user(session: Session, email: str) -> User:
    user = session.scalar(sa.select(User).where(User.username == normalize_email(email)))
    if user is None:
        raise NotFoundError(f"no user {normalize_email(email)}")
    return user


def check_disable_user(session: Session, email: str) -> User:
    """The active user of ``email`` to disable (``NotFoundError``, or ``ConflictError`` when
    it is disabled already)."""
    user = find_user(session, email)
    if not user.active:
        raise ConflictError(f"{user.username} is already disabled")
    return user


def do_disable_user(session: Session, user: User, *, actor: str | None) -> User:
    """Disable the user (``check_disable_user``): it can no longer sign in, its sessions end
    and its keys stop working (they are kept, for the record)."""
    user.active = False
    now = utcnow()
    ended = session.execute(
        sa.update(WebSession)
        .where(WebSession.user_id == user.id, WebSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    record_audit(
        session,
        actor,
        "user.disabled",
        "user",
        user.id,
        {"email": user.username, "sessions_ended": ended.rowcount},  # type: ignore[attr-defined]
    )
    return user


def do_set_password(
    session: Session, email: str, password: str, hasher: PasswordHasher, *, actor: str | None
) -> User:
    user = find_user(session, email)
    if len(password) < MIN_PASSWORD:
        raise FieldError(f"the password needs at least {MIN_PASSWORD} characters", "password")
    user.password_hash = hasher.hash(password)
    record_audit(session, actor, "user.password_set", "user", user.id, {"email": user.username})
    return user


# -- sign-in ---------------------------------------------------------------------------------
class _Dummy:
    """A hash to verify unknown users' passwords against, made once per hasher."""

    cache: dict[tuple[int, int], str] = {}  # noqa: RUF012

    @classmethod
    def of(cls, hasher: PasswordHasher) -> str:
        key = (hasher.time_cost, hasher.memory_cost)
        if key not in cls.cache:
            cls.cache[key] = hasher.hash(secrets.token_urlsafe(16))
        return cls.cache[key]


def _recent_failures(session: Session, column: Any, value: str) -> int:
    since = utcnow() - RATE_WINDOW
    return int(
        session.scalar(
            sa.select(sa.func.count())
            .select_from(LoginAttempt)
            .where(column == value, LoginAttempt.at >= since, LoginAttempt.success.is_(False))
        )
        or 0
    )


def authenticate(
    session: Session,
    hasher: PasswordHasher,
    email: str,
    password: str,
    *,
    ip: str | None,
    max_failures: int = 5,
) -> User:
    """The active user with this e-mail and password; ``AuthenticationError`` (the same
    message, the same work) otherwise; ``RateLimitedError`` past ``max_failures`` recent
    failures for the e-mail (or four times as many from the address)."""
    email = normalize_email(email)[:254]
    limited = _recent_failures(session, LoginAttempt.email, email) >= max_failures or (
        ip is not None and _recent_failures(session, LoginAttempt.ip, ip) >= 4 * max_failures
    )
    if limited:
        raise RateLimitedError("too many failed sign-ins: try again in 15 minutes")
    user = session.scalar(sa.select(User).where(User.username == email))
    stored = user.password_hash if user is not None and user.active else None
    try:
        ok = hasher.verify(stored or _Dummy.of(hasher), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    session.add(LoginAttempt(email=email, ip=ip, success=ok))
    if not ok or user is None:
        session.flush()
        raise AuthenticationError(LOGIN_FAILED)
    if stored is not None and hasher.check_needs_rehash(stored):
        user.password_hash = hasher.hash(password)
    record_audit(session, user.username, "user.signed_in", "user", user.id, {"ip": ip})
    return user


def create_session(
    session: Session,
    user: User,
    *,
    hours: float,
    ip: str | None = None,
    user_agent: str | None = None,
) -> str:
    """A new session of ``user``; returns the token for the cookie (never stored)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        WebSession(
            token_hash=token_hash(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=hours),
            ip=ip,
            user_agent=(user_agent or "")[:255] or None,
        )
    )
    session.flush()
    return token


def resolve_session(session: Session, token: str | None) -> tuple[WebSession, User] | None:
    """The live session of the cookie ``token`` and its (active) user, or None."""
    if not token or len(token) > 200:
        return None
    row = session.scalar(
        sa.select(WebSession)
        .where(WebSession.token_hash == token_hash(token))
        .options(selectinload(WebSession.user).selectinload(User.regions))
    )
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if not row.user.active:
        return None
    if now - row.last_seen_at > timedelta(minutes=1):
        row.last_seen_at = now
    return row, row.user


def revoke_session(session: Session, token: str | None, *, actor: str | None = None) -> bool:
    """End the session of ``token`` (sign out). Whether there was one to end."""
    if not token:
        return False
    row = session.scalar(sa.select(WebSession).where(WebSession.token_hash == token_hash(token)))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    record_audit(session, actor, "user.signed_out", "user", row.user_id, {})
    return True


def purge_sessions(session: Session, *, before: datetime | None = None) -> int:
    """Delete sessions expired or revoked before ``before`` (now), and sign-in attempts older
    than a day (the rate limit looks 15 minutes back); how many sessions."""
    cutoff = before or utcnow()
    result = session.execute(
        sa.delete(WebSession).where(
            sa.or_(WebSession.expires_at < cutoff, WebSession.revoked_at < cutoff)
        )
    )
    session.execute(sa.delete(LoginAttempt).where(LoginAttempt.at < cutoff - timedelta(days=1)))
    return int(result.rowcount)  # type: ignore[attr-defined]
