"""Service fixtures: the small company of the web layer (``tests/webworld.py``)."""

from tests.webworld import world  # noqa: F401 (fixture)
