"""Configuration from the environment (``SALESCOPE_*``), built by a function.

There is no module-level settings object: call ``get_settings()`` where a command or an app
starts, and pass the result down.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything Salescope reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="SALESCOPE_", env_file=None, extra="ignore")

    data_dir: Path = Field(
        default=Path("salescope-data"),
        description="Where canonical tables (Parquet), the SQLite database and outputs live.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the operational database; default: SQLite in data_dir.",
    )
    max_issues: int = Field(default=20, ge=1, description="Problems listed per bad input file.")
    encoding: str | None = Field(
        default=None,
        description="Encoding of CSV input (default: UTF-8, or UTF-16/32 with a byte-order mark).",
    )
    lock_wait: float = Field(
        default=60.0,
        ge=0,
        description="Seconds a run waits for another run writing the same data folder.",
    )
    secret_key: SecretStr | None = Field(
        default=None, description="Signs web sessions; required by `serve`, never committed."
    )
    workers: int = Field(default=2, ge=1, description="Parallel workers for engines.")
    session_hours: float = Field(default=12.0, gt=0, description="Web sessions expire after.")
    cookie_secure: bool = Field(
        default=False, description="Send the session cookie over HTTPS only (behind TLS)."
    )
    argon2_memory_kib: int = Field(
        default=65_536, ge=8, description="Argon2id memory cost of password hashes (KiB)."
    )
    argon2_time_cost: int = Field(default=3, ge=1, description="Argon2id passes.")
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed sign-ins per e-mail (or 4x per address) in 15 min."
    )
    upload_max_bytes: int = Field(default=8_000_000, ge=1, description="Largest photo accepted.")
    upload_max_pixels: int = Field(
        default=40_000_000, ge=1, description="Most pixels a photo may have (width x height)."
    )
    today: dt.date | None = Field(
        default=None,
        description="The business date the app works on (default: the real date); the demo "
        "sets it to the day after its history.",
    )
    holdout_share: float = Field(
        default=0.05,
        ge=0.0,
        le=0.5,
        description="Share of shops in the uplift holdout (shown no novelties), drawn once "
        "and for good by a hash of the customer id.",
    )
    holdout_salt: str = Field(
        default="salescope-uplift-holdout-1",
        min_length=1,
        max_length=100,
        description="Salt of the holdout's hash: another salt draws another holdout (start a "
        "new measurement with it; the shops of the old holdout then see novelties again).",
    )
    auto_cutoff_hour: int = Field(
        default=16,
        ge=0,
        le=23,
        description="Automatic orders are placed at this hour (UTC) the day before delivery.",
    )
    train_at: str | None = Field(
        default=None,
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="HH:MM (UTC): the app trains the next-order engine every day at this time.",
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'salescope.db').resolve()}"

    @property
    def tables_dir(self) -> Path:
        return self.data_dir / "tables"

    @property
    def photos_dir(self) -> Path:
        return self.data_dir / "photos"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"


def get_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit overrides (for tests and the CLI)."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)
