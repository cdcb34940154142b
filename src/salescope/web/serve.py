"""``salescope serve``: the app under uvicorn."""

from __future__ import annotations

import logging

from rich.console import Console

from salescope.config import Settings
from salescope.domain.errors import SalescopeError


def run(settings: Settings, *, host: str, port: int, console: Console) -> None:
    """Build the app over ``settings`` and serve it on ``host:port`` until interrupted."""
    import socket

    import uvicorn

    from salescope.web.app import create_app

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise SalescopeError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    app = create_app(settings, background=True)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    console.print(
        f"Salescope at http://{host}:{port}/ (API documented at /openapi.json); Ctrl-C stops it."
    )
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False)
