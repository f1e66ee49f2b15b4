"""Crisis console: pre-authorised break-glass access to crisis data for Caux Seine Agglomération."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from . import config as config_module
from .clock import SystemClock

__version__ = "0.1.0"


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


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """The application factory: defaults, then CRISIS_* environment, then the test dict."""
    app = Flask(__name__, instance_relative_config=True)
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
    db_path = app.config["CRISIS_DB"]
    if db_path != ":memory:" and not Path(db_path).is_absolute():
        db_path = str(Path.cwd() / db_path)
        app.config["CRISIS_DB"] = db_path
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = app.config["CRISIS_SECRET_KEY"] or _secret_key(
            Path(db_path).parent if db_path != ":memory:" else instance
        )
    # reportlab ASCII85-encodes page streams in pure Python: a third of a dense map's time, for
    # nothing (PDFs are binary-safe everywhere we send them).
    import reportlab.rl_config

    reportlab.rl_config.useA85 = 0
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    from .web import init_web

    init_web(app)
    return app
