"""The whole story in a real browser (Playwright driving Debian's Chromium, headless).

A manager signs in, filters the queue, opens a prospect and requests verification; the rep
files a report with a photo; the manager accepts with a rep and a frequency; the audit trail
shows each step; the other region's manager gets 403 on the same URLs. Screenshots of the
main screens are kept in ``test-artifacts/screenshots/``.

Skipped when ``chromium`` is not installed, unless ``SALESCOPE_REQUIRE_BROWSER=1`` (CI, where
``make test`` installs it with apt), which makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from salescope.storage.db import Database
from salescope.web.app import create_app
from tests.webworld import EMAILS, PASSWORD, World, build_world, fast_settings

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _required() -> bool:
    return os.environ.get("SALESCOPE_REQUIRE_BROWSER", "") not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A headless Chromium (Debian's package) under Playwright."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = (
            "chromium is not installed (`apt-get install chromium`; `make test` does it as root)"
        )
        if _required():
            pytest.fail(
                message + "; SALESCOPE_REQUIRE_BROWSER=1 makes this an error", pytrace=False
            )
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, World]]:
    """The app over the small company, served by uvicorn on a loopback port."""
    import uvicorn

    root = tmp_path_factory.mktemp("browser")
    settings = fast_settings(root / "data", f"sqlite:///{root / 'db.sqlite'}")
    settings.data_dir.mkdir(parents=True)
    database = Database(settings.resolved_database_url)
    database.upgrade()
    world = build_world(database, settings, root)
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings, database), host="127.0.0.1", port=port, log_level="warning"
    )
    uvi = uvicorn.Server(config)
    thread = threading.Thread(target=uvi.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uvi.started:
        if time.monotonic() > deadline:
            pytest.fail("the server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", world
    uvi.should_exit = True
    thread.join(timeout=10)
    database.dispose()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _sign_in(context: Any, base: str, who: str) -> Any:
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=email]", EMAILS[who])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


def test_the_whole_story(chromium: Any, server: tuple[str, World], tmp_path: Path) -> None:
    """Manager → verification request → rep's report with a photo → acceptance → audit
    trail; the other region's manager is refused on every URL of the story."""
    from playwright.sync_api import expect

    base, world = server
    rec_id = world.rec_ids["C2"]

    manager = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = _sign_in(manager, base, "north")
    assert page.url.endswith("/dashboard")
    page.wait_for_selector("#map[data-ready='1']")
    _shot(page, "dashboard")
    page.select_option("select[name=recommendation]", "add")
    expect(page.locator("#queue-rows")).not_to_contain_text("Kiosk Three")
    assert "Prospect Two" in page.inner_text("#queue-rows")
    page.click("text=Prospect Two")
    page.wait_for_url(f"**/recommendations/{rec_id}")
    request = page.locator("form.decision[data-action=request_verification]")
    page.click("summary:has-text('Request verification')")
    request.locator("select[name=rep_id]").select_option("R1")
    request.locator("textarea[name=reason]").fill("Check the shelf & the manager's interest")
    request.locator("button[type=submit]").click()
    page.wait_for_selector("#trail:has-text('request verification')")
    _shot(page, "recommendation-verification-requested")

    rep_context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    rep = _sign_in(rep_context, base, "rep1")
    assert rep.url.endswith("/tasks")
    rep.click("a:has-text('Visit')")
    rep.wait_for_selector("form#report")
    rep.locator("input[name='shelf-0-present']").check()
    rep.locator("input[name='shelf-0-product_id'][type=text]").first.fill("COMP-9") if rep.locator(
        "input[name='shelf-0-product_id'][type=text]"
    ).count() else None
    rep.locator("input[name='shelf-0-facings']").fill("4")
    rep.locator("textarea[name=notes]").fill("Shelf half empty")
    rep.wait_for_selector("#saved:has-text('Draft saved at')")
    photo = tmp_path / "shelf.jpg"
    Image.new("RGB", (640, 480), (200, 120, 40)).save(photo, format="JPEG")
    rep.set_input_files("input[name=photo]", str(photo))
    rep.click("#photos button[type=submit]")
    rep.wait_for_selector("#photos img")
    rep.check("input[name=readiness][value='4']")
    rep.fill("textarea[name=interview_notes]", "Ready to list three of our products")
    _shot(rep, "visit-report")
    rep.click("#file-report")
    rep.wait_for_url("**/tasks?filed=1")

    page.goto(f"{base}/recommendations/{rec_id}")
    assert "Readiness 4/5" in page.inner_text("#panel")
    page.click("summary:has-text('Accept')") if not page.locator(
        "form.decision[data-action=accept]"
    ).is_visible() else None
    accept = page.locator("form.decision[data-action=accept]")
    accept.locator("select[name=rep_id]").select_option("R1")
    accept.locator("input[name=visits_per_month]").fill("2")
    accept.locator("button[type=submit]").click()
    page.wait_for_selector("#decision")
    trail = page.inner_text("#trail")
    for step in ("request verification", "visit reported", "report filed", "accept"):
        assert step in trail, (step, trail)
    _shot(page, "recommendation-accepted")

    page.goto(f"{base}/audit")
    _shot(page, "audit")

    south = chromium.new_context()
    other = _sign_in(south, base, "south")
    for url in (f"/recommendations/{rec_id}", "/visits/1", "/photos/1", "/map-data?region=north"):
        response = other.goto(base + url)
        assert response is not None and response.status == 403, url
    for context in (manager, rep_context, south):
        context.close()
