"""The demo's web side: its coverage run published as recommendations, and a user for each
role with a fresh password, printed by ``salescope demo`` and written to
``<data_dir>/demo/users.txt`` (mode 0600)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from salescope.config import Settings
from salescope.data.io import read_coverage_output
from salescope.services import users
from salescope.services.database import open_database
from salescope.services.recommendations import PublishReport, check_coverage_output, do_publish
from salescope.services.serving import in_holdout
from salescope.storage.models import Customer, Region, Rep, User

DOMAIN = "demo.example"


@dataclass(frozen=True, slots=True)
class DemoUser:
    email: str
    role: str
    password: str
    scope: str  # what the user sees, in words


def _demo_shop(session: Session, settings: Settings, proposals: Path | None) -> str | None:
    """The demo's shop: a served customer outside the uplift holdout whose latest proposal
    (``proposals``: the demo's next orders after its feedback round) holds a novelty and
    which has not stopped ordering, so that its ordering page shows every part; else the
    first served customer."""
    served = list(
        session.scalars(
            sa.select(Customer.customer_id)
            .where(Customer.status == "served")
            .order_by(Customer.customer_id)
        )
    )
    if proposals is not None and proposals.is_file():
        lines = pl.read_csv(proposals, schema_overrides={"customer_id": pl.String})
        lapsed = pl.col("lapsed") if "lapsed" in lines.columns else pl.lit(False)
        novel = set(lines.filter((pl.col("kind") != "usual") & ~lapsed)["customer_id"].to_list())
        for customer in served:
            if customer in novel and not in_holdout(
                customer, settings.holdout_share, settings.holdout_salt
            ):
                return customer
    return served[0] if served else None


def _plan(
    session: Session, shop: str | None
) -> list[tuple[str, str, tuple[str, ...], str | None, str | None, str]]:
    """(local part, role, regions, rep_id, customer_id, scope) of the demo users."""
    regions = list(session.scalars(sa.select(Region.code).order_by(Region.code)))
    plan: list[tuple[str, str, tuple[str, ...], str | None, str | None, str]] = [
        ("admin", "admin", (), None, None, "everything"),
        ("director", "director", (), None, None, "every region, read only"),
    ]
    for code in regions:
        plan.append((f"manager.{code.lower()}", "manager", (code,), None, None, f"region {code}"))
    for role in ("rep", "merchandiser"):
        # The first region's first rep of that role, else the first anywhere.
        first_region = regions[0] if regions else None
        rep = session.scalar(
            sa.select(Rep)
            .where(Rep.role == role)
            .order_by((Rep.region == first_region).desc(), Rep.rep_id)
            .limit(1)
        )
        if rep is not None:
            plan.append(
                (
                    role,
                    role,
                    (),
                    rep.rep_id,
                    None,
                    f"{rep.rep_id} ({rep.region}): own customers and tasks",
                )
            )
    if shop is not None:
        plan.append(("shop", "shop", (), None, shop, f"customer {shop}"))
    return plan


def create_demo_users(
    session: Session, hasher: PasswordHasher, shop: str | None = None
) -> list[DemoUser]:
    """A user per role (a manager per region; the shop user bound to ``shop``); an existing
    demo user gets a new password (and the shop user the demo's shop)."""
    if shop is None:
        shop = session.scalar(
            sa.select(Customer.customer_id)
            .where(Customer.status == "served")
            .order_by(Customer.customer_id)
            .limit(1)
        )
    made = []
    for local, role, regions, rep_id, customer_id, scope in _plan(session, shop):
        email = f"{local}@{DOMAIN}"
        password = secrets.token_urlsafe(9)
        existing = session.scalar(sa.select(User).where(User.username == email))
        if existing is not None:
            existing.password_hash = hasher.hash(password)
            existing.active = True
            if role == "shop":
                existing.customer_id = customer_id
        else:
            new = users.check_new_user(
                session,
                email,
                role,
                regions=regions,
                rep_id=rep_id,
                customer_id=customer_id,
                password=password,
                full_name=local.replace(".", " ").title(),
            )
            users.do_add_user(session, new, hasher, actor="demo")
        made.append(DemoUser(email, role, password, scope))
    return made


def write_users(path: Path, made: list[DemoUser], url: str) -> Path:
    """The demo users and passwords, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"Salescope demo users ({url})", ""]
    lines += [f"{u.email:<45} {u.password:<14} {u.role:<13} {u.scope}" for u in made]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def do_demo_web(
    settings: Settings,
    coverage_dir: Path,
    *,
    url: str = "http://127.0.0.1:8000",
    proposals: Path | None = None,
) -> tuple[PublishReport, list[DemoUser], Path]:
    """Publish the demo's coverage output and (re)create the demo users (the shop's chosen
    from ``proposals``, see ``_demo_shop``)."""
    output = check_coverage_output(read_coverage_output(coverage_dir))
    hasher = users.password_hasher(settings)
    with open_database(settings) as database, database.session() as session:
        report = do_publish(session, output, actor="demo")
        made = create_demo_users(session, hasher, _demo_shop(session, settings, proposals))
    return report, made, write_users(settings.data_dir / "demo" / "users.txt", made, url)
