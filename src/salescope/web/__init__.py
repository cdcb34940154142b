"""The web app and HTTP API: ``create_app(settings)`` (FastAPI, Jinja2 + htmx pages)."""

from salescope.web.app import create_app

__all__ = ["create_app"]
