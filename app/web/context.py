"""Per-request context: one database connection on g, the clock, the signed-in user."""

from __future__ import annotations

from datetime import datetime

import sqlite_utils
from flask import current_app, g

from .. import auth
from ..db import connect


def get_db() -> sqlite_utils.Database:
    """The request's database connection, opened on first use and closed at teardown."""
    if "db" not in g:
        g.db = connect(current_app.config["CRISIS_DB"])
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.conn.close()


def now() -> datetime:
    """The application clock's current time (tests move it)."""
    return current_app.config["CLOCK"].now()


def current_user() -> auth.User | None:
    """The signed-in user, or None."""
    return g.get("user")


def require_user() -> auth.User:
    """The signed-in user; the access rules guarantee there is one on non-public routes."""
    user = g.get("user")
    if user is None:
        raise RuntimeError("route without a signed-in user")
    return user
