"""The web app on the command line: its ``users``, API ``keys``, and ``serve``."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from salescope.cli.common import keys_app, out, render_table, settings_of, users_app


@users_app.command("add")
def users_add(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="E-mail address: the user's sign-in name.")],
    role: Annotated[str, typer.Option(help="admin, director, manager, rep, merchandiser or shop.")],
    region: Annotated[
        list[str] | None, typer.Option(help="A region a manager manages; repeat the option.")
    ] = None,
    rep_id: Annotated[str | None, typer.Option(help="The rep a rep or merchandiser is.")] = None,
    customer_id: Annotated[str | None, typer.Option(help="The customer a shop is.")] = None,
    name: Annotated[str, typer.Option(help="Full name, shown in the app.")] = "",
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the password from standard input (first line)."
        ),
    ] = False,
) -> None:
    """Add a user. Without --password-stdin a password is generated and printed once."""
    import secrets

    from salescope.services import users as service
    from salescope.services.database import open_database

    settings = settings_of(ctx)
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    generated = password is None
    if password is None:
        password = secrets.token_urlsafe(12)
    with open_database(settings) as database, database.session() as session:
        new = service.check_new_user(
            session,
            email,
            role,
            regions=region or [],
            rep_id=rep_id,
            customer_id=customer_id,
            password=password,
            full_name=name,
        )
        user = service.do_add_user(session, new, service.password_hasher(settings), actor="cli")
        where = ", ".join(r.code for r in user.regions)
    out.print(
        f"Added {user.username} ({user.role}{': ' + where if where else ''}).", highlight=False
    )
    if generated:
        out.print("Password (shown once):", highlight=False)
        out.print(password, highlight=False, soft_wrap=True)


@users_app.command("list")
def users_list(ctx: typer.Context) -> None:
    """List the users: e-mail, role, regions, rep or customer, active."""
    from salescope.services import users as service
    from salescope.services.database import open_database

    with open_database(settings_of(ctx)) as database, database.session() as session:
        rows = [
            (
                u.username,
                u.role,
                ", ".join(r.code for r in u.regions),
                u.rep_id or u.customer_id or "",
                "yes" if u.active else "disabled",
                u.created_at.strftime("%Y-%m-%d %H:%M"),
            )
            for u in service.list_users(session)
        ]
    out.print(
        render_table(
            f"{len(rows)} users",
            rows,
            ("e-mail", "role", "regions", "rep / customer", "active", "created (UTC)"),
            text=5,
        )
    )


@users_app.command("disable")
def users_disable(
    ctx: typer.Context, email: Annotated[str, typer.Argument(help="The user's e-mail.")]
) -> None:
    """Disable a user: no more sign-in, its sessions end, its keys stop working."""
    from salescope.services import users as service
    from salescope.services.database import open_database

    with open_database(settings_of(ctx)) as database, database.session() as session:
        user = service.do_disable_user(
            session, service.check_disable_user(session, email), actor="cli"
        )
    out.print(f"Disabled {user.username}.", highlight=False)


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    user: Annotated[str, typer.Option(help="E-mail of the user the key acts as.")],
    scope: Annotated[
        list[str],
        typer.Option(
            help="orders:read, orders:write, recommendations:read, recommendations:write, "
            "visits:read, visits:write; repeat the option."
        ),
    ],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "",
) -> None:
    """Create an API key. The key is printed once, alone on the last line."""
    from salescope.services import keys as service
    from salescope.services.database import open_database

    with open_database(settings_of(ctx)) as database, database.session() as session:
        row, key = service.do_create_key(session, user, scope, name=name, actor="cli")
        scopes = " ".join(row.scopes)
    out.print(
        f"Key {row.key_id} for {user.strip().lower()} ({scopes}). Keep it now: it is not "
        "stored and cannot be shown again.",
        highlight=False,
    )
    print(key)


@keys_app.command("list")
def keys_list(ctx: typer.Context) -> None:
    """List the keys (never the secret): id, user, scopes, name, created, last used, state."""
    from salescope.services import keys as service
    from salescope.services.database import open_database

    def when(value: Any) -> str:
        return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""

    with open_database(settings_of(ctx)) as database, database.session() as session:
        rows = [
            (
                k.key_id,
                k.user.username,
                " ".join(k.scopes),
                k.name,
                when(k.created_at),
                when(k.last_used_at),
                "revoked " + when(k.revoked_at) if k.revoked_at else "active",
            )
            for k in service.list_keys(session)
        ]
    headers = ("key id", "user", "scopes", "name", "created", "last used", "state")
    out.print(render_table(f"{len(rows)} keys", rows, headers, text=7))


@keys_app.command("revoke")
def keys_revoke(
    ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="The key id (or the key).")]
) -> None:
    """Revoke a key: it stops working at once."""
    from salescope.services import keys as service
    from salescope.services.database import open_database

    with open_database(settings_of(ctx)) as database, database.session() as session:
        row = service.do_revoke_key(session, service.check_revoke_key(session, key_id), actor="cli")
    out.print(f"Revoked key {row.key_id}.", highlight=False)


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.", min=1, max=65535)] = 8000,
) -> None:
    """Run the web app and API (uvicorn) until interrupted."""
    from salescope.web.serve import run

    run(settings_of(ctx), host=host, port=port, console=out)
