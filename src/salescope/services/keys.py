"""Use cases of API keys: create (the key is shown once), list, revoke, resolve a bearer.

A key reads ``slk_<key_id>_<secret>``: ``key_id`` (public, 12 characters) finds the row,
the secret (256 random bits) is compared by its SHA-256 in constant time. A key acts as its
user narrowed to its scopes, and stops working when it is revoked or its user is disabled.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from salescope.domain.errors import AuthenticationError, ConflictError, FieldError, NotFoundError
from salescope.domain.statuses import ApiScope, UserRole
from salescope.services.access import ROLE_PERMISSIONS, SCOPE_PERMISSIONS, Permission
from salescope.services.users import find_user
from salescope.storage.models import ApiKey, User, utcnow
from salescope.storage.repositories import record_audit

PREFIX = "slk_"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_scopes(role: UserRole, scopes: Sequence[str]) -> list[str]:
    """The scopes, validated: known, at least one, and each of use to the role."""
    if not scopes:
        known = ", ".join(s.value for s in ApiScope)
        raise FieldError(f"give at least one --scope ({known})", "scope")
    out: list[str] = []
    for raw in scopes:
        for value in raw.replace(",", " ").split():
            try:
                scope = ApiScope(value)
            except ValueError:
                known = ", ".join(s.value for s in ApiScope)
                raise FieldError(f"unknown scope {value!r}: one of {known}", "scope") from None
            specific = SCOPE_PERMISSIONS[scope] - {Permission.CUSTOMERS_READ}
            # The order scopes (issue 16's routes) are of use to every role.
            if specific and not specific & ROLE_PERMISSIONS[role]:
                raise FieldError(f"a {role.value} cannot use the scope {scope.value}", "scope")
            if scope.value not in out:
                out.append(scope.value)
    return out


def do_create_key(
    session: Session, email: str, scopes: Sequence[str], *, name: str = "", actor: str | None
) -> tuple[ApiKey, str]:
    """Create a key for the user ``email``; returns the row and the key (shown once)."""
    user = find_user(session, email)
    if not user.active:
        raise ConflictError(f"{user.username} is disabled")
    checked = check_scopes(UserRole(user.role), scopes)
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = ApiKey(
        key_id=key_id, secret_hash=_hash(secret), user_id=user.id, name=name, scopes=checked
    )
    session.add(row)
    session.flush()
    record_audit(
        session,
        actor,
        "key.created",
        "api_key",
        key_id,
        {"user": user.username, "scopes": checked, "name": name},
    )
    return row, f"{PREFIX}{key_id}_{secret}"


def list_keys(session: Session) -> list[ApiKey]:
    return list(
        session.scalars(
            sa.select(ApiKey).options(selectinload(ApiKey.user)).order_by(ApiKey.created_at)
        )
    )


def check_revoke_key(session: Session, key_id: str) -> ApiKey:
    """The live key ``key_id`` names (its id, or the whole key) to revoke
    (``NotFoundError``, or ``ConflictError`` when it is revoked already)."""
    key_id = key_id.removeprefix(PREFIX).split("_", 1)[0]
    row = session.scalar(sa.select(ApiKey).where(ApiKey.key_id == key_id))
    if row is None:
        raise NotFoundError(f"no key {key_id}")
    if row.revoked_at is not None:
        raise ConflictError(f"key {key_id} is already revoked")
    return row


def do_revoke_key(session: Session, row: ApiKey, *, actor: str | None) -> ApiKey:
    """Revoke the key (``check_revoke_key``): it stops working at once."""
    row.revoked_at = utcnow()
    record_audit(session, actor, "key.revoked", "api_key", row.key_id, {})
    return row


TOUCH_EVERY = timedelta(minutes=1)
"""How often a key's last use is written."""


def touch_due(row: ApiKey) -> bool:
    """Whether the key's last use is older than ``TOUCH_EVERY``."""
    return row.last_used_at is None or utcnow() - row.last_used_at > TOUCH_EVERY


def touch_key(session: Session, key_id: str) -> None:
    """Write the key's last use (now)."""
    session.execute(sa.update(ApiKey).where(ApiKey.key_id == key_id).values(last_used_at=utcnow()))


def resolve_key(session: Session, bearer: str, *, touch: bool = True) -> tuple[ApiKey, User]:
    """The live key of ``bearer`` and its active user; ``AuthenticationError`` otherwise.
    With ``touch``, its last use is updated in ``session`` when due."""
    invalid = AuthenticationError("invalid API key")
    if not bearer.startswith(PREFIX) or len(bearer) > 200:
        raise invalid
    key_id, _, secret = bearer.removeprefix(PREFIX).partition("_")
    row = session.scalar(
        sa.select(ApiKey)
        .where(ApiKey.key_id == key_id)
        .options(selectinload(ApiKey.user).selectinload(User.regions))
    )
    expected = row.secret_hash if row is not None else _hash("not-a-key")
    if not hmac.compare_digest(expected, _hash(secret)) or row is None:
        raise invalid
    if row.revoked_at is not None:
        raise AuthenticationError("this API key has been revoked")
    if not row.user.active:
        raise AuthenticationError("the user of this API key is disabled")
    if touch and touch_due(row):
        row.last_used_at = utcnow()
    return row, row.user
