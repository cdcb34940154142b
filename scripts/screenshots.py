"""The README's screenshots of the web app, taken on the demo company.

    salescope --data-dir /tmp/demo demo --small --no-serve --no-backtest
    SALESCOPE_TODAY=2024-09-01 salescope --data-dir /tmp/demo serve --port 8015 &
    .venv/bin/python scripts/screenshots.py http://127.0.0.1:8015 \
        /tmp/demo/demo/users.txt docs/screenshots

Plays the story (a manager requests a verification, the rep reports with a photo, the manager
accepts) with Playwright on Debian's Chromium and saves dashboard.png, recommendation.png and
visit-report.png; then the order channels: the shop's pre-filled order (shop-order.png) and
the rep's day on a phone (rep-day.png). The app must run with the demo's date
(``SALESCOPE_TODAY=2024-09-01``) for the suggested orders to be those of the demo's next day.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from playwright.sync_api import expect, sync_playwright

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def users(path: Path) -> dict[str, list[str]]:
    """e-mail -> [password, role, what it sees...] of the demo's users.txt."""
    out = {}
    for line in path.read_text().splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 2:
            out[parts[0]] = parts[1:]
    return out


def sign_in(browser: Any, base: str, email: str, password: str, **context: Any) -> Any:
    page = browser.new_context(**context).new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


def shelf_photo(path: Path) -> Path:
    image = Image.new("RGB", (960, 640), (238, 232, 220))
    draw = ImageDraw.Draw(image)
    for row in range(4):
        draw.rectangle([40, 60 + row * 140, 920, 70 + row * 140], fill=(120, 90, 60))
        for col in range(14):
            colour = (30 + 15 * col, 90 + 10 * row, 160) if col % 3 else (200, 40, 40)
            draw.rectangle(
                [60 + col * 60, 100 + row * 140, 100 + col * 60, 58 + (row + 1) * 140], fill=colour
            )
    image.save(path, format="JPEG")
    return path


def visit_report(browser: Any, base: str, known: dict[str, list[str]], out: Path) -> None:
    """The rep fills in and files the verification visit's report on a phone."""
    rep_email = next(e for e in known if e.startswith("rep@"))
    rep = sign_in(
        browser,
        base,
        rep_email,
        known[rep_email][0],
        viewport={"width": 412, "height": 915},
        is_mobile=True,
    )
    links = rep.locator("ul.tasks a")
    if links.count():
        links.first.click()
        rep.wait_for_selector("form#report")
        for i in (0, 1, 3, 8, 9):
            rep.locator(f"input[name='shelf-{i}-present']").check()
            rep.locator(f"input[name='shelf-{i}-facings']").fill(str(2 + i % 3))
        rep.locator("input[name='shelf-8-price']").fill("4.90")
        rep.check("input[name=readiness][value='4']")
        rep.fill(
            "textarea[name=interview_notes]",
            "Owner wants a trial of three lines after the summer",
        )
        rep.fill("textarea[name=notes]", "Competitor holds most of the facings at eye level")
        rep.wait_for_selector("#saved:has-text('Draft saved at')")
        with tempfile.TemporaryDirectory() as tmp:
            rep.set_input_files("input[name=photo]", str(shelf_photo(Path(tmp) / "shelf.jpg")))
            rep.click("#photos button[type=submit]")
            rep.wait_for_selector("#photos img")
        rep.screenshot(path=str(out / "visit-report.png"), full_page=True)
        rep.click("#file-report")
        rep.wait_for_url("**/tasks?filed=1")


def order_channels(browser: Any, base: str, known: dict[str, list[str]], out: Path) -> None:
    """The shop's pre-filled order (its landing page) and the rep's day on a phone."""
    shop_email = next(e for e in known if e.startswith("shop@"))
    shop = sign_in(
        browser, base, shop_email, known[shop_email][0], viewport={"width": 1280, "height": 1000}
    )
    shop.wait_for_selector("#send-order")
    shop.screenshot(path=str(out / "shop-order.png"), full_page=True)
    rep_email = next(e for e in known if e.startswith("rep@"))
    rep = sign_in(
        browser,
        base,
        rep_email,
        known[rep_email][0],
        viewport={"width": 390, "height": 844},
        is_mobile=True,
    )
    rep.goto(f"{base}/day")
    rep.wait_for_selector("li.visit-card")
    rep.screenshot(path=str(out / "rep-day.png"), full_page=False)


def main(base: str, users_file: Path, out: Path) -> None:
    known = users(users_file)
    manager = next(e for e in known if e.startswith("manager."))
    rep_email = next(e for e in known if e.startswith("rep@"))
    rep_id = known[rep_email][2]
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
        page = sign_in(
            browser, base, manager, known[manager][0], viewport={"width": 1360, "height": 900}
        )
        page.wait_for_selector("#map[data-ready='1']")
        page.screenshot(path=str(out / "dashboard.png"), full_page=False)
        page.select_option("select[name=recommendation]", "add")
        expect(page.locator("#queue-rows tr").first).to_contain_text("Add")
        page.locator("#queue-rows a").first.click()
        page.wait_for_selector("#panel")
        url = page.url
        page.click("summary:has-text('Request verification')")
        form = page.locator("form.decision[data-action=request_verification]")
        form.locator("select[name=rep_id]").select_option(rep_id)
        form.locator("textarea[name=reason]").fill(
            "High potential: check the shelf and the owner's interest"
        )
        form.locator("button[type=submit]").click()
        page.wait_for_selector("#trail:has-text('request verification')")

        visit_report(browser, base, known, out)

        page.goto(url)
        accept = page.locator("form.decision[data-action=accept]")
        if not accept.is_visible():
            page.click("summary:has-text('Accept')")
        accept.locator("input[name=visits_per_month]").fill("2")
        accept.locator("button[type=submit]").click()
        page.wait_for_selector("#decision")
        page.screenshot(path=str(out / "recommendation.png"), full_page=True)
        order_channels(browser, base, known, out)
        browser.close()
    for name in ("dashboard", "recommendation", "visit-report", "shop-order", "rep-day"):
        path = out / f"{name}.png"
        if path.exists():
            print(path, f"{path.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
