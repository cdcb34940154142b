"""The orders report page: managers, the director and the admin read it for their reach;
the sales force and shops may not."""

from __future__ import annotations

from collections.abc import Callable

from tests.orderworld import OrderWorld
from tests.web.conftest import Browser


def test_the_report_speaks_to_a_manager_and_is_refused_to_others(
    order_browser: Callable[[str], Browser], order_world: OrderWorld
) -> None:
    """Lesnia's manager reads the report (uplift not measured yet, online orders, tables by
    kind, promotion, region and rep); asking for Vardenia, a rep and a shop get 403."""
    manager = order_browser("lesnia")
    page = manager.get("/reports/orders")
    assert page.status_code == 200  # type: ignore[attr-defined]
    text = page.text  # type: ignore[attr-defined]
    assert "Not measured yet" in text and "Orders placed online" in text
    for table in ("by-kind", "by-promotion", "by-region", "by-rep"):
        assert f'id="{table}"' in text
    assert manager.get("/reports/orders?region=Vardenia").status_code == 403  # type: ignore[attr-defined]
    for who in ("rep", "shop"):
        assert order_browser(who).get("/reports/orders").status_code == 403  # type: ignore[attr-defined]
