"""Users, sign-in, sessions and API keys, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from tests.webworld import EMAILS, PASSWORD, World

from salescope.domain.errors import (
    AuthenticationError,
    ConflictError,
    FieldError,
    RateLimitedError,
)
from salescope.services import keys, users
from salescope.services.access import Permission, scope_of
from salescope.storage.models import ApiKey, AuditEvent, User


def _hasher(w: World) -> users.PasswordHasher:
    return users.password_hasher(w.settings)


def test_passwords_are_stored_as_argon2id_hashes(world: World) -> None:
    """A stored password is an Argon2id hash, never the password itself."""
    with world.db.session() as s:
        stored = s.scalar(sa.select(User.password_hash).where(User.username == EMAILS["north"]))
    assert stored is not None and stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_sign_in_with_the_right_password_gives_the_user(world: World) -> None:
    """The right e-mail (any case) and password sign the user in."""
    with world.db.session() as s:
        user = users.authenticate(s, _hasher(world), "North@Example.com ", PASSWORD, ip="1.1.1.1")
        assert user.username == EMAILS["north"]


@pytest.mark.parametrize("email", ["north@example.com", "nobody@example.com"])
def test_wrong_password_and_unknown_user_get_the_same_answer(world: World, email: str) -> None:
    """A wrong password and an unknown e-mail raise the same message."""
    with world.db.session() as s, pytest.raises(AuthenticationError) as caught:
        users.authenticate(s, _hasher(world), email, "wrong password!", ip="1.1.1.1")
    assert str(caught.value) == users.LOGIN_FAILED


def test_unknown_user_still_verifies_a_hash(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Signing in as an unknown user does the same Argon2 work as a known one."""
    hasher = _hasher(world)
    calls: list[str] = []
    original = type(hasher).verify

    def spy(self: object, hash: str, password: str) -> bool:
        calls.append(hash[:9])
        return original(self, hash, password)  # type: ignore[arg-type]

    monkeypatch.setattr(type(hasher), "verify", spy)
    with world.db.session() as s, pytest.raises(AuthenticationError):
        users.authenticate(s, hasher, "ghost@example.com", "whatever!!", ip=None)
    assert calls == ["$argon2id"]


def test_sign_in_is_rate_limited_for_known_and_unknown_users(world: World) -> None:
    """After the allowed failures, even the right password is refused for a while."""
    for email in (EMAILS["north"], "ghost@example.com"):
        for _ in range(3):
            with world.db.session() as s, pytest.raises(AuthenticationError):
                users.authenticate(
                    s, _hasher(world), email, "bad password", ip="2.2.2.2", max_failures=3
                )
        with world.db.session() as s, pytest.raises(RateLimitedError):
            users.authenticate(s, _hasher(world), email, PASSWORD, ip="2.2.2.2", max_failures=3)


def test_a_disabled_user_cannot_sign_in_and_loses_its_sessions(world: World) -> None:
    """Disabling a user ends its sessions and refuses its password."""
    with world.db.session() as s:
        user = users.authenticate(s, _hasher(world), EMAILS["rep1"], PASSWORD, ip=None)
        token = users.create_session(s, user, hours=1)
    with world.db.session() as s:
        assert users.resolve_session(s, token) is not None
        users.do_disable_user(s, users.check_disable_user(s, EMAILS["rep1"]), actor="test")
    with world.db.session() as s:
        assert users.resolve_session(s, token) is None
        with pytest.raises(AuthenticationError):
            users.authenticate(s, _hasher(world), EMAILS["rep1"], PASSWORD, ip=None)
        with pytest.raises(ConflictError):
            users.check_disable_user(s, EMAILS["rep1"])


def test_a_revoked_session_no_longer_resolves(world: World) -> None:
    """Signing out revokes the session at once; a made-up token resolves to nothing."""
    with world.db.session() as s:
        user = users.find_user(s, EMAILS["north"])
        token = users.create_session(s, user, hours=1)
    with world.db.session() as s:
        assert users.revoke_session(s, token, actor="test")
    with world.db.session() as s:
        assert users.resolve_session(s, token) is None
        assert users.resolve_session(s, "made-up") is None


@pytest.mark.parametrize(
    ("email", "role", "kwargs", "field"),
    [
        ("not-an-email", "manager", {"regions": ["north"]}, "email"),
        ("x@example.com", "overlord", {}, "role"),
        ("x@example.com", "manager", {}, "region"),
        ("x@example.com", "manager", {"regions": ["atlantis"]}, "region"),
        ("x@example.com", "rep", {}, "rep_id"),
        ("x@example.com", "rep", {"rep_id": "R99"}, "rep_id"),
        ("x@example.com", "shop", {"customer_id": "C99"}, "customer_id"),
        ("x@example.com", "director", {"password": "short"}, "password"),
    ],
)
def test_new_users_are_checked(
    world: World, email: str, role: str, kwargs: dict[str, object], field: str
) -> None:
    """A user is refused with the field at fault: e-mail, role, regions, rep, customer,
    password."""
    with world.db.session() as s, pytest.raises(FieldError) as caught:
        users.check_new_user(s, email, role, **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_an_email_is_taken_once(world: World) -> None:
    """Adding a user whose e-mail exists is a conflict."""
    with world.db.session() as s, pytest.raises(ConflictError):
        users.check_new_user(s, EMAILS["north"].upper(), "director")


def test_a_key_is_stored_hashed_and_acts_as_its_user_within_its_scopes(world: World) -> None:
    """The key resolves to its user, only its hash is stored, and its scopes narrow the
    user's permissions."""
    with world.db.session() as s:
        row, key = keys.do_create_key(
            s, EMAILS["north"], ["recommendations:read"], name="bi", actor="test"
        )
        key_id = row.key_id
    with world.db.session() as s:
        stored = s.scalar(sa.select(ApiKey).where(ApiKey.key_id == key_id))
        assert stored is not None and key.split("_", 2)[2] not in stored.secret_hash
        found, user = keys.resolve_key(s, key)
        scope = scope_of(user, found.scopes)
    assert scope.may(Permission.RECOMMENDATIONS_READ)
    assert not scope.may(Permission.RECOMMENDATIONS_DECIDE)
    assert scope.regions == {"north"}


def test_revoked_and_wrong_keys_are_refused(world: World) -> None:
    """A revoked key, a key with a wrong secret and garbage all fail to authenticate; a revoked
    key cannot be revoked again."""
    with world.db.session() as s:
        row, key = keys.do_create_key(s, EMAILS["south"], ["recommendations:write"], actor="t")
    with world.db.session() as s:
        keys.do_revoke_key(s, keys.check_revoke_key(s, row.key_id), actor="test")
    with world.db.session() as s:
        for bearer in (key, key[:-3] + "abc", "slk_nope", "garbage"):
            with pytest.raises(AuthenticationError):
                keys.resolve_key(s, bearer)
        events = s.scalars(sa.select(AuditEvent.action).where(AuditEvent.entity_type == "api_key"))
        assert set(events) == {"key.created", "key.revoked"}
        with pytest.raises(ConflictError):  # revoking it again is refused before any change
            keys.check_revoke_key(s, row.key_id)


@pytest.mark.parametrize(
    ("email", "scopes"),
    [("rep1@example.com", ["recommendations:write"]), ("north@example.com", ["nope:read"])],
)
def test_key_scopes_must_be_known_and_of_use_to_the_role(
    world: World, email: str, scopes: list[str]
) -> None:
    """Unknown scopes and scopes a role can never use are refused."""
    with world.db.session() as s, pytest.raises(FieldError):
        keys.do_create_key(s, email, scopes, actor="test")


def test_purging_removes_only_dead_sessions(world: World) -> None:
    """Expired and revoked sessions go, live ones stay."""
    with world.db.session() as s:
        user = users.find_user(s, EMAILS["north"])
        live = users.create_session(s, user, hours=1)
        dead = users.create_session(s, user, hours=1)
        users.revoke_session(s, dead)
    later = users.utcnow() + dt.timedelta(seconds=1)
    with world.db.session() as s:
        assert users.purge_sessions(s, before=later) == 1
        assert users.resolve_session(s, live) is not None
