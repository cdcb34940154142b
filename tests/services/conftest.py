"""Service fixtures: the small company of the web layer (``tests/webworld.py``) and the
small company with a trained model (``tests/orderworld.py``)."""

from tests.orderworld import order_world, trained  # noqa: F401 (fixtures)
from tests.webworld import world  # noqa: F401 (fixture)
