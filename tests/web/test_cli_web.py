"""The `users`, `keys`, `recommendations import` and `serve` commands (CONTRACTS.md)."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import pytest
import sqlalchemy as sa

from salescope import cli
from salescope.services.keys import resolve_key
from salescope.storage.models import ApiKey
from tests.cli_runner import run
from tests.webworld import World, write_coverage


@pytest.fixture
def cli_env(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    """The CLI pointed at the small company's database."""
    monkeypatch.setenv("SALESCOPE_DATA_DIR", str(world.settings.data_dir))
    monkeypatch.setenv("SALESCOPE_DATABASE_URL", world.settings.resolved_database_url)
    monkeypatch.setenv("SALESCOPE_ARGON2_MEMORY_KIB", "8")
    monkeypatch.setenv("SALESCOPE_ARGON2_TIME_COST", "1")
    monkeypatch.setattr(cli.out, "width", 200)  # tables unwrapped
    return world


def test_users_add_list_disable(
    cli_env: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """add (password from stdin), list shows the user with its region, disable, and a second
    disable is an error with exit status 1."""
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    added = run(
        capsys,
        "users",
        "add",
        "Eve@Example.com",
        "--role",
        "manager",
        "--region",
        "south",
        "--password-stdin",
    )
    assert added.code == 0, added.stderr
    assert "eve@example.com" in added.stdout and "Password" not in added.stdout
    listed = run(capsys, "users", "list")
    assert "eve@example.com" in listed.stdout and "south" in listed.stdout
    assert run(capsys, "users", "disable", "eve@example.com").code == 0
    again = run(capsys, "users", "disable", "eve@example.com")
    assert again.code == 1 and "already disabled" in again.stderr


def test_users_add_generates_a_password_when_none_is_given(
    cli_env: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --password-stdin a password is generated and printed once."""
    added = run(capsys, "users", "add", "dan@example.com", "--role", "director")
    assert added.code == 0 and "Password (shown once)" in added.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["users", "add", "x@example.com", "--role", "manager"], "at least one --region"),
        (["users", "add", "x@example.com", "--role", "rep", "--rep-id", "R99"], "unknown rep"),
        (["users", "add", "bad", "--role", "admin"], "not an e-mail"),
        (
            ["keys", "create", "--user", "rep1@example.com", "--scope", "recommendations:write"],
            "cannot use",
        ),
        (["keys", "revoke", "nope"], "no key"),
    ],
)
def test_bad_commands_exit_1_with_a_message(
    cli_env: World, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """Wrong input: exit status 1, the message, no traceback."""
    result = run(capsys, *args)
    assert result.code == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_keys_create_shows_the_key_once_alone_on_the_last_line(
    cli_env: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """The last line is the key, which works; list never shows it; revoke stops it."""
    created = run(
        capsys,
        "keys",
        "create",
        "--user",
        "north@example.com",
        "--scope",
        "recommendations:read",
        "--name",
        "bi",
    )
    assert created.code == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("slk_")
    with cli_env.db.session() as s:
        row, _ = resolve_key(s, key)
        key_id = row.key_id
    listed = run(capsys, "keys", "list")
    assert key_id in listed.stdout and key.split("_", 2)[2] not in listed.stdout
    assert run(capsys, "keys", "revoke", key_id).code == 0
    with cli_env.db.session() as s:
        assert s.scalar(sa.select(ApiKey.revoked_at).where(ApiKey.key_id == key_id)) is not None


def test_recommendations_import_publishes_a_coverage_output(
    cli_env: World, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A new coverage output is published; the same one again changes nothing."""
    folder = write_coverage(tmp_path / "run2", {"C2": "not_now", "C5": "add"})
    first = run(capsys, "recommendations", "import", str(folder))
    assert first.code == 0 and "refreshed" in first.stdout
    second = run(capsys, "recommendations", "import", str(folder))
    assert second.code == 0 and "already published" in second.stdout
    missing = run(capsys, "recommendations", "import", str(tmp_path / "nowhere"))
    assert missing.code == 1 and "customers.csv" in missing.stderr


def test_serve_refuses_a_busy_port(cli_env: World, capsys: pytest.CaptureFixture[str]) -> None:
    """A port already taken is a clear error, not a traceback."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run(capsys, "serve", "--port", str(port))
    assert result.code == 1 and "cannot listen" in result.stderr


def test_demo_users_cover_every_role_and_can_be_made_again(world: World) -> None:
    """A user per role (a manager per region); making them again only renews passwords, and
    the file of passwords is readable by its owner only."""
    from salescope.services import users as user_service
    from salescope.services.demo_web import create_demo_users, write_users

    hasher = user_service.password_hasher(world.settings)
    with world.db.session() as s:
        first = create_demo_users(s, hasher)
    with world.db.session() as s:
        second = create_demo_users(s, hasher)
    roles = sorted(u.role for u in first)
    assert roles == ["admin", "director", "manager", "manager", "merchandiser", "rep", "shop"]
    assert [u.email for u in first] == [u.email for u in second]
    assert all(a.password != b.password for a, b in zip(first, second, strict=True))
    path = write_users(world.settings.data_dir / "demo" / "users.txt", second, "http://x")
    assert path.stat().st_mode & 0o077 == 0 and second[0].password in path.read_text()
