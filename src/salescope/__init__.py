"""Salescope: sales intelligence for consumer-goods manufacturers and distributors."""

import os as _os

# OpenMP threads (LightGBM, scikit-learn) that spin while waiting slow everything down tenfold
# as soon as another process shares the cores; make them sleep instead. Must be set before the
# OpenMP runtime loads, hence here. A value set by the user wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
