"""Browser tests: the app served on 127.0.0.1 in a thread, driven by Playwright (Debian chromium).

Screenshots go to tests/screenshots/ (git-ignored). The browser refuses every request that leaves
the server's origin, and records it, so a test can assert that none happened.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.conftest import demo_password

CHROMIUM = os.environ.get("CRISIS_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"
DESK = {"width": 1366, "height": 768}
TABLET = {"width": 820, "height": 1180}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = pytest.mark.browser


def closing(app: Flask) -> Any:
    """The app, its response always closed once served.

    Werkzeug's development server skips ``close()`` on the response when the browser resets the
    connection while the server drains the request (a page navigating away mid-download): the
    static file behind the response then leaks and its ResourceWarning fails whatever test runs
    next. A generator's ``finally`` runs on exhaustion, on ``close()`` and when it is dropped.
    """

    def serve(environ: Any, start_response: Any) -> Iterator[bytes]:
        response = app(environ, start_response)
        try:
            yield from response
        finally:
            close = getattr(response, "close", None)
            if close is not None:
                close()

    return serve


class LiveServer:
    def __init__(self, app: Flask):
        self.app = app
        self.server = make_server("127.0.0.1", 0, closing(app), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


class _OneRequestPerConnection(WSGIRequestHandler):
    # No keep-alive: once stopped, the server answers nothing, not even on an open connection.
    protocol_version = "HTTP/1.0"


class RestartableServer:
    """A live server that can be stopped and started again on the SAME port (a service worker
    is scoped to its origin, so the tablet must find the console where it left it)."""

    def __init__(self, app: Flask):
        self.app = app
        self.port = 0
        self.server: Any = None
        self.thread: threading.Thread | None = None

    def start(self) -> RestartableServer:
        self.server = make_server(
            "127.0.0.1",
            self.port,
            closing(self.app),
            threaded=True,
            request_handler=_OneRequestPerConnection,
        )
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop accepting and close the socket: the tablet gets 'connection refused'."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            if self.thread is not None:
                self.thread.join(timeout=5)
            self.server = None


@pytest.fixture
def restartable_territory_server(territory_app: Flask) -> Iterator[RestartableServer]:
    server = RestartableServer(territory_app).start()
    yield server
    server.stop()


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server


@pytest.fixture
def live_territory_server(territory_app: Flask) -> Iterator[LiveServer]:
    with LiveServer(territory_app) as server:
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


class Page:
    """A Playwright page bound to the live server, recording any off-origin request."""

    def __init__(self, browser: Any, base_url: str, viewport: dict[str, int]):
        self.base_url = base_url
        self.context = browser.new_context(viewport=viewport, base_url=base_url, locale="fr-FR")
        self.external: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(self.base_url) or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.external.append(url)
            route.abort()

    def login(self, login: str, password: str | None = None) -> None:
        self.page.goto("/login")
        self.page.fill("#login", login)
        self.page.fill("#password", password or demo_password(login))
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state("networkidle")

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def desk(browser: Any, live_server: LiveServer) -> Iterator[Page]:
    p = Page(browser, live_server.url, DESK)
    yield p
    p.close()


@pytest.fixture
def tablet(browser: Any, live_server: LiveServer) -> Iterator[Page]:
    p = Page(browser, live_server.url, TABLET)
    yield p
    p.close()
