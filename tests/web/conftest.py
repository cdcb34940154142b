"""Web fixtures: the small company (``tests/webworld.py``) behind the app, clients signed in
as each user, API keys per user."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from salescope.services import keys
from salescope.web.app import create_app
from tests.orderworld import EMAILS as ORDER_EMAILS
from tests.orderworld import OrderWorld, order_world, trained  # noqa: F401 (fixtures)
from tests.webworld import EMAILS, PASSWORD, World, world  # noqa: F401 (fixture)

ALL_SCOPES = [
    "recommendations:read",
    "recommendations:write",
    "visits:read",
    "visits:write",
    "orders:read",
    "orders:write",
]
SCOPES_OF_ROLE = {
    "admin": ALL_SCOPES,
    "director": ["recommendations:read", "visits:read"],
    "north": [
        "recommendations:read",
        "recommendations:write",
        "visits:read",
        "orders:read",
        "orders:write",
    ],
    "south": [
        "recommendations:read",
        "recommendations:write",
        "visits:read",
        "orders:read",
        "orders:write",
    ],
    "rep1": ["visits:read", "visits:write"],
    "merch2": ["visits:read", "visits:write"],
    "rep3": ["visits:read", "visits:write"],
    "shop1": ["orders:read"],
}


def csrf_of(html: str) -> str:
    """The CSRF token a page carries (hidden field or htmx header)."""
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html) or re.search(
        r'"X-CSRF-Token": "([0-9a-f]{64})"', html
    )
    assert found, "no CSRF token in the page"
    return found.group(1)


class Browser:
    """A TestClient with a signed-in user's cookies and its CSRF token."""

    def __init__(self, client: TestClient, csrf: str) -> None:
        self.client = client
        self.csrf = csrf

    def get(self, url: str, **kw: object) -> object:
        return self.client.get(url, **kw)  # type: ignore[arg-type]

    def post(self, url: str, data: dict[str, object] | None = None, **kw: object) -> object:
        return self.client.post(  # type: ignore[arg-type]
            url, data={**(data or {}), "csrf_token": self.csrf}, **kw
        )


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:  # noqa: F811
    """An anonymous client of a fresh app over the small company."""
    app = create_app(world.settings, world.db)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def sign_in(
    client: TestClient, who: str, password: str = PASSWORD, *, email: str | None = None
) -> Browser:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "email": email or EMAILS[who],
            "password": password,
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    home = client.get(response.headers["location"])
    return Browser(client, csrf_of(home.text))


@pytest.fixture
def browser(world: World) -> Iterator[Callable[[str], Browser]]:  # noqa: F811
    """``browser("north")``: a fresh client signed in as that user."""
    clients: list[TestClient] = []

    def make(who: str) -> Browser:
        test_client = TestClient(
            create_app(world.settings, world.db), raise_server_exceptions=False
        )
        clients.append(test_client)
        return sign_in(test_client, who)

    yield make
    for test_client in clients:
        test_client.close()


@pytest.fixture
def order_browser(order_world: OrderWorld) -> Iterator[Callable[[str], Browser]]:  # noqa: F811
    """``order_browser("shop")``: a fresh client of the small company with its model, signed
    in as that user (``tests/orderworld.py``)."""
    clients: list[TestClient] = []

    def make(who: str) -> Browser:
        test_client = TestClient(
            create_app(order_world.settings, order_world.db), raise_server_exceptions=False
        )
        clients.append(test_client)
        return sign_in(test_client, who, email=ORDER_EMAILS[who])

    yield make
    for test_client in clients:
        test_client.close()


@pytest.fixture
def api_keys(world: World) -> dict[str, str]:  # noqa: F811
    """A key per user, with the scopes its role can use."""
    out = {}
    with world.db.session() as session:
        for who, scopes in SCOPES_OF_ROLE.items():
            _, key = keys.do_create_key(session, EMAILS[who], scopes, actor="test")
            out[who] = key
    return out


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
