"""Jinja filters shared by every template."""

from __future__ import annotations

from typing import Any

from flask import Flask

from .. import auth
from ..clock import local


def _number(value: Any, digits: int = 0) -> str:
    """French number formatting: narrow no-break space thousands, comma decimals."""
    if value is None or value == "":
        return "—"
    text = f"{float(value):,.{digits}f}"
    return text.replace(",", "\u202f").replace(".", ",")


def init_app(app: Flask) -> None:
    app.jinja_env.filters["local"] = local
    app.jinja_env.filters["number"] = _number
    app.jinja_env.globals["ROLE_LABELS"] = auth.ROLES
