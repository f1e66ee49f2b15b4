"""The application factory: defaults, then the CRISIS_* environment, then the test dict.

The factory binds what the process owns once: the playbook library (``app.playbooks``,
cached per process, so a test's app does not parse the playbooks again) and the blueprints.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug import routing

from .. import config as config_module
from .. import playbooks
from ..clock import SystemClock
from . import (
    access,
    accounts,
    addresses,
    admin,
    api,
    api_docs,
    api_events,
    api_messages,
    assets,
    audit_views,
    auth_views,
    basemaps,
    cap,
    catalogue,
    cell,
    drills,
    errors,
    events,
    filters,
    history,
    home,
    impact,
    inbox,
    messages,
    nav,
    offline,
    owner,
    pcs,
    reports,
    security,
)


class IntegerConverter(routing.IntegerConverter):
    """``<int:…>`` up to SQLite's largest integer: a longer id is a 404, not a crash. (Same
    name as Werkzeug's: tools that walk the routes recognise an integer by it.)"""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def _secret_key(instance_path: Path) -> str:
    """A demo secret kept in the instance folder, created on first use (mode 0600)."""
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.touch(mode=0o600)
    path.write_text(key)
    return key


def _library(app: Flask) -> playbooks.Library:
    """The process's playbook library, checked against the catalogue (else the database)."""
    settings = {key: app.config.get(f"CRISIS_{key}") for key in ("PLAYBOOKS", "DATA", "DB")}
    return playbooks.for_settings(settings)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """The Flask application (templates and static files of the ``app`` package)."""
    app = Flask("app", instance_relative_config=True)
    app.url_map.converters["int"] = IntegerConverter
    settings = config_module.from_environment()
    app.config.update({f"CRISIS_{k}": v for k, v in settings.items()})
    app.config.update(
        MAX_CONTENT_LENGTH=int(settings["MAX_UPLOAD_MB"]) * 1024 * 1024 + 64 * 1024,
        SESSION_COOKIE_NAME="cc_csrf",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_HEADERS=["X-CSRFToken"],
        # The CSRF token must outlive the session, or a form left open on a tablet fails.
        WTF_CSRF_TIME_LIMIT=int(settings["ABSOLUTE_TIMEOUT_H"]) * 3600,
        CLOCK=SystemClock(),
        TESTING=False,
    )
    if test_config:
        app.config.update(test_config)
    instance = Path(app.instance_path)
    db_path = config_module.database_path(app.config["CRISIS_DB"])
    app.config["CRISIS_DB"] = db_path
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = app.config["CRISIS_SECRET_KEY"] or _secret_key(
            Path(db_path).parent if db_path != ":memory:" else instance
        )
    config_module.tune_reportlab()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app.extensions["library"] = _library(app)
    from ..remote.spec import use_credentials_file

    # The owners' credentials: one file outside the database, named once for the process.
    creds = app.config["CRISIS_REMOTE_CREDENTIALS"]
    use_credentials_file(config_module.database_path(creds) if creds else None)
    _register(app)
    return app


def _register(app: Flask) -> None:
    """Bind extensions, register every blueprint and the request hooks."""
    security.init_app(app)
    errors.init_app(app)
    nav.init_app(app)
    inbox.init_app(app)
    filters.init_app(app)
    for module in (
        assets,
        auth_views,
        home,
        inbox,
        accounts,
        admin,
        api,
        catalogue,
        events,
        cell,
        api_events,
        access,
        owner,
        audit_views,
        impact,
        drills,
        reports,
        basemaps,
        offline,
        pcs,
        addresses,
        history,
        messages,
        api_messages,
        cap,
        api_docs,
    ):
        app.register_blueprint(module.bp)
