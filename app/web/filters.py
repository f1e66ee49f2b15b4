"""Jinja filters shared by every template."""

from __future__ import annotations

from datetime import datetime

from flask import Flask, current_app

from .. import auth, fr
from ..clock import local, parse_iso


def _remaining(until: datetime | str | None) -> str:
    """Time left until an ISO instant, as the countdown script shows it ("1 h 05 min 00 s").

    The server renders it so that the text is right before the script's first tick and without
    the script (a clock time after "reste" reads as a duration)."""
    if not until:
        return "—"
    if isinstance(until, str):
        until = parse_iso(until)
    left = int((until - current_app.config["CLOCK"].now()).total_seconds())
    left = max(0, left)
    h, m, s = left // 3600, left % 3600 // 60, left % 60
    return (f"{h} h " if h else "") + f"{m:02d} min {s:02d} s"


def init_app(app: Flask) -> None:
    app.jinja_env.filters["local"] = local
    app.jinja_env.filters["number"] = fr.number
    app.jinja_env.filters["plural"] = fr.plural
    app.jinja_env.filters["count"] = fr.count
    app.jinja_env.filters["remaining"] = _remaining
    app.jinja_env.globals["ROLE_LABELS"] = auth.ROLES
