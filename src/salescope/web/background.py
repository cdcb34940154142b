"""Work the app does outside requests: a training started from the Models page, and the
scheduler of ``salescope serve`` (the daily training at ``SALESCOPE_TRAIN_AT``, automatic
orders at their cut-off). Each job logs its failure and the app goes on."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

from salescope.config import Settings
from salescope.services import models
from salescope.services.calendar import Clock
from salescope.services.serving import OrderEngine
from salescope.storage.db import Database

log = logging.getLogger("salescope.web.background")


class Trainer:
    """At most one training at a time, in a thread; the engine is told when it is done."""

    def __init__(self, settings: Settings, engine: OrderEngine) -> None:
        self.settings = settings
        self.engine = engine
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.last_error: str | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, *, actor: str, source: str) -> bool:
        """Start a training unless one runs; whether it started."""
        with self._lock:
            if self.running:
                return False
            self._thread = threading.Thread(
                target=self._run, args=(actor, source), name="salescope-train", daemon=True
            )
            self._thread.start()
            return True

    def _run(self, actor: str, source: str) -> None:
        try:
            models.do_train_app(self.settings, actor=actor, source=source)
            self.last_error = None
        except Exception as error:  # recorded on the run; logged here
            self.last_error = str(error)
            log.exception("training failed")
        finally:
            self.engine.reload()

    def join(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)


Job = Callable[[dt.datetime], Any]


class Scheduler:
    """A thread that runs ``jobs`` every ``every`` seconds with the clock's now."""

    def __init__(self, clock: Clock, jobs: list[Job], *, every: float = 30.0) -> None:
        self.clock = clock
        self.jobs = jobs
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="salescope-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def tick(self) -> None:
        now = self.clock.now()
        for job in self.jobs:
            try:
                job(now)
            except Exception:  # one failing job never stops the others
                log.exception("scheduled job %s failed", getattr(job, "__name__", job))

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.tick()


def daily_training(settings: Settings, database: Database, trainer: Trainer) -> Job:
    """A job that starts the day's training once ``settings.train_at`` (UTC, real time: a
    training is operations, whatever business date the app works on) has passed."""

    def train_if_due(_business_now: dt.datetime) -> None:
        if not settings.train_at:
            return
        now = dt.datetime.now(dt.UTC)
        hour, minute = (int(p) for p in settings.train_at.split(":"))
        due = dt.datetime.combine(now.date(), dt.time(hour, minute), tzinfo=dt.UTC)
        if now < due or trainer.running:
            return

        def started_since(session: Any) -> bool:
            import sqlalchemy as sa

            from salescope.storage.models import ModelRun

            return bool(
                session.scalar(
                    sa.select(sa.func.count())
                    .select_from(ModelRun)
                    .where(ModelRun.source == "schedule", ModelRun.created_at >= due)
                )
            )

        if not database.transaction(started_since, readonly=True):
            trainer.start(actor="scheduler", source="schedule")

    return train_if_due


def automatic_orders(database: Database, engine: OrderEngine) -> Job:
    """A job that places the automatic orders whose cut-off has passed (idempotent: each
    shop's order for a date is placed once)."""

    def place_due(_business_now: dt.datetime) -> None:
        from salescope.services.replenishment import do_place_due

        run = do_place_due(database, engine)
        if run.placed:
            log.info("%d automatic orders placed", len(run.placed))

    return place_due
