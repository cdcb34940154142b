"""Errors that cross layers.

Every error a user can cause carries enough to act on it: the file, the row (1-based line of a
CSV file, 1-based row of a Parquet file), the column, the offending value and what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass


class SalescopeError(Exception):
    """Base class of errors Salescope reports to its user (no traceback needed)."""


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in an input file."""

    file: str
    problem: str
    row: int | None = None
    column: str | None = None
    value: str | None = None
    row_label: str = "row"

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"{self.row_label} {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        text = ", ".join(where) + ": "
        if self.value is not None:
            shown = self.value if len(self.value) <= 60 else self.value[:57] + "..."
            text += f"{shown!r} {self.problem}"
        else:
            text += self.problem
        return text


class InputError(SalescopeError):
    """Bad input: one or more issues, reported together."""

    def __init__(self, issues: Sequence[Issue], total: int | None = None) -> None:
        if not issues:
            raise ValueError("InputError needs at least one issue")
        self.issues = list(issues)
        self.total = max(total if total is not None else len(self.issues), len(self.issues))
        super().__init__(self._render())

    def _render(self) -> str:
        head = "1 problem" if self.total == 1 else f"{self.total} problems"
        lines = [f"invalid input ({head}):"]
        lines += [f"  - {issue}" for issue in self.issues]
        if self.total > len(self.issues):
            lines.append(f"  ... and {self.total - len(self.issues)} more")
        return "\n".join(lines)

    @classmethod
    def single(
        cls,
        file: str,
        problem: str,
        *,
        row: int | None = None,
        column: str | None = None,
        value: str | None = None,
        row_label: str = "row",
    ) -> InputError:
        return cls(
            [
                Issue(
                    file=file,
                    problem=problem,
                    row=row,
                    column=column,
                    value=value,
                    row_label=row_label,
                )
            ]
        )


class NotBuiltError(SalescopeError):
    """A command whose engine does not exist yet. Never answered with placeholder output."""

    def __init__(self, what: str, detail: str = "") -> None:
        message = f"{what} is not built yet"
        if detail:
            message += f": {detail}"
        super().__init__(message)


class ConflictError(SalescopeError):
    """A state change that the current state does not allow."""


class FieldError(SalescopeError):
    """A request value that is wrong. ``field`` names it as the request does (``top``,
    ``as_of``, ``orders``); each caller reports it under its own name for it: the command line
    as its option (``--top``) or the file given for it, the web as the form field, the API in
    the error body. ``value`` is the offending value, when one was given. The message may name
    other fields as ``{field:rep_id}``: ``render`` puts the caller's name for each (``str``
    gives the request's names)."""

    def __init__(self, message: str, field: str | None = None, *, value: str | None = None) -> None:
        self.template = message
        self.field = field
        self.value = value
        super().__init__(self.render())

    def render(self, name: Callable[[str], str] = str) -> str:
        """The message, each field it names under ``name(field)``."""
        return _FIELD.sub(lambda found: name(found.group(1)), self.template)


_FIELD = re.compile(r"\{field:([a-z_]+)\}")


class NotFoundError(SalescopeError):
    """The thing asked for does not exist."""


class PermissionDeniedError(SalescopeError):
    """The caller may not see or do this (role, scope, region or customer)."""


class AuthenticationError(SalescopeError):
    """No valid credentials: not signed in, a wrong password, an unknown or revoked key."""


class RateLimitedError(SalescopeError):
    """Too many attempts; try again later."""


class StaleError(ConflictError):
    """The thing changed since the caller read it (optimistic locking)."""


class NotFittedError(ValueError, AttributeError):
    """An estimator used before ``fit`` (a bug, not the user's input: it is not a
    ``SalescopeError``). Like scikit-learn's, it is a ``ValueError`` and an
    ``AttributeError``. An estimator that could not learn is still fitted: its fallback is a
    fitted state with its own name (``source_``), never a silent default of ``predict``."""


class UnavailableError(SalescopeError):
    """What is asked for cannot be served yet (no trained model): try again later."""
