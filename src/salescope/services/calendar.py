"""The business calendar of the app: today, the next delivery date, the cut-off of an
automatic order.

``Clock`` is built from the settings where the app starts (``SALESCOPE_TODAY`` pins the
business date: the demo works on the day after its history) and passed down; tests move it.
Deliveries are on working days (Monday to Friday); an automatic order for a delivery date is
placed at ``auto_cutoff_hour`` (UTC) the working day before.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from salescope.config import Settings

WORKING_DAYS = frozenset({0, 1, 2, 3, 4})
"""Delivery days: Monday (0) to Friday (4)."""


@dataclass
class Clock:
    """Today and now for the app. ``today`` pins the business date (the time of day stays
    the real one); ``shift`` moves now (tests: "an hour after the cut-off")."""

    today_pinned: dt.date | None = None
    shift: dt.timedelta = field(default_factory=dt.timedelta)

    @classmethod
    def from_settings(cls, settings: Settings) -> Clock:
        return cls(today_pinned=settings.today)

    def now(self) -> dt.datetime:
        """The current moment (aware, UTC)."""
        real = dt.datetime.now(dt.UTC)
        if self.today_pinned is not None:
            real = dt.datetime.combine(self.today_pinned, real.timetz())
        return real + self.shift

    def today(self) -> dt.date:
        return self.now().date()


def is_delivery_day(day: dt.date) -> bool:
    return day.weekday() in WORKING_DAYS


def next_delivery_date(today: dt.date) -> dt.date:
    """The first working day after ``today``: what a shop orders for."""
    day = today + dt.timedelta(days=1)
    while not is_delivery_day(day):
        day += dt.timedelta(days=1)
    return day


def previous_working_day(day: dt.date) -> dt.date:
    before = day - dt.timedelta(days=1)
    while not is_delivery_day(before):
        before -= dt.timedelta(days=1)
    return before


def cutoff_of(delivery: dt.date, hour: int) -> dt.datetime:
    """When the automatic order for ``delivery`` is placed: ``hour`` (UTC) on the working day
    before."""
    return dt.datetime.combine(previous_working_day(delivery), dt.time(hour), tzinfo=dt.UTC)


def delivery_dates(today: dt.date, count: int = 5) -> list[dt.date]:
    """The next ``count`` delivery dates after ``today``."""
    out = [next_delivery_date(today)]
    while len(out) < count:
        out.append(next_delivery_date(out[-1]))
    return out
