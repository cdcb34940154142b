"""Named fault points, to prove that a kill or a failure at any step leaves nothing damaged.

Code that changes state calls ``checkpoint("import.version_written")`` between its steps. In
normal runs this does nothing (one environment lookup). Tests set ``SALESCOPE_FAULT`` to
``point:action[,point:action…]`` in a child process:

* ``kill`` — the process kills itself with SIGKILL at that point (no clean-up can run);
* ``fail`` — ``FaultInjectedError`` is raised there (the clean-up paths run);
* ``pause`` — the process sleeps there (for a test to send it SIGTERM or SIGINT).

The points are listed in ``POINTS`` so tests can walk through every one of them.
"""

from __future__ import annotations

import os
import signal
import time

ENV = "SALESCOPE_FAULT"

POINTS = {
    "import": (
        "import.validated",
        "import.locked",
        "import.version_written",
        "import.database_written",
        "import.committed",
        "import.current_moved",
    ),
    "feedback": ("feedback.locked", "feedback.recorded"),
    "output": ("output.written", "output.dir_written"),
}
"""Fault points by use case, in the order they are passed."""


class FaultInjectedError(RuntimeError):
    """Raised at a fault point whose action is ``fail``."""


def checkpoint(point: str) -> None:
    """Act at ``point`` as ``SALESCOPE_FAULT`` says (nothing when it does not name it)."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    for item in spec.split(","):
        name, _, action = item.strip().partition(":")
        if name != point:
            continue
        if action in ("", "kill"):
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "fail":
            raise FaultInjectedError(f"fault injected at {point}")
        elif action == "pause":
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                time.sleep(0.05)
