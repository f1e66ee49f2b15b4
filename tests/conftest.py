"""Shared fixtures: a template database built once per session, copied for each test.

- ``app``: the demo organisations and accounts, a FixedClock, cheap argon2 parameters.
- ``territory_app``: the same plus the demo territory (built once, copied per test).
- ``client``: a test client whose unsafe requests carry the CSRF token of the page (``csrf=False``
  to send none); ``client.login("cell")`` signs in a demo account.
- ``runner``: invokes the ``crisis-console`` CLI against the test's database.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from app import auth, create_app, schema
from app.clock import FixedClock
from app.db import connect

PROJECT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)

# Tests hash many passwords: cheap parameters keep the suite fast (production keeps argon2id
# defaults). Same algorithm, so the code paths are the same.
auth.set_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def demo_password(login: str) -> str:
    from app.demo import DEMO_ACCOUNTS

    return next(a.password for a in DEMO_ACCOUNTS if a.login == login)


class Client(FlaskClient):
    """A test client that behaves like a browser with the console's CSRF header."""

    csrf_token: str | None = None

    def refresh_csrf(self) -> str:
        # Signed in, /login redirects to the home page: both carry the token.
        page = super().open("/login", method="GET", follow_redirects=True)
        match = re.search(r'"X-CSRFToken": "([^"]+)"', page.get_data(as_text=True))
        assert match, "no CSRF token on the page"
        self.csrf_token = match.group(1)
        return self.csrf_token

    def open(self, *args: Any, **kwargs: Any) -> Any:
        send_csrf = kwargs.pop("csrf", True)
        method = (kwargs.get("method") or "GET").upper()
        if send_csrf and method not in ("GET", "HEAD", "OPTIONS"):
            headers = dict(kwargs.pop("headers", None) or {})
            if "Authorization" not in headers:
                headers.setdefault("X-CSRFToken", self.csrf_token or self.refresh_csrf())
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)

    def login(self, login: str, password: str | None = None) -> Any:
        self.csrf_token = None
        self.refresh_csrf()
        response = self.post(
            "/login", data={"login": login, "password": password or demo_password(login)}
        )
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        self.csrf_token = None
        self.refresh_csrf()
        return response


def _build_template(path: Path, territory: bool) -> Path:
    db = connect(path)
    schema.migrate(db)
    from app import demo

    demo.load_accounts(db, T0, PROJECT / "data")
    if territory:
        demo.load_territory(db, T0, PROJECT / "data")
        demo.load_agreements(db, T0)
        demo.load_pcs(db, T0, PROJECT / "data")
    db.conn.close()
    return path


@pytest.fixture(scope="session")
def base_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_template(tmp_path_factory.mktemp("tpl") / "base.db", territory=False)


@pytest.fixture(scope="session")
def territory_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_template(tmp_path_factory.mktemp("tpl") / "territory.db", territory=True)


def make_app(tmp_path: Path, template: Path, **config: Any) -> Flask:
    db_path = tmp_path / f"crisis-{template.stem}.db"  # app and territory_app never share a file
    shutil.copy(template, db_path)
    settings = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "CRISIS_DB": str(db_path),
        "CLOCK": FixedClock(T0),
        "CRISIS_CHECKPOINT_KEY": str(tmp_path / "checkpoint.key"),
        "CRISIS_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        "CRISIS_BACKUP_DIR": str(tmp_path / "backups"),
    }
    settings.update(config)
    app = create_app(settings)
    app.test_client_class = Client
    return app


@pytest.fixture
def app(tmp_path: Path, base_template: Path) -> Flask:
    return make_app(tmp_path, base_template)


@pytest.fixture
def territory_app(tmp_path: Path, territory_template: Path) -> Flask:
    return make_app(tmp_path, territory_template)


@pytest.fixture
def client(app: Flask) -> Client:
    return app.test_client()  # type: ignore[return-value]


@pytest.fixture
def clock(app: Flask) -> FixedClock:
    return app.config["CLOCK"]


@pytest.fixture
def db(app: Flask) -> Iterator[Any]:
    database = connect(app.config["CRISIS_DB"])
    yield database
    database.conn.close()


class Runner:
    """Invoke the CLI with CRISIS_DB pointing at a test database."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.cli = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Any:
        from app.cli import main

        return self.cli.invoke(main, list(args), input=input, env=self.env, catch_exceptions=False)


@pytest.fixture
def runner(app: Flask, tmp_path: Path) -> Runner:
    return Runner(
        {
            "CRISIS_DB": app.config["CRISIS_DB"],
            "CRISIS_SECRET_KEY": "test-secret",
            "CRISIS_CHECKPOINT_KEY": str(tmp_path / "checkpoint.key"),
            "CRISIS_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        }
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests (département scale) run only with CRISIS_SLOW=1 (`make test-slow`)."""
    import os

    if os.environ.get("CRISIS_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="département-scale test: run with `make test-slow`")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
