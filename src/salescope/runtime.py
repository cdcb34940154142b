"""Process-wide settings an entry point applies once, before any engine runs.

Nothing here runs on ``import salescope``: a library that changes its host's environment when
imported surprises the program embedding it. The command line (``salescope.cli.main``) and the
test suite (``tests/conftest.py``) call ``quiet_openmp`` first.
"""

from __future__ import annotations

import os


def quiet_openmp() -> None:
    """Make OpenMP threads (LightGBM, scikit-learn) sleep instead of spin while they wait.

    Spinning threads slow everything down tenfold as soon as another process shares the
    cores. It must run before the OpenMP runtime loads (the first import of LightGBM or
    scikit-learn); a value the user set wins.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
