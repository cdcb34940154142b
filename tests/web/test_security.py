"""Security of the pages: CSRF, session fixation and revocation, cookies, XSS through every
field shown back, uploads (polyglot, oversized, wrong type, metadata), headers, no
traceback."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from PIL import Image

from salescope.storage.models import CoverageRecommendation, Photo, Visit
from tests.web.conftest import Browser, csrf_of, sign_in
from tests.webworld import EMAILS, PASSWORD, World

SOON = (dt.date.today() + dt.timedelta(days=7)).isoformat()
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _status(world: World, customer: str) -> tuple[str, int]:
    with world.db.session() as s:
        rec = s.get(CoverageRecommendation, world.rec_ids[customer])
        assert rec is not None
        return rec.status, rec.version


@pytest.mark.parametrize("token", [None, "", "0" * 64, "not-a-token"])
def test_a_decision_without_the_right_csrf_token_is_refused(
    token: str | None, browser: Callable[[str], Browser], world: World
) -> None:
    """A state-changing form post with a missing or wrong token is 403 and changes nothing."""
    north = browser("north")
    data = {"action": "reject", "reason": "csrf", "version": "1"}
    if token is not None:
        data["csrf_token"] = token
    response = north.client.post(f"/recommendations/{world.rec_ids['C2']}/decision", data=data)
    assert response.status_code == 403
    assert "security token" in response.text
    assert _status(world, "C2") == ("proposed", 1)


def test_the_csrf_header_of_htmx_is_accepted(
    browser: Callable[[str], Browser], world: World
) -> None:
    """The token in X-CSRF-Token (what htmx sends) is as good as the form field."""
    north = browser("north")
    response = north.client.post(
        f"/recommendations/{world.rec_ids['C2']}/decision",
        data={"action": "reject", "reason": "via htmx", "version": "1"},
        headers={"X-CSRF-Token": north.csrf, "HX-Request": "true"},
    )
    assert response.status_code == 200
    assert _status(world, "C2") == ("rejected", 2)


def test_another_sessions_token_does_not_work(
    browser: Callable[[str], Browser], world: World
) -> None:
    """A CSRF token is bound to its session: south's token fails in north's session."""
    north, south = browser("north"), browser("south")
    response = north.client.post(
        f"/recommendations/{world.rec_ids['C2']}/decision",
        data={"action": "reject", "reason": "x", "version": "1", "csrf_token": south.csrf},
    )
    assert response.status_code == 403


def test_sign_in_without_csrf_is_refused(client: TestClient) -> None:
    """Even the sign-in form needs its token (login CSRF)."""
    response = client.post("/login", data={"email": EMAILS["north"], "password": PASSWORD})
    assert response.status_code == 403
    assert "salescope_session" not in response.headers.get("set-cookie", "")


def test_signing_in_makes_a_new_session_whatever_cookie_came_in(client: TestClient) -> None:
    """Session fixation: a session id planted before sign-in is not the one signed in, and
    does not authenticate afterwards."""
    client.cookies.set("salescope_session", "attacker-chosen-value")
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"email": EMAILS["north"], "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    issued = re.search(r"salescope_session=([^;]+)", response.headers["set-cookie"])
    assert issued is not None and issued.group(1) != "attacker-chosen-value"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    other = TestClient(client.app, raise_server_exceptions=False)
    other.cookies.set("salescope_session", "attacker-chosen-value")
    assert other.get("/dashboard", follow_redirects=False).status_code == 303


def test_signing_out_revokes_the_session(browser: Callable[[str], Browser]) -> None:
    """After sign-out the same cookie opens nothing."""
    north = browser("north")
    token = north.client.cookies.get("salescope_session")
    north.post("/logout")
    replay = TestClient(north.client.app, raise_server_exceptions=False)
    replay.cookies.set("salescope_session", token or "")
    assert replay.get("/dashboard", follow_redirects=False).status_code == 303


def test_wrong_and_unknown_sign_ins_look_the_same(client: TestClient) -> None:
    """A wrong password and an unknown e-mail give the same status and message."""
    answers = []
    for email in (EMAILS["north"], "nobody@example.com"):
        page = client.get("/login")
        response = client.post(
            "/login",
            data={"email": email, "password": "wrong password", "csrf_token": csrf_of(page.text)},
        )
        answers.append((response.status_code, re.findall(r'role="alert">([^<]*)<', response.text)))
    assert answers[0] == answers[1] and answers[0][0] == 401


def test_next_never_leads_to_another_site(client: TestClient) -> None:
    """A next= pointing elsewhere is ignored after sign-in."""
    page = client.get("/login?next=//evil.example/x")
    response = client.post(
        "/login",
        data={
            "email": EMAILS["north"],
            "password": PASSWORD,
            "next": "//evil.example/x",
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/dashboard"


def test_every_field_shown_back_is_escaped(
    browser: Callable[[str], Browser], world: World, tmp_path: object
) -> None:
    """Names, reasons, notes, interview notes and photo file names with HTML come back as
    text on the queue, the recommendation, the visit and the audit pages."""
    north, rep = browser("north"), browser("rep1")
    north.post(
        f"/recommendations/{world.rec_ids['C2']}/decision",
        {
            "action": "request_verification",
            "version": "1",
            "rep_id": "R1",
            "due_date": SOON,
            "reason": XSS,
        },
    )
    with world.db.session() as s:
        visit_id = s.scalar(sa.select(Visit.id))
    rep.client.post(
        f"/visits/{visit_id}/photos",
        data={"csrf_token": rep.csrf},
        files={"photo": (XSS + ".png", _image("PNG"), "image/png")},
    )
    rep.post(
        f"/visits/{visit_id}/report",
        {"readiness": "3", "interview_notes": XSS, "notes": XSS, "shelf-0-product_id": XSS},
    )
    pages = [
        north.get("/dashboard"),
        north.get(f"/recommendations/{world.rec_ids['C2']}"),
        north.get(f"/recommendations/{world.rec_ids['C1']}"),
        north.get(f"/visits/{visit_id}"),
        north.get("/audit"),
        rep.get("/tasks"),
    ]
    for page in pages:
        assert page.status_code == 200  # type: ignore[attr-defined]
        assert _injected(page.text) == []  # type: ignore[attr-defined]
    assert "&lt;script&gt;" in pages[1].text  # type: ignore[attr-defined]


class _Tags(HTMLParser):
    """Elements a page really contains (not text that looks like them)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "b" or any(name.startswith("on") for name, _ in attrs):
            self.found.append(f"<{tag} {attrs}>")
        self._in_script = tag == "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and "alert" in data:
            self.found.append(f"script: {data}")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


def _injected(html: str) -> list[str]:
    parser = _Tags()
    parser.feed(html)
    return parser.found


def _image(fmt: str, size: tuple[int, int] = (64, 48), **save: object) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (120, 30, 200)).save(buffer, format=fmt, **save)
    return buffer.getvalue()


@pytest.fixture
def visit(browser: Callable[[str], Browser], world: World) -> tuple[Browser, int]:
    """A verification visit of rep1 and rep1's browser."""
    browser("north").post(
        f"/recommendations/{world.rec_ids['C2']}/decision",
        {"action": "request_verification", "version": "1", "rep_id": "R1", "due_date": SOON},
    )
    with world.db.session() as s:
        visit_id = s.scalar(sa.select(Visit.id))
    assert visit_id is not None
    return browser("rep1"), visit_id


def _upload(rep: Browser, visit_id: int, name: str, data: bytes, kind: str = "image/png") -> object:
    return rep.client.post(
        f"/visits/{visit_id}/photos",
        data={"csrf_token": rep.csrf},
        files={"photo": (name, data, kind)},
        headers={"HX-Request": "true"},
    )


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("page.png", b"<html><script>alert(1)</script></html>", "not a JPEG, PNG or WebP"),
        ("a.gif", b"GIF89a" + b"\x00" * 100, "not a JPEG, PNG or WebP"),
        ("broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "cannot be read"),
        ("empty.png", b"", "empty"),
    ],
)
def test_uploads_that_are_not_images_are_refused(
    visit: tuple[Browser, int], world: World, name: str, data: bytes, message: str
) -> None:
    """HTML named .png, a GIF, a truncated PNG and an empty file are refused by content."""
    rep, visit_id = visit
    response = _upload(rep, visit_id, name, data)
    assert response.status_code == 422 and message in response.text  # type: ignore[attr-defined]
    with world.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Photo)) == 0


def test_an_oversized_upload_is_refused(visit: tuple[Browser, int], world: World) -> None:
    """A file past the size limit is refused and nothing is stored."""
    rep, visit_id = visit
    big = _image("PNG") + b"\x00" * (world.settings.upload_max_bytes + 10)
    response = _upload(rep, visit_id, "big.png", big)
    assert response.status_code == 422 and "larger than" in response.text  # type: ignore[attr-defined]
    assert (
        not list(world.settings.photos_dir.glob("*"))
        if world.settings.photos_dir.exists()
        else True
    )


def test_a_polyglot_is_stored_as_a_clean_image(visit: tuple[Browser, int], world: World) -> None:
    """A JPEG with a script appended and EXIF data is re-encoded: the stored file has neither,
    gets a random name and is served with its image type and nosniff."""
    rep, visit_id = visit
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    payload = (
        _image("JPEG", exif=exif.tobytes()) + b"<script>alert(1)</script><?php system($_GET[c]); ?>"
    )
    response = _upload(rep, visit_id, "../../etc/passwd.jpg", payload, "image/jpeg")
    assert response.status_code == 200  # type: ignore[attr-defined]
    with world.db.session() as s:
        photo = s.scalar(sa.select(Photo))
    assert photo is not None and photo.original_name == "passwd.jpg"
    stored = (world.settings.photos_dir / photo.file_name).read_bytes()
    assert b"<script>" not in stored and b"SpyCam" not in stored and b"<?php" not in stored
    assert re.fullmatch(r"[0-9a-f]{32}\.jpg", photo.file_name)
    served = rep.client.get(f"/photos/{photo.id}")
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["x-content-type-options"] == "nosniff"


def test_too_many_pixels_are_refused_before_decoding(
    visit: tuple[Browser, int], world: World
) -> None:
    """An image with more pixels than allowed is refused (decompression bombs)."""
    rep, visit_id = visit
    world.settings.upload_max_pixels = 1000
    response = _upload(rep, visit_id, "wide.png", _image("PNG", (100, 100)))
    assert response.status_code == 422 and "megapixels" in response.text  # type: ignore[attr-defined]


def test_pages_carry_the_security_headers(client: TestClient) -> None:
    """CSP without inline scripts, nosniff, no framing."""
    headers = client.get("/login").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"


def test_an_unexpected_error_shows_no_traceback(
    browser: Callable[[str], Browser], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug answers 500 with a reference, on pages and on the API, never a traceback."""
    from salescope.services import dashboard

    def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internals")

    north = browser("north")
    monkeypatch.setattr(dashboard, "region_kpis", boom)
    page = north.get("/dashboard")
    assert page.status_code == 500  # type: ignore[attr-defined]
    assert "reference" in page.text and "secret internals" not in page.text  # type: ignore[attr-defined]
    assert "Traceback" not in page.text  # type: ignore[attr-defined]


def test_unknown_pages_are_a_plain_404(client: TestClient) -> None:
    """An unknown URL is a 404 page; an unknown API URL a JSON 404."""
    assert client.get("/nowhere").status_code == 404
    api = client.get("/api/v1/nowhere", headers={"Authorization": "Bearer x"})
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


def test_a_signed_out_visitor_is_sent_to_sign_in(client: TestClient) -> None:
    """Pages redirect to the sign-in page with the way back."""
    response = client.get("/dashboard", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/dashboard"


def test_sign_in_is_rate_limited(client: TestClient, world: World) -> None:
    """Past the allowed failures, the right password is refused with 429 for a while."""
    for _ in range(world.settings.login_max_failures):
        page = client.get("/login")
        client.post(
            "/login",
            data={
                "email": EMAILS["south"],
                "password": "bad one!",
                "csrf_token": csrf_of(page.text),
            },
        )
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"email": EMAILS["south"], "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 429
    assert sign_in  # the helper signs in others fine (used across the suite)


def test_a_body_past_the_limit_is_refused_unread(client: TestClient, world: World) -> None:
    """A request announcing more than the upload limit is answered 413 before it is read."""
    limit = world.settings.upload_max_bytes + 1_000_000
    response = client.post(
        "/api/v1/visits/1/photos",
        content=b"x",
        headers={"Content-Length": str(limit + 1), "Authorization": "Bearer x"},
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
