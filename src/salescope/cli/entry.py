"""The entry point: runs the app so that no traceback reaches the user (see the package
docstring)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from salescope import __version__
from salescope.cli.common import app, err, option_name
from salescope.domain.errors import FieldError, SalescopeError

STOPPED = (
    "{how}: the unfinished change was rolled back and its temporary files removed (an "
    "import already committed stands; the next run completes it)"
)


class Terminated(BaseException):
    """SIGTERM or SIGINT, raised in the main thread so that every ``finally`` and ``with``
    block runs: temporary files are removed and the open transaction is rolled back. (Click
    would turn Ctrl-C into "Aborted!" and status 1.)"""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signum)


class _NoteHandler(logging.Handler):
    """Notes of the services (``salescope`` loggers, warning and above) as ``note:`` lines
    on standard error."""

    def emit(self, record: logging.LogRecord) -> None:
        err.print(f"[dim]note:[/] {record.getMessage()}", highlight=False, soft_wrap=True)


def _install_notes() -> None:
    logger = logging.getLogger("salescope")
    if not any(isinstance(h, _NoteHandler) for h in logger.handlers):
        logger.addHandler(_NoteHandler(logging.WARNING))
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _fail(message: str, code: int) -> None:
    from rich.markup import escape

    # the message is text, not markup: "salescope[spark]" or a file "x[1].csv" stay whole
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def _crash_report(error: BaseException) -> Path | None:
    """Write the traceback of an unexpected error to a file; its path, or None."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        handle, name = tempfile.mkstemp(
            prefix=f"salescope-crash-{stamp}-", suffix=".txt", text=True
        )
        with os.fdopen(handle, "w", encoding="utf-8") as report:
            report.write(f"salescope {__version__}: {' '.join(sys.argv)}\n\n")
            report.write("".join(traceback.format_exception(error)))
    except OSError:
        return None
    return Path(name)


def main() -> None:
    """Entry point: run the app; no traceback ever reaches the user (see the module
    docstring). Usage errors are Typer's own (status 2)."""
    from sqlalchemy.exc import SQLAlchemyError

    from salescope.data.outputs import describe_os_error
    from salescope.runtime import quiet_openmp
    from salescope.storage.db import describe_database_error

    quiet_openmp()
    _install_notes()
    with _stopped_by_signals():
        _run(SQLAlchemyError, describe_os_error, describe_database_error)


@contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """SIGTERM and SIGINT raise ``Terminated`` in the main thread while the command runs
    (in another thread, an embedding program's, signals are left alone)."""
    handled = (signal.SIGTERM, signal.SIGINT)
    previous = {signum: signal.getsignal(signum) for signum in handled}
    in_main_thread = True
    try:
        for signum in handled:
            signal.signal(signum, _terminate)
    except ValueError:  # not the main thread (an embedding program): leave signals alone
        in_main_thread = False
    try:
        yield
    finally:
        if in_main_thread:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def _run(
    database_errors: type[Exception],
    describe_os_error: Callable[[OSError], str],
    describe_database_error: Callable[[Any], str],
) -> None:
    """Run the app; every error ends in one message and its exit status."""
    try:
        app()
    except FieldError as error:  # a request field, named as the command line names it
        _fail(error.render(option_name), 1)
    except SalescopeError as error:
        _fail(str(error), 1)
    except KeyboardInterrupt:
        _fail(STOPPED.format(how="interrupted"), 128 + signal.SIGINT)
    except Terminated as stop:
        how = "interrupted" if stop.signum == signal.SIGINT else "terminated"
        _fail(STOPPED.format(how=how), 128 + stop.signum)
    except OSError as error:
        _fail(f"cannot go on: {describe_os_error(error)}", 1)
    except database_errors as error:
        _fail(describe_database_error(error), 1)
    except MemoryError:
        _fail("not enough memory for these data", 1)
    except Exception as error:
        report = _crash_report(error)
        where = f"; details in {report}" if report else ""
        text = str(error).strip()
        first = text.splitlines()[0][:200] if text else "no message"
        _fail(
            f"internal error ({type(error).__name__}: {first}); this is a bug in Salescope, "
            f"please report it{where}",
            3,
        )
