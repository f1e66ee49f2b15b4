"""Jinja filters shared by every template."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask, current_app
from markupsafe import Markup

from .. import auth, fr
from ..clock import local, parse_iso
from ..pcs import phones
from .context import live_state


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


def _cell(value: Any, is_phone: bool = False) -> Markup | str:
    """A property value in a table: a telephone number grouped and dialable (``tel:``), yes/no
    for booleans, a dash for nothing, lists joined; the rest as it is (escaped)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "oui" if value else "non"
    if is_phone and isinstance(value, str):
        try:
            e164 = phones.normalise(value)
        except phones.PhoneError:
            return value  # not a number libphonenumber knows: shown as it is
        return Markup('<a class="tel" href="{}">{}</a>').format(
            phones.tel_uri(e164), phones.display(e164)
        )
    if isinstance(value, float):
        return fr.decimal(value)
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)  # escaped by the template


def init_app(app: Flask) -> None:
    app.jinja_env.filters["local"] = local
    app.jinja_env.filters["number"] = fr.number
    app.jinja_env.filters["plural"] = fr.plural
    app.jinja_env.filters["count"] = fr.count
    app.jinja_env.filters["remaining"] = _remaining
    app.jinja_env.filters["cell"] = _cell
    app.jinja_env.filters["compass"] = fr.compass
    app.jinja_env.globals["ROLE_LABELS"] = auth.ROLES
    # _live.html reads an event's state when its view did not (app.web.context.live_state).
    app.jinja_env.globals["live_state_of"] = live_state
